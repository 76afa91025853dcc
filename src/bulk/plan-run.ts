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
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeError, InputError } from '../errors.ts';
import type { CallBundle, CallRecord, LeadRecord, ManifestRecord, RecordingFacts } from '../ingest/call-record.ts';
import type { IngestContext } from '../ingest/read-file.ts';
import { callSpan, startUnknown, timeMs } from '../match/call-span.ts';
import { isCreateLead, keysOfArguments, keysOfLead, type LeadKeys } from '../match/lead-agreement.ts';
import { LEAD_MARGIN_AFTER_MS, LEAD_MARGIN_BEFORE_MS } from '../match/match-leads.ts';
import { RECORDING_TOLERANCE_MS } from '../match/match-recordings.ts';
import { matchRun, type MatchResult } from '../match/match-run.ts';
import type { MatchWarning } from '../match/match-types.ts';
import { type CollectOptions, ingestContext, itemsBytes, readOne, scanFolders, stillWritingWarnings } from './collect-calls.ts';
import { Column } from './columns.ts';
import { PlanStore } from './plan-store.ts';
import { UnionFind } from '../match/union-find.ts';
import { groupsOf, KeyLinks, TimePoints, type Groups } from './link-graph.ts';
import type { BulkError } from './summary.ts';

/** The calls a bulk run enqueued to deliver, and which of them its worker reported delivered or dead. */
export interface RunCalls {
  /** Note calls just enqueued to deliver; how many were not noted already. */
  markToDeliver(callIds: readonly string[]): number;
  /** Note a call reported delivered or dead; false when it is not one the run enqueued, or noted already. */
  markSettled(callId: string): boolean;
  /** The calls enqueued and not reported settled, a chunk at a time. */
  unsettled(chunk?: number): Iterable<string[]>;
}

/** Options of `planRun`: the folders, and how many bytes of records it may keep from the scan. */
export interface PlanOptions extends Omit<CollectOptions, 'keepItemsBytes'> {
  /** Folder of the run's plan file (created 0700); default a folder under the system's temporary folder. */
  planDir?: string;
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

/** Call flag: the call has message item ids (a copy of it may be merged, its times then chosen among the copies). */
const ITEM_IDS = 2;

/**
 * What the scan remembers of every file the run read, by file id (walk order): its kind and flags in
 * memory, its path and times in the plan file (`plan-store.ts`).
 */
class FileTable {
  readonly kinds = new Column('uint8');
  readonly flags = new Column('uint8');
  readonly store: PlanStore;
  length = 0;
  /** Records kept whole from the scan (first calls and leads, within the budget), by file id. */
  readonly kept = new Map<number, CallRecord | LeadRecord>();
  /** Manifests (few, and their paths are resolved once), by file id. */
  readonly manifests = new Map<number, ManifestRecord>();
  /** Conversation files and recordings read. */
  calls = 0;
  recordings = 0;

  constructor(store: PlanStore) {
    this.store = store;
  }

  /**
   * Add a file with its four times (`t0`…`t3` in the plan; ms, NaN or null for none). A call: span from,
   * span to, known start (NaN when unknown), the time `since`/`until` select on. A lead: its time. A
   * recording: epoch and end. A manifest: from and to.
   */
  add(kind: number, file: string, times: readonly (number | null)[] = []): number {
    const i = this.length++;
    this.kinds.set(i, kind);
    const t = (k: number) => times[k] ?? Number.NaN;
    this.store.add(i, { kind, path: file, t0: t(0), t1: t(1), t2: t(2), t3: t(3) });
    return i;
  }

  path(i: number): string {
    return this.store.path(i);
  }
}

/** The name, email and phone keys of a lead or of a `create_lead` call's arguments. */
function personKeys(keys: KeyLinks, node: number, k: LeadKeys): void {
  keys.add('n', k.name, node);
  keys.add('e', k.email, node);
  keys.add('p', k.phone, node);
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
    return this.#table.kinds.get(node) === CALL ? this.#table.store.times(node)[3] : null;
  }

  /** The first file of group `k` (for an error about the group as a whole). */
  firstFile(k: number): string {
    return this.#table.path(this.#groups.nodes[this.#groups.starts[k]!]!);
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
      const file = table.path(node);
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
    return { bundles: matched.bundles, warnings: [...warnings, ...matched.warnings, ...stillWritingWarnings(matched.bundles)], unmatchedLeads: [...unmatchedLeads, ...matched.unmatchedLeads], errors };
  }

  /**
   * Note that the run prepared `callId`; false when another file of the run already gave it (the plan
   * file holds them, exactly, whatever the run's size).
   */
  addCallId(callId: string): boolean {
    return this.#table.store.addCallId(callId);
  }

  /**
   * The run's calls it delivers, kept in the plan file rather than in memory (a run may enqueue far
   * ahead of its deliveries: 150,000 callIds held 12 MB at 200,000 calls).
   */
  get runCalls(): RunCalls {
    return this.#table.store;
  }

  /** Remove the plan file. Call once the run is over. */
  close(): void {
    this.#table.store.close();
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
 * the files grouped by them. The plan file goes in `options.planDir` (default: a folder under the
 * system's temporary folder); `RunPlan.close()` removes it.
 */
export async function planRun(options: PlanOptions): Promise<RunPlan> {
  const ctx = ingestContext(options);
  const table = new FileTable(new PlanStore(options.planDir ?? join(tmpdir(), 'crm-upload-plans')));
  try {
    return await scanAndGroup(options, table, ctx);
  } catch (err) {
    table.store.close();
    throw err;
  }
}

async function scanAndGroup(options: PlanOptions, table: FileTable, ctx: IngestContext): Promise<RunPlan> {
  let budget = options.keepBytes ?? 0;
  // Keys are added as files are read; the file count is not known yet, so the links are sized for a
  // large run (2^24 files) and the hash keeps 29 bits (more joined groups only past that).
  const keys = new KeyLinks(2 ** 24 - 1);
  const keep = (node: number, record: CallRecord | LeadRecord, bytes: number): void => {
    if (budget <= 0) return;
    budget -= bytes;
    if (budget >= 0) table.kept.set(node, record);
  };

  const scan = await scanFolders(options, {
    call(call) {
      const span = callSpan(call);
      const i = table.add(CALL, call.file, [span?.from ?? null, span?.to ?? null, startUnknown(call) ? null : timeMs(call.startTime), Date.parse(call.startTime ?? call.endTime ?? '')]);
      table.calls += 1;
      let flags = 0;
      sessionKeys(keys, i, call.sessionId, call.campaign);
      for (const tool of call.toolCalls) {
        if (isCreateLead(tool)) personKeys(keys, i, keysOfArguments(tool.arguments));
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
      const i = table.add(LEAD, lead.file ?? '', [timeMs(lead.time)]);
      sessionKeys(keys, i, lead.sessionId, lead.campaign);
      personKeys(keys, i, keysOfLead(lead.fields));
      keep(i, lead, RECORD_BYTES);
    },
    recording(recording) {
      const epochMs = recording.epoch !== null && Number.isFinite(recording.epoch) ? recording.epoch * 1000 : null;
      const endMs = epochMs !== null && recording.durationSec !== null && Number.isFinite(recording.durationSec) ? epochMs + recording.durationSec * 1000 : null;
      table.add(RECORDING, recording.file, [epochMs, endMs]);
      table.recordings += 1;
    },
    manifest(manifest) {
      const i = table.add(MANIFEST, manifest.file, [timeMs(manifest.startTime ?? manifest.endTime), timeMs(manifest.endTime ?? manifest.startTime)]);
      table.manifests.set(i, manifest);
      sessionKeys(keys, i, manifest.sessionId, manifest.campaign);
      for (const which of ['conversation', 'lead', 'recording'] as const) keys.add('f', manifest.files[which] ?? manifest.rawFiles?.[which] ?? null, i);
    },
  });
  table.store.flush();

  const uf = new UnionFind(table.length);
  // A manifest names its files by path: only then are paths keys.
  if (table.manifests.size > 0) {
    for (const { id, path } of table.store.paths()) if (table.kinds.get(id) !== MANIFEST) keys.add('f', path, id);
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
  const { store } = table;
  // A call's lead window starts at the earliest start matching may give it.
  const earliest = new Map<number, number>();
  if (table.recordings > 0) {
    const epochList: [number, number][] = [];
    const endList: [number, number][] = [];
    for (const r of store.ofKind(RECORDING)) {
      epochList.push([r.t0, r.id]);
      endList.push([r.t1, r.id]);
    }
    const epochs = new TimePoints(epochList);
    const ends = new TimePoints(endList);
    for (const c of store.ofKind(CALL)) {
      if (!Number.isNaN(c.t2)) {
        epochs.within(c.t2 - RECORDING_TOLERANCE_MS, c.t2 + RECORDING_TOLERANCE_MS, (r) => uf.union(c.id, r));
      } else {
        // Found by its end; its recording's epoch may become its start.
        ends.within(c.t1 - RECORDING_TOLERANCE_MS, c.t1 + RECORDING_TOLERANCE_MS, (r) => {
          uf.union(c.id, r);
          const epoch = store.times(r)[0];
          if (!((earliest.get(c.id) ?? Number.POSITIVE_INFINITY) <= epoch)) earliest.set(c.id, epoch);
        });
      }
    }
    for (const m of store.ofKind(MANIFEST)) {
      epochs.within(m.t0 - RECORDING_TOLERANCE_MS - SLACK_MS, m.t1 + RECORDING_TOLERANCE_MS + SLACK_MS, (r) => uf.union(m.id, r));
      ends.within(m.t0 - RECORDING_TOLERANCE_MS - SLACK_MS, m.t1 + RECORDING_TOLERANCE_MS + SLACK_MS, (r) => uf.union(m.id, r));
    }
  }
  const leadList: [number, number][] = [];
  for (const l of store.ofKind(LEAD)) leadList.push([l.t0, l.id]);
  const leadTimes = new TimePoints(leadList);
  if (leadTimes.length === 0) return;
  for (const kind of [CALL, MANIFEST]) {
    for (const f of store.ofKind(kind)) {
      let from = f.t0;
      if (Number.isNaN(from)) continue;
      const early = earliest.get(f.id);
      if (early !== undefined && early < from) from = early;
      // A manifest's times, or a merged copy's, may still become the call's: wider windows for those.
      const slack = kind === MANIFEST || (table.flags.get(f.id) & ITEM_IDS) !== 0 ? SLACK_MS : 0;
      leadTimes.within(from - LEAD_MARGIN_BEFORE_MS - slack, f.t1 + LEAD_MARGIN_AFTER_MS + slack, (l) => uf.union(f.id, l));
    }
  }
}
