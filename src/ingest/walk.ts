/**
 * Recursive listing of input folders (docs/architecture.md: "Folders are walked recursively"). Symbolic links to
 * folders are not followed, so a link cannot lead the walk outside the folder or into a loop; links to
 * files are listed, flagged, for the caller to check where they really point.
 */
import { opendir } from 'node:fs/promises';
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

/** Entry kinds the walk keeps of a listing. */
const FILE = 1;
const FOLDER = 2;
const LINK = 3;

/**
 * The names and kinds of a folder's entries, read in small batches (`opendir`): a single `readdir` of a
 * folder of 200,000 files makes 200,000 `Dirent` objects at once, and the C library keeps the memory of
 * the native listing afterwards (docs/architecture.md, "Throughput" → "Bulk memory").
 */
async function listFolder(dir: string): Promise<{ names: string[]; kinds: Uint8Array }> {
  const names: string[] = [];
  const kinds: number[] = [];
  const handle = await opendir(dir, { bufferSize: 64 });
  for await (const entry of handle) {
    const kind = entry.isDirectory() ? FOLDER : entry.isSymbolicLink() ? LINK : entry.isFile() ? FILE : 0;
    if (kind === 0) continue;
    names.push(entry.name);
    kinds.push(kind);
  }
  // Name order (so that runs are reproducible), by an index sort that keeps each name with its kind.
  const order = names.map((_, i) => i).sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));
  return { names: order.map((i) => names[i]!), kinds: Uint8Array.from(order, (i) => kinds[i]!) };
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
    let listing;
    try {
      listing = await listFolder(dir);
    } catch (err) {
      if (isRoot) throw err;
      return;
    }
    const { names, kinds } = listing;
    for (let i = 0; i < names.length; i++) {
      if (++visited > maxEntries) return;
      const name = names[i]!;
      const path = join(dir, name);
      if (kinds[i] === FOLDER) {
        if (depth < maxDepth) yield* visit(path, depth + 1, false);
      } else {
        yield { path, name, symlink: kinds[i] === LINK };
      }
    }
  }
  yield* visit(root, 0, true);
}
