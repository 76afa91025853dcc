/**
 * The plan of a bulk run, in memory that does not grow with each call's record (docs/architecture.md,
 * "Throughput" → "Bulk memory").
 *
 * Matching sees the files of a run together (docs/architecture.md, "Matching"), but a call can only be
 * paired with files it shares a key or a time window with. So the scan keeps, of each file, its path
 * and a few times and flags in columns, and feeds its keys to a link graph (`link-graph.ts`); the files
 * then fall into groups that nothing links across. Each group is read again (unless the scan kept it)
 * and matched on its own when its turn comes, which gives the same bundles, warnings and errors as
 * matching the whole run at once: one group's records in memory at a time.
 *
 * Small runs read each file once: the first records are kept whole up to a memory budget.
 */
import { describeError, InputError } from '../errors.ts';
import type { CallBundle, CallRecord, LeadRecord, ManifestRecord, RecordingFacts } from '../ingest/call-record.ts';
import type { IngestContext } from '../ingest/read-file.ts';
import { callSpan, startUnknown, timeMs } from '../match/call-span.ts';
import { isCreateLead, keysOfArguments, keysOfLead } from '../match/lead-agreement.ts';
import { LEAD_MARGIN_AFTER_MS, LEAD_MARGIN_BEFORE_MS } from '../match/match-leads.ts';
import { RECORDING_TOLERANCE_MS } from '../match/match-recordings.ts';
import { matchRun, type MatchResult } from '../match/match-run.ts';
import type { MatchWarning } from '../match/match-types.ts';
import { type CollectOptions, ingestContext, itemsBytes, readOne, scanFolders } from './collect-calls.ts';
import { ByteChunks, Column } from './columns.ts';
import { groupsOf, KeyLinks, TimePoints, UnionFind, type Groups } from './link-graph.ts';
import type { BulkError } from './summary.ts';

/** Options of `planRun`: the folders, and how many bytes of records it may keep from the scan. */
export interface PlanOptions extends Omit<CollectOptions, 'keepItemsBytes'> {
  /** Whole records (calls with their message texts, leads) kept from the scan, so that they need no second read; about this many bytes. */
  keepBytes?: number;
}

/** What matching one group gave. */
export interface GroupMatch {
  /** The group's calls, in the order of their first file. */
  bundles: CallBundle[];
  warnings: MatchWarning[];
  /** Lead files of the group attached to no call. */
  unmatchedLeads: string[];
  /** Files of the group that could not be read again, and manifests whose conversation is missing. */
  errors: BulkError[];
}

/** Memory of a kept record besides its items. */
const RECORD_BYTES = 600;
/**
 * How much wider than the matching windows the window of a call is taken when its times may still
 * change in matching (a manifest's times, a merged copy's): a margin, never a miss.
 */
const SLACK_MS = 60 * 60_000;

const CALL = 1;
const LEAD = 2;
const RECORDING = 3;
const MANIFEST = 4;

/** Call flags. */
const UNKNOWN_START = 1;
const ITEM_IDS = 2;

/**
 * Numbers per file in `FileTable.times`. A call: span from, span to, known start (NaN when unknown),
 * the time `since`/`until` select on. A lead: its time. A recording: epoch and end (ms). A manifest:
 * from and to.
 */
const TIMES = 4;

/**
 * The paths of the run's files: a folder index and the base name's UTF-8 bytes, in chunks (folders
 * repeat; a string per name would cost an object each, and a slice of the path keeps the whole path
 * alive).
 */
class PathTable {
  readonly #folders: string[] = [];
  readonly #folderIndex = new Map<string, number>();
  readonly #folderOf = new Column('int32');
  readonly #at = new Column('float64');
  readonly #length = new Column('int32');
  readonly #bytes = new ByteChunks();
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();

  set(i: number, path: string): void {
    const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
    const folder = path.slice(0, cut + 1);
    let f = this.#folderIndex.get(folder);
    if (f === undefined) {
      f = this.#folders.length;
      this.#folders.push(folder);
      this.#folderIndex.set(folder, f);
    }
    this.#folderOf.set(i, f);
    const name = path.slice(cut + 1);
    let written = 0;
    // At most 3 bytes of UTF-8 per UTF-16 unit.
    const at = this.#bytes.append(3 * name.length, (into) => (written = this.#encoder.encodeInto(name, into).written));
    this.#at.set(i, at);
    this.#length.set(i, written);
  }

  get(i: number): string {
    return this.#folders[this.#folderOf.get(i)]! + this.#decoder.decode(this.#bytes.view(this.#at.get(i), this.#length.get(i)));
  }
}

/** What the scan remembers of every file the run read, by node id (walk order), in columns. */
class FileTable {
  readonly paths = new PathTable();
  readonly kinds = new Column('uint8');
  readonly flags = new Column('uint8');
  readonly #times = new Column('float64', Number.NaN);
  length = 0;
  /** Records kept whole from the scan (first calls and leads, within the budget), by node. */
  readonly kept = new Map<number, CallRecord | LeadRecord>();
  /** Manifests (few, and their paths are resolved once), by node. */
  readonly manifests = new Map<number, ManifestRecord>();
  /** Conversation files and recordings read. */
  calls = 0;
  recordings = 0;

  add(kind: number, file: string): number {
    const i = this.length++;
    this.kinds.set(i, kind);
    this.paths.set(i, file);
    return i;
  }

  time(i: number, which: number): number {
    return this.#times.get(i * TIMES + which);
  }

  setTime(i: number, which: number, value: number | null): void {
    this.#times.set(i * TIMES + which, value ?? Number.NaN);
  }
}

/** The keys of a session a record or manifest carries. */
function sessionKeys(keys: KeyLinks, node: number, sessionId: string | null | undefined, campaign: { sessionId?: unknown } | null | undefined): void {
  keys.add('s', sessionId, node);
  if (typeof campaign?.sessionId === 'string') keys.add('s', campaign.sessionId, node);
}

/** The plan of a run: its files in groups, each matched when `prepare` is asked for it. */
export class RunPlan {
  /** Files that could not be read, and links that point outside the folders. */
  readonly errors: BulkError[];
  /** Files that are not calls and were passed over on purpose (event logs, `.partial` files). */
  readonly skipped: { file: string; reason: string }[];
  readonly #table: FileTable;
  readonly #groups: Groups;
  readonly #ctx: IngestContext;

  constructor(table: FileTable, groups: Groups, errors: BulkError[], skipped: { file: string; reason: string }[], ctx: IngestContext) {
    this.#table = table;
    this.#groups = groups;
    this.errors = errors;
    this.skipped = skipped;
    this.#ctx = ctx;
  }

  /** How many groups there are, in the order of their first file. */
  get groups(): number {
    return this.#groups.starts.length - 1;
  }

  /** How many conversation files the run read. */
  get callFiles(): number {
    return this.#table.calls;
  }

  /**
   * The time `since`/`until` select on (start, else end, in ms; NaN when none) when group `k` is one
   * conversation file alone, so that a call out of range is not read again; null otherwise.
   */
  loneCallTime(k: number): number | null {
    const { nodes, starts } = this.#groups;
    if (starts[k + 1]! - starts[k]! !== 1) return null;
    const node = nodes[starts[k]!]!;
    return this.#table.kinds.get(node) === CALL ? this.#table.time(node, 3) : null;
  }

  /** The first file of group `k` (for an error about the group as a whole). */
  firstFile(k: number): string {
    return this.#table.paths.get(this.#groups.nodes[this.#groups.starts[k]!]!);
  }

  /** Forget what was kept for group `k` (a group not prepared, out of the run's range). */
  release(k: number): void {
    const { nodes, starts } = this.#groups;
    for (let j = starts[k]!; j < starts[k + 1]!; j++) this.#table.kept.delete(nodes[j]!);
  }

  /**
   * Read group `k` again (its kept records where the scan kept them) and match it. A file that can
   * no longer be read is an error of its own, and the group is matched without it.
   */
  async prepare(k: number): Promise<GroupMatch> {
    const { nodes, starts } = this.#groups;
    const table = this.#table;
    const calls: CallRecord[] = [];
    const leads: LeadRecord[] = [];
    const recordings: RecordingFacts[] = [];
    const manifests: ManifestRecord[] = [];
    const errors: BulkError[] = [];
    const warnings: MatchWarning[] = [];
    const unmatchedLeads: string[] = [];
    const size = starts[k + 1]! - starts[k]!;
    for (let j = starts[k]!; j < starts[k + 1]!; j++) {
      const node = nodes[j]!;
      const kind = table.kinds.get(node);
      const file = table.paths.get(node);
      if (kind === MANIFEST) {
        manifests.push(table.manifests.get(node)!);
        continue;
      }
      if (size === 1 && kind === LEAD) {
        // A lead alone: nothing could take it, whatever it holds.
        unmatchedLeads.push(file);
        warnings.push({ code: 'W_UNMATCHED_LEAD', message: `lead ${file} is attached to no call: no call matches it by manifest, session id, create_lead arguments or time`, files: [file] });
        continue;
      }
      if (size === 1 && kind === RECORDING) {
        warnings.push({ code: 'W_UNMATCHED_RECORDING', message: `recording ${file} is attached to no call: no call matches it by manifest or time`, files: [file] });
        continue;
      }
      const kept = table.kept.get(node);
      table.kept.delete(node);
      try {
        const record = kept ?? (await this.#readAgain(file, kind));
        if (kind === CALL) calls.push(record as CallRecord);
        else if (kind === LEAD) leads.push(record as LeadRecord);
        else recordings.push(record as RecordingFacts);
      } catch (err) {
        // As if it had failed at its first read; the rest of its group is matched without it.
        errors.push({ file, reason: describeError(err) });
      }
    }
    if (calls.length === 0 && leads.length === 0 && recordings.length === 0 && manifests.length === 0) {
      return { bundles: [], warnings, unmatchedLeads, errors };
    }
    const matched: MatchResult = matchRun({ calls, leads, recordings, manifests });
    for (const e of matched.errors) errors.push({ file: e.file, reason: e.reason });
    return { bundles: matched.bundles, warnings: [...warnings, ...matched.warnings], unmatchedLeads: [...unmatchedLeads, ...matched.unmatchedLeads], errors };
  }

  async #readAgain(file: string, kind: number): Promise<CallRecord | LeadRecord | RecordingFacts> {
    const again = await readOne(file, this.#ctx);
    if (kind === CALL && again.kind === 'call') return again.call;
    if (kind === LEAD && again.kind === 'lead') return again.lead;
    if (kind === RECORDING && again.kind === 'recording') return again.recording;
    throw new InputError(`the ${kind === CALL ? 'conversation' : kind === LEAD ? 'lead' : 'recording'} file could not be read again`, { code: 'E_INPUT_GONE', file });
  }
}

/**
 * Scan the folders and plan the run: every file read once, what matching compares kept as links, and
 * the files grouped by them.
 */
export async function planRun(options: PlanOptions): Promise<RunPlan> {
  const ctx = ingestContext(options);
  const table = new FileTable();
  let budget = options.keepBytes ?? 0;
  // Keys are added as files are read; the node count is not known yet, so the links are sized for a
  // large run (2^24 files) and the hash keeps 29 bits (more joined groups only past that).
  const keys = new KeyLinks(2 ** 24 - 1);
  const keep = (node: number, record: CallRecord | LeadRecord, bytes: number): void => {
    if (budget <= 0) return;
    budget -= bytes;
    if (budget >= 0) table.kept.set(node, record);
  };

  const scan = await scanFolders(options, {
    call(call) {
      const i = table.add(CALL, call.file);
      table.calls += 1;
      const span = callSpan(call);
      table.setTime(i, 0, span?.from ?? null);
      table.setTime(i, 1, span?.to ?? null);
      table.setTime(i, 2, startUnknown(call) ? null : timeMs(call.startTime));
      table.setTime(i, 3, Date.parse(call.startTime ?? call.endTime ?? ''));
      let flags = startUnknown(call) ? UNKNOWN_START : 0;
      sessionKeys(keys, i, call.sessionId, call.campaign);
      for (const tool of call.toolCalls) {
        if (!isCreateLead(tool)) continue;
        const k = keysOfArguments(tool.arguments);
        keys.add('n', k.name, i);
        keys.add('e', k.email, i);
        keys.add('p', k.phone, i);
      }
      for (const item of call.items) {
        if (item.id === undefined || item.id === '') continue;
        flags |= ITEM_IDS;
        keys.add('i', item.id, i);
      }
      table.flags.set(i, flags);
      keep(i, call, RECORD_BYTES + itemsBytes(call.items));
    },
    lead(lead) {
      const i = table.add(LEAD, lead.file ?? '');
      table.setTime(i, 0, timeMs(lead.time));
      sessionKeys(keys, i, lead.sessionId, lead.campaign);
      const k = keysOfLead(lead.fields);
      keys.add('n', k.name, i);
      keys.add('e', k.email, i);
      keys.add('p', k.phone, i);
      keep(i, lead, RECORD_BYTES);
    },
    recording(recording) {
      const i = table.add(RECORDING, recording.file);
      table.recordings += 1;
      if (recording.epoch !== null && Number.isFinite(recording.epoch)) {
        const epochMs = recording.epoch * 1000;
        table.setTime(i, 0, epochMs);
        if (recording.durationSec !== null && Number.isFinite(recording.durationSec)) table.setTime(i, 1, epochMs + recording.durationSec * 1000);
      }
    },
    manifest(manifest) {
      const i = table.add(MANIFEST, manifest.file);
      table.manifests.set(i, manifest);
      const from = timeMs(manifest.startTime ?? manifest.endTime);
      const to = timeMs(manifest.endTime ?? manifest.startTime);
      table.setTime(i, 0, from);
      table.setTime(i, 1, to);
      sessionKeys(keys, i, manifest.sessionId, manifest.campaign);
      for (const which of ['conversation', 'lead', 'recording'] as const) keys.add('f', manifest.files[which] ?? manifest.rawFiles?.[which] ?? null, i);
    },
  });

  const uf = new UnionFind(table.length);
  // A manifest names its files by path: only then are paths keys.
  if (table.manifests.size > 0) {
    for (let i = 0; i < table.length; i++) if (table.kinds.get(i) !== MANIFEST) keys.add('f', table.paths.get(i), i);
  }
  keys.joinInto(uf);
  linkByTime(table, uf);
  return new RunPlan(table, groupsOf(uf), scan.errors, scan.skipped, ctx);
}

/**
 * Join each call with the recordings and leads within its matching windows (docs/architecture.md,
 * "Matching"), widened where matching may still move its times.
 */
function linkByTime(table: FileTable, uf: UnionFind): void {
  const { kinds } = table;
  const nodesOf = function* (kind: number, which: number): Generator<readonly [number, number]> {
    for (let i = 0; i < table.length; i++) if (kinds.get(i) === kind) yield [table.time(i, which), i] as const;
  };
  // A call's lead window starts at the earliest start matching may give it.
  const earliest = new Column('float64', Number.NaN);
  if (table.recordings > 0) {
    const epochs = new TimePoints(nodesOf(RECORDING, 0));
    const ends = new TimePoints(nodesOf(RECORDING, 1));
    for (let i = 0; i < table.length; i++) {
      if (kinds.get(i) === CALL) {
        const start = table.time(i, 2);
        if (!Number.isNaN(start)) {
          epochs.within(start - RECORDING_TOLERANCE_MS, start + RECORDING_TOLERANCE_MS, (r) => uf.union(i, r));
        } else {
          // Found by its end; its recording's epoch may become its start.
          const to = table.time(i, 1);
          ends.within(to - RECORDING_TOLERANCE_MS, to + RECORDING_TOLERANCE_MS, (r) => {
            uf.union(i, r);
            const epoch = table.time(r, 0);
            if (!(earliest.get(i) <= epoch)) earliest.set(i, epoch);
          });
        }
      } else if (kinds.get(i) === MANIFEST) {
        const from = table.time(i, 0);
        const to = table.time(i, 1);
        epochs.within(from - RECORDING_TOLERANCE_MS - SLACK_MS, to + RECORDING_TOLERANCE_MS + SLACK_MS, (r) => uf.union(i, r));
        ends.within(from - RECORDING_TOLERANCE_MS - SLACK_MS, to + RECORDING_TOLERANCE_MS + SLACK_MS, (r) => uf.union(i, r));
      }
    }
  }
  const leadTimes = new TimePoints(nodesOf(LEAD, 0));
  if (leadTimes.length === 0) return;
  for (let i = 0; i < table.length; i++) {
    const kind = kinds.get(i);
    if (kind !== CALL && kind !== MANIFEST) continue;
    let from = table.time(i, 0);
    const to = table.time(i, 1);
    if (Number.isNaN(from)) continue;
    const early = earliest.get(i);
    if (early < from) from = early;
    // A manifest's times, or a merged copy's, may still become the call's: wider windows for those.
    const slack = kind === MANIFEST || (table.flags.get(i) & ITEM_IDS) !== 0 ? SLACK_MS : 0;
    leadTimes.within(from - LEAD_MARGIN_BEFORE_MS - slack, to + LEAD_MARGIN_AFTER_MS + slack, (l) => uf.union(i, l));
  }
}
