/**
 * Collect the calls of a set of folders: walk them lazily, read each file once (format detected by
 * content), resolve manifests inside the folders, then match leads, recordings and manifests for all
 * calls of the run together (DESIGN.md, "Matching").
 *
 * Memory stays flat as the folder grows: a call is kept only as what matching needs (times, ids, tool
 * calls, item ids — not the message texts); `hydrateBundle` reads the texts back when the payload is
 * built, one call at a time.
 */
import { realpath } from 'node:fs/promises';
import { InputError, describeError } from '../errors.ts';
import type { CallBundle, CallRecord, LeadRecord, ManifestRecord, RecordingFacts } from '../ingest/call-record.ts';
import { readInputFile } from '../ingest/read-file.ts';
import { E_INPUT_OUTSIDE, FolderResolver, isInsideFolders, resolveManifestFiles } from '../ingest/resolve-path.ts';
import { walkFiles } from '../ingest/walk.ts';
import { matchRun } from '../match/match-run.ts';
import type { BulkError } from './summary.ts';

/** The folders of a run and how to read them. */
export interface CollectOptions {
  conversationsDir: string;
  leadsDir?: string | null;
  recordingsDir?: string | null;
  manifestsDir?: string | null;
  sourceTimezone: string;
  defaultRegion?: string;
  /** Called for every file read (for progress while scanning). */
  onFile?: (file: string) => void;
}

/** What a scan found. */
export interface CollectResult {
  /** Matched calls; their items carry no text yet (see `hydrateBundle`). */
  bundles: CallBundle[];
  errors: BulkError[];
  /** Files that are not calls and were passed over on purpose (event logs, `.partial` files). */
  skipped: { file: string; reason: string }[];
  warnings: { code: string; message: string; files: string[] }[];
  unmatchedLeads: string[];
}

/** The configured folders of a run, without duplicates or nulls. */
export function runFolders(options: CollectOptions): string[] {
  return [options.conversationsDir, options.leadsDir, options.recordingsDir, options.manifestsDir].filter(
    (d): d is string => typeof d === 'string' && d !== '',
  );
}

/** Keep what matching needs of a call and drop the message texts. */
function slim(call: CallRecord): CallRecord {
  return {
    ...call,
    items: call.items.map((i) => ({ role: i.role, content: '', timestamp: null, source: '', ...(i.id ? { id: i.id } : {}) })),
  };
}

/** Real paths of the folders that exist, without duplicates or folders nested in another one. */
export async function realRoots(folders: readonly string[]): Promise<string[]> {
  const real: string[] = [];
  for (const f of folders) {
    try {
      real.push(await realpath(f));
    } catch {
      // A configured folder that does not exist holds no files.
    }
  }
  const unique = [...new Set(real)].sort();
  return unique.filter((r) => !unique.some((o) => o !== r && isInsideFolders(r, [o])));
}

/**
 * Every input file of the folders, lazily, by its real path. A link that points outside the folders
 * is reported, never read.
 */
export async function* inputFiles(roots: readonly string[]): AsyncGenerator<{ file: string } | { error: BulkError }> {
  for (const root of roots) {
    for await (const entry of walkFiles(root)) {
      if (!entry.symlink) {
        yield { file: entry.path };
        continue;
      }
      let real: string;
      try {
        real = await realpath(entry.path);
      } catch {
        continue; // a dangling link
      }
      if (isInsideFolders(real, roots)) yield { file: real };
      else yield { error: { file: entry.path, reason: `${E_INPUT_OUTSIDE}: links to ${real}, outside the configured folders; not read` } };
    }
  }
}

/** Scan the folders and match every call found. Bad files are listed in `errors`; they never stop the scan. */
export async function collectCalls(options: CollectOptions): Promise<CollectResult> {
  const roots = await realRoots(runFolders(options));
  const resolver = new FolderResolver(roots);
  const calls: CallRecord[] = [];
  const leads: LeadRecord[] = [];
  const recordings: RecordingFacts[] = [];
  const manifests: ManifestRecord[] = [];
  const errors: BulkError[] = [];
  const skipped: { file: string; reason: string }[] = [];
  const ctx = { sourceTimezone: options.sourceTimezone, defaultRegion: options.defaultRegion };

  for await (const found of inputFiles(roots)) {
    if ('error' in found) {
      errors.push(found.error);
      continue;
    }
    const { file } = found;
    options.onFile?.(file);
    try {
      const result = await readInputFile(file, ctx);
      switch (result.kind) {
        case 'call':
          calls.push(slim(result.call));
          break;
        case 'lead':
          leads.push(result.lead);
          break;
        case 'recording':
          recordings.push(result.recording);
          break;
        case 'manifest': {
          const resolved = await resolveManifestFiles(result.manifest, resolver);
          if (resolved.problems.length > 0) {
            errors.push({ file, reason: resolved.problems.map((p) => `${p.code} ${p.message}`).join('; ') });
          } else {
            manifests.push(resolved.manifest);
          }
          break;
        }
        case 'skipped':
          skipped.push({ file, reason: result.reason });
          break;
      }
    } catch (err) {
      // A file that vanished during the walk is not an error of the input.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      errors.push({ file, reason: describeError(err) });
    }
  }

  const matched = matchRun({ calls, leads, recordings, manifests });
  for (const e of matched.errors) errors.push({ file: e.file, reason: e.reason });
  return { bundles: matched.bundles, errors, skipped, warnings: matched.warnings, unmatchedLeads: matched.unmatchedLeads };
}

/**
 * Read a bundle's message texts back from its conversation files: the items of the file that has the
 * most (as when the files were merged), everything else as matching left it.
 */
export async function hydrateBundle(bundle: CallBundle, options: Pick<CollectOptions, 'sourceTimezone' | 'defaultRegion'>): Promise<CallBundle> {
  const files = bundle.files && bundle.files.length > 0 ? bundle.files : [bundle.call.file];
  let best: CallRecord | null = null;
  for (const file of files) {
    if (file !== bundle.call.file && !files.includes(file)) continue;
    let result;
    try {
      result = await readInputFile(file, options);
    } catch (err) {
      if (file === bundle.call.file) throw err;
      continue;
    }
    if (result.kind !== 'call') continue;
    if (best === null || result.call.items.length > best.items.length) best = result.call;
  }
  if (best === null) {
    throw new InputError('E_INPUT_GONE', 'the conversation file could not be read again', { file: bundle.call.file });
  }
  return { ...bundle, call: { ...bundle.call, items: best.items } };
}
