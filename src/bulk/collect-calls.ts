/**
 * Collect the calls of a set of folders: walk them lazily, read each file once (format detected by
 * content), resolve manifests inside the folders, then match leads, recordings and manifests for all
 * calls of the run together (docs/architecture.md, "Matching").
 *
 * Memory stays flat as the folder grows: a call is kept only as what matching needs (times, ids, tool
 * calls, item ids — not the message texts); `hydrateBundle` reads the texts back when the payload is
 * built, one call at a time. A caller may let the scan keep the texts of the first calls up to a
 * budget (`keepItemsBytes`), so that a small run reads each file once.
 *
 * Small JSON files are read with synchronous I/O (`readInputFileSync`): a scan has nothing else to do
 * meanwhile, and it is several times faster than thread-pool round trips. The scan yields to the event
 * loop every few milliseconds so that timers (progress output) and signals still run.
 */
import { realpath } from 'node:fs/promises';
import { InputError, describeError } from '../errors.ts';
import type { CallBundle, CallRecord, ConversationItem, LeadRecord, ManifestRecord, RecordingFacts } from '../ingest/call-record.ts';
import { readInputFile, readInputFileSync, type IngestContext, type IngestResult } from '../ingest/read-file.ts';
import { E_INPUT_OUTSIDE, FolderResolver, isInsideFolders, resolveManifestFiles } from '../ingest/resolve-path.ts';
import { walkFiles } from '../ingest/walk.ts';
import { matchRun } from '../match/match-run.ts';
import type { MatchWarning } from '../match/match-types.ts';
import type { BulkError } from './summary.ts';
import { yielder } from './yielder.ts';

/** Code of the warning about a call whose recording egress was still writing when the scan read it. */
export const W_RECORDING_STILL_WRITING = 'W_RECORDING_STILL_WRITING';

/**
 * A warning for each bundle whose recording was still being written when it was read (`stillWriting`):
 * the call goes to the outbox with it, and the worker waits for the file to be finished (docs/architecture.md,
 * "Delivery" → "Recording step"). Bad input it is not; the user should still know why it is not uploaded yet.
 */
export function stillWritingWarnings(bundles: readonly CallBundle[]): MatchWarning[] {
  const out: MatchWarning[] = [];
  for (const { recording, call, matchedBy } of bundles) {
    if (recording?.stillWriting !== true) continue;
    const how = matchedBy?.recording === 'manifest' ? 'named by its manifest' : matchedBy?.recording === 'explicit' ? 'given explicitly' : 'matched by its name';
    out.push({
      code: W_RECORDING_STILL_WRITING,
      message: `recording ${recording.file} still being written: ${how} to ${call.file}; the worker uploads it once finished (waits up to CRM_RECORDING_WAIT_MS)`,
      files: [recording.file, call.file],
    });
  }
  return out;
}

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
  /**
   * Keep the message items of the calls read, up to about this many bytes in all (default 0: none);
   * `hydrateBundle` given `CollectResult.keptItems` then needs no second read of those files.
   */
  keepItemsBytes?: number;
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
  /** Message items of conversation files, by file, as read (see `keepItemsBytes`). */
  keptItems: Map<string, ConversationItem[]>;
}

/** The configured folders of a run, without duplicates or nulls. */
export function runFolders(options: CollectOptions): string[] {
  return [options.conversationsDir, options.leadsDir, options.recordingsDir, options.manifestsDir].filter(
    (d): d is string => typeof d === 'string' && d !== '',
  );
}

const NO_ITEMS: ConversationItem[] = [];

/**
 * Keep what matching needs of a call and drop the message texts. Matching looks at items only for
 * their ids (the same conversation saved in two formats) and, among files sharing ids, their number;
 * a call whose items carry no id keeps none.
 */
export function slim(call: CallRecord): CallRecord {
  const withIds = call.items.some((i) => i.id !== undefined && i.id !== '');
  return {
    ...call,
    items: withIds ? call.items.map((i) => ({ role: i.role, content: '', timestamp: null, source: '', ...(i.id ? { id: i.id } : {}) })) : NO_ITEMS,
  };
}

/** About how many bytes of memory a call's items hold. */
export function itemsBytes(items: readonly ConversationItem[]): number {
  let n = 0;
  for (const i of items) n += 160 + 2 * (i.content.length + (i.timestamp?.length ?? 0) + i.source.length);
  return n;
}

/** The reading context of a run. */
export function ingestContext(options: Pick<CollectOptions, 'sourceTimezone' | 'defaultRegion'>): IngestContext {
  return { sourceTimezone: options.sourceTimezone, defaultRegion: options.defaultRegion };
}

/** Read one input file: synchronously when it is a small JSON file, else with asynchronous I/O. */
export async function readOne(file: string, ctx: IngestContext): Promise<IngestResult> {
  return readInputFileSync(file, ctx) ?? (await readInputFile(file, ctx));
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

/** Where a scan hands each record it read, in walk order. */
export interface ScanSink {
  call(call: CallRecord): void;
  lead(lead: LeadRecord): void;
  recording(recording: RecordingFacts): void;
  /** A manifest, its paths resolved inside the folders. */
  manifest(manifest: ManifestRecord): void;
}

/** What a scan of the folders found besides the records (which go to the sink). */
export interface ScanResult {
  errors: BulkError[];
  skipped: { file: string; reason: string }[];
}

/**
 * Walk the folders and read every file once, in walk order: each record goes to `sink` as read. Bad
 * files are listed in `errors`; they never stop the scan.
 */
export async function scanFolders(options: CollectOptions, sink: ScanSink): Promise<ScanResult> {
  const roots = await realRoots(runFolders(options));
  const resolver = new FolderResolver(roots);
  const out: ScanResult = { errors: [], skipped: [] };
  const ctx = ingestContext(options);
  const pause = yielder();

  for await (const found of inputFiles(roots)) {
    if ('error' in found) {
      out.errors.push(found.error);
      continue;
    }
    const { file } = found;
    options.onFile?.(file);
    try {
      const result = await readOne(file, ctx);
      switch (result.kind) {
        case 'call':
          sink.call(result.call);
          break;
        case 'lead':
          sink.lead(result.lead);
          break;
        case 'recording':
          sink.recording(result.recording);
          break;
        case 'manifest': {
          const resolved = await resolveManifestFiles(result.manifest, resolver);
          if (resolved.problems.length > 0) {
            out.errors.push({ file, reason: resolved.problems.map((p) => `${p.code} ${p.message}`).join('; ') });
          } else {
            sink.manifest(resolved.manifest);
          }
          break;
        }
        case 'skipped':
          out.skipped.push({ file, reason: result.reason });
          break;
      }
    } catch (err) {
      // A file that vanished during the walk is not an error of the input.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      out.errors.push({ file, reason: describeError(err) });
    }
    const paused = pause();
    if (paused !== null) await paused;
  }
  return out;
}

/** Scan the folders and match every call found. Bad files are listed in `errors`; they never stop the scan. */
export async function collectCalls(options: CollectOptions): Promise<CollectResult> {
  const calls: CallRecord[] = [];
  const keptItems = new Map<string, ConversationItem[]>();
  let keepBudget = options.keepItemsBytes ?? 0;
  const leads: LeadRecord[] = [];
  const recordings: RecordingFacts[] = [];
  const manifests: ManifestRecord[] = [];
  const { errors, skipped } = await scanFolders(options, {
    call(call) {
      if (keepBudget > 0) {
        keepBudget -= itemsBytes(call.items);
        if (keepBudget >= 0) keptItems.set(call.file, call.items);
      }
      calls.push(slim(call));
    },
    lead: (lead) => leads.push(lead),
    recording: (recording) => recordings.push(recording),
    manifest: (manifest) => manifests.push(manifest),
  });
  const matched = matchRun({ calls, leads, recordings, manifests });
  for (const e of matched.errors) errors.push({ file: e.file, reason: e.reason });
  const warnings = [...matched.warnings, ...stillWritingWarnings(matched.bundles)];
  return { bundles: matched.bundles, errors, skipped, warnings, unmatchedLeads: matched.unmatchedLeads, keptItems };
}

/**
 * The items of the bundle's conversation file that has the most (the first of equals), from `kept`
 * alone; null when a conversation file of the bundle was not kept.
 */
function keptItemsOf(bundle: CallBundle, files: readonly string[], kept: ReadonlyMap<string, ConversationItem[]>): ConversationItem[] | null {
  const others = new Set([bundle.manifest?.file, bundle.lead?.file, bundle.recording?.file]);
  let best: ConversationItem[] | null = null;
  for (const file of files) {
    const items = kept.get(file);
    if (items === undefined) {
      if (others.has(file)) continue; // not a conversation file
      return null;
    }
    if (best === null || items.length > best.length) best = items;
  }
  return best;
}

/**
 * Read a bundle's message texts back from its conversation files: the items of the file that has the
 * most (as when the files were merged), everything else as matching left it. Items the scan kept
 * (`CollectResult.keptItems`) are used instead of reading the files again, and are released from
 * `kept` (each bundle is hydrated once).
 */
export async function hydrateBundle(
  bundle: CallBundle,
  options: Pick<CollectOptions, 'sourceTimezone' | 'defaultRegion'>,
  kept?: Map<string, ConversationItem[]>,
): Promise<CallBundle> {
  const files = bundle.files && bundle.files.length > 0 ? bundle.files : [bundle.call.file];
  if (kept !== undefined && kept.size > 0) {
    const items = keptItemsOf(bundle, files, kept);
    for (const file of files) kept.delete(file);
    if (items !== null) return { ...bundle, call: { ...bundle.call, items } };
  }
  const ctx = ingestContext(options);
  let best: CallRecord | null = null;
  for (const file of files) {
    let result;
    try {
      result = await readOne(file, ctx);
    } catch (err) {
      if (file === bundle.call.file) throw err;
      continue;
    }
    if (result.kind !== 'call') continue;
    if (best === null || result.call.items.length > best.items.length) best = result.call;
  }
  if (best === null) {
    throw new InputError('the conversation file could not be read again', { code: 'E_INPUT_GONE', file: bundle.call.file });
  }
  return { ...bundle, call: { ...bundle.call, items: best.items } };
}
