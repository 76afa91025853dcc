/**
 * Resolving a manifest's paths (absolute paths on the agent's machine) by base name inside the
 * configured folders only (docs/architecture.md format 7). The manifest's path itself is never opened: only its
 * base name is looked up, and a candidate whose real path (after symbolic links) leaves every folder
 * is refused, so a link cannot smuggle in a file from elsewhere.
 */
import { realpath } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import type { ManifestRecord } from './call-record.ts';
import type { InputProblem } from './problems.ts';
import { baseName } from './timestamps.ts';
import { walkFiles, type WalkLimits } from './walk.ts';

/** Code of a path that resolves outside the configured folders. */
export const E_INPUT_OUTSIDE = 'E_INPUT_OUTSIDE';
/** Code of a manifest whose conversation cannot be found. */
export const E_INPUT_MANIFEST = 'E_INPUT_MANIFEST';

/** Minimum age of the name index before a miss rebuilds it. */
const REBUILD_AFTER_MS = 1_000;

/** What looking a path up found. */
export type LocateResult =
  | { status: 'found'; path: string }
  | { status: 'outside'; candidate: string; realPath: string }
  | { status: 'missing' };

/** True when `path` is one of `folders` or below one (all absolute and already real). */
export function isInsideFolders(path: string, folders: readonly string[]): boolean {
  for (const folder of folders) {
    const prefix = folder.endsWith(sep) ? folder : folder + sep;
    if (path === folder || path.startsWith(prefix)) return true;
  }
  return false;
}

/** Real paths of the folders that exist; a missing folder holds nothing. */
async function realFolders(folders: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const folder of folders) {
    try {
      out.push(await realpath(resolve(folder)));
    } catch {
      // A configured folder that does not exist (yet) simply holds no files.
    }
  }
  return out;
}

/**
 * Finds files by base name inside a set of folders. The index of names is built on first use and
 * rebuilt when a name is not in it (the file may have appeared since, as under `watch`), at most once
 * a second so that a batch of manifests naming missing files does not walk the folders each time.
 */
export class FolderResolver {
  readonly folders: readonly string[];
  readonly limits: WalkLimits;
  private index: Map<string, string[]> | null = null;
  private real: string[] | null = null;
  private builtAt = 0;

  constructor(folders: readonly string[], limits: WalkLimits = {}) {
    this.folders = folders.map((f) => resolve(f));
    this.limits = limits;
  }

  private async build(): Promise<Map<string, string[]>> {
    const index = new Map<string, string[]>();
    for (const folder of this.folders) {
      try {
        for await (const entry of walkFiles(folder, this.limits)) {
          const list = index.get(entry.name);
          if (list) list.push(entry.path);
          else index.set(entry.name, [entry.path]);
        }
      } catch {
        // A configured folder that does not exist (yet) simply holds no files.
      }
    }
    this.real = await realFolders(this.folders);
    this.index = index;
    this.builtAt = Date.now();
    return index;
  }

  /** Look up a raw path by its base name; says whether it was found, refused or missing. */
  async locate(rawPath: string | null | undefined): Promise<LocateResult> {
    if (rawPath === null || rawPath === undefined) return { status: 'missing' };
    const name = baseName(rawPath.trim());
    if (name === '' || name === '.' || name === '..') return { status: 'missing' };
    let index = this.index;
    if (index === null) index = await this.build();
    else if (!index.has(name) && Date.now() - this.builtAt > REBUILD_AFTER_MS) index = await this.build();
    const candidates = index.get(name) ?? [];
    let refused: LocateResult | null = null;
    for (const candidate of candidates) {
      let real: string;
      try {
        real = await realpath(candidate);
      } catch {
        continue; // dangling link or removed since the walk
      }
      if (isInsideFolders(real, this.real ?? [])) return { status: 'found', path: real };
      refused ??= { status: 'outside', candidate, realPath: real };
    }
    return refused ?? { status: 'missing' };
  }

  /** The real path of the file a raw path names, inside the folders, or null. */
  async resolve(rawPath: string | null | undefined): Promise<string | null> {
    const found = await this.locate(rawPath);
    return found.status === 'found' ? found.path : null;
  }
}

/**
 * Resolve `rawPath` by base name inside `folders` (searched recursively, bounded): the real path of
 * the first match whose real path is inside a folder, or null. A match that is a symbolic link
 * pointing outside every folder is refused (null). Nothing outside the folders is read.
 */
export async function resolveInside(rawPath: string, folders: readonly string[]): Promise<string | null> {
  return new FolderResolver(folders).resolve(rawPath);
}

/** A manifest with its files resolved, and what was wrong on the way. */
export interface ResolvedManifest {
  manifest: ManifestRecord;
  /** Problems that make the manifest unusable: its conversation missing, or any file outside the folders. */
  problems: InputProblem[];
  /** Facts worth telling that do not invalidate it (a recording or lead not found yet). */
  notes: string[];
}

const FILE_KEYS = ['conversation', 'recording', 'lead'] as const;

/**
 * Resolve a manifest's `rawFiles` into `files`. A conversation that is not found is a problem (nothing
 * is sent for such a manifest); a recording or lead not found is only a note, since egress may still be
 * writing the one and the other may not exist; any file that resolves outside the folders is a problem.
 */
export async function resolveManifestFiles(manifest: ManifestRecord, resolver: FolderResolver): Promise<ResolvedManifest> {
  const raw = manifest.rawFiles ?? manifest.files;
  const files = { recording: null, conversation: null, lead: null } as ManifestRecord['files'];
  const problems: InputProblem[] = [];
  const notes: string[] = [];
  const where = resolver.folders.length === 0 ? 'no folders are configured' : `searched ${resolver.folders.join(', ')}`;
  for (const key of FILE_KEYS) {
    const rawPath = raw[key];
    const field = `files.${key}`;
    if (rawPath === null) {
      if (key === 'conversation') problems.push({ code: E_INPUT_MANIFEST, field, message: `${field} is missing: the manifest names no conversation` });
      continue;
    }
    const found = await resolver.locate(rawPath);
    if (found.status === 'found') {
      files[key] = found.path;
    } else if (found.status === 'outside') {
      problems.push({
        code: E_INPUT_OUTSIDE,
        field,
        message: `${field} ${baseName(rawPath)} resolves to ${found.realPath}, outside the configured folders; refused`,
      });
    } else if (key === 'conversation') {
      problems.push({ code: E_INPUT_MANIFEST, field, message: `${field} ${baseName(rawPath)} is not inside the configured folders (${where})` });
    } else {
      notes.push(`${field} ${baseName(rawPath)} not found (${where})`);
    }
  }
  return { manifest: { ...manifest, files, rawFiles: raw }, problems, notes };
}
