/**
 * Recursive listing of input folders (docs/architecture.md: "Folders are walked recursively"). Symbolic links to
 * folders are not followed, so a link cannot lead the walk outside the folder or into a loop; links to
 * files are listed, flagged, for the caller to check where they really point.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** One file found by the walk. */
export interface WalkEntry {
  /** Path of the entry (under the root; a symbolic link is not resolved). */
  path: string;
  /** Base name. */
  name: string;
  /** True when the entry is a symbolic link (to a file, or dangling). */
  symlink: boolean;
}

/** Bounds of a walk, so that a huge or deep tree cannot stall a run. */
export interface WalkLimits {
  /** Folder depth below the root; default 32. */
  maxDepth?: number;
  /** Entries (files and folders) visited; default 1,000,000. */
  maxEntries?: number;
}

/**
 * Every file under `root`, depth first, in name order (so that runs are reproducible). A folder that
 * cannot be read is skipped; the root itself must exist (its error propagates).
 */
export async function* walkFiles(root: string, limits: WalkLimits = {}): AsyncGenerator<WalkEntry> {
  const maxDepth = limits.maxDepth ?? 32;
  const maxEntries = limits.maxEntries ?? 1_000_000;
  let visited = 0;
  async function* visit(dir: string, depth: number, isRoot: boolean): AsyncGenerator<WalkEntry> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isRoot) throw err;
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (++visited > maxEntries) return;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (depth < maxDepth) yield* visit(path, depth + 1, false);
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        yield { path, name: entry.name, symlink: entry.isSymbolicLink() };
      }
    }
  }
  yield* visit(root, 0, true);
}
