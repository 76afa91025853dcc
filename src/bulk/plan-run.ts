/**
 * The calls of a bulk run, in walk order, with memory that does not grow with every call's record.
 *
 * Matching sees the calls of a run together (docs/architecture.md, "Matching"), but most calls of a large folder
 * cannot take part in it: a call that shares no message item id with another file, is named by no
 * manifest, and that no lead or recording could reach (by session id, `create_lead` arguments, or
 * time, with a wide margin) gets from `matchRun` exactly what it would get alone. So the scan keeps
 * for each call only a few facts (`CallTable`: file, session ids, times, flags); afterwards the calls
 * that could be matched with something are read again (unless kept) and matched together, as before,
 * and every other call is read again and matched alone when its turn comes. The result — bundles,
 * warnings, errors, unmatched leads, and their order — is the same as matching all calls at once.
 *
 * Small runs read each file once: the first calls are kept whole up to a memory budget.
 */
import { describeError, InputError } from '../errors.ts';
import type { CallBundle, CallRecord, ConversationItem, LeadRecord, ManifestRecord, RecordingFacts } from '../ingest/call-record.ts';
import { callSpan, startUnknown, timeMs } from '../match/call-span.ts';
import { isCreateLead } from '../match/lead-agreement.ts';
import { LEAD_MARGIN_AFTER_MS, LEAD_MARGIN_BEFORE_MS } from '../match/match-leads.ts';
import { RECORDING_TOLERANCE_MS } from '../match/match-recordings.ts';
import { matchRun } from '../match/match-run.ts';
import type { MatchWarning } from '../match/match-types.ts';
import type { IngestContext } from '../ingest/read-file.ts';
import { type CollectOptions, ingestContext, itemsBytes, readOne, scanFolders, slim } from './collect-calls.ts';
import type { BulkError } from './summary.ts';

/** Options of `planRun`: the folders, and how many bytes of call records it may keep from the scan. */
export interface PlanOptions extends Omit<CollectOptions, 'keepItemsBytes'> {
  /** Whole calls (with their message texts) kept from the scan, so that they need no second read; about this many bytes. */
  keepBytes?: number;
}

/** Memory of a kept call besides its items (record, strings). */
const RECORD_BYTES = 600;
/** How much wider than the matching windows a lead or recording may be and still count as a candidate. */
const SLACK_MS = 60 * 60_000;
const CREATE_LEAD = 1;
const ITEM_IDS = 2;
/** Numbers per call in `CallTable.times`: span from, span to, known start, the time `since`/`until` select on. */
const TIMES = 4;

/**
 * What the scan remembers of each call, in columns (a few dozen bytes per call besides its path): what
 * `candidateTest` needs, and the time `since`/`until` select on. NaN for a time the call does not have.
 */
class CallTable {
  readonly files: string[] = [];
  readonly sessionIds: string[] = [];
  /** `metadata.campaign_metadata.sessionId`, for the few calls that carry one. */
  readonly campaignSessionIds = new Map<number, string>();
  times = new Float64Array(1024 * TIMES);
  flags = new Uint8Array(1024);
  /** Calls kept whole from the scan, by index. */
  readonly records = new Map<number, CallRecord>();

  get length(): number {
    return this.files.length;
  }

  add(call: CallRecord): number {
    const i = this.files.length;
    if (i === this.flags.length) {
      const times = new Float64Array(2 * this.times.length);
      times.set(this.times);
      this.times = times;
      const flags = new Uint8Array(2 * this.flags.length);
      flags.set(this.flags);
      this.flags = flags;
    }
    this.files.push(call.file);
    this.sessionIds.push(call.sessionId);
    const campaignSession = call.campaign?.sessionId;
    if (typeof campaignSession === 'string' && campaignSession !== '') this.campaignSessionIds.set(i, campaignSession);
    const span = callSpan(call);
    const t = i * TIMES;
    this.times[t] = span?.from ?? Number.NaN;
    this.times[t + 1] = span?.to ?? Number.NaN;
    this.times[t + 2] = (startUnknown(call) ? null : timeMs(call.startTime)) ?? Number.NaN;
    this.times[t + 3] = Date.parse(call.startTime ?? call.endTime ?? '');
    this.flags[i] = (call.toolCalls.some(isCreateLead) ? CREATE_LEAD : 0) | (call.items.some((x) => x.id !== undefined && x.id !== '') ? ITEM_IDS : 0);
    return i;
  }

  time(i: number, which: 0 | 1 | 2 | 3): number {
    return this.times[i * TIMES + which]!;
  }
}

/** Sorted finite values. */
function sortedTimes(values: Iterable<number | null>): Float64Array {
  const list: number[] = [];
  for (const v of values) if (v !== null && Number.isFinite(v)) list.push(v);
  return Float64Array.from(list).sort();
}

/** True when a value of `sorted` lies in [from, to]. */
function anyWithin(sorted: Float64Array, from: number, to: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo]! <= to;
}

/**
 * Which calls matching could attach something to, or group with another call: a superset of the
 * candidates of every matching step (docs/architecture.md "Matching"), so that a call left out gets the same
 * result alone.
 */
function candidateTest(table: CallTable, leads: readonly LeadRecord[], recordings: readonly RecordingFacts[], manifests: readonly ManifestRecord[]): (i: number) => boolean {
  const named = new Set<string>();
  for (const m of manifests) if (m.files.conversation !== null) named.add(m.files.conversation);
  const leadSessions = new Set<string>();
  for (const lead of leads) {
    for (const k of [lead.sessionId, lead.campaign?.sessionId]) if (typeof k === 'string' && k !== '') leadSessions.add(k);
  }
  const leadTimes = sortedTimes(leads.map((l) => timeMs(l.time)));
  const epochs = sortedTimes(recordings.map((r) => (r.epoch !== null && Number.isFinite(r.epoch) ? r.epoch * 1000 : null)));
  return (i) => {
    if ((table.flags[i]! & ITEM_IDS) !== 0 || named.has(table.files[i]!)) return true;
    const from = table.time(i, 0);
    if (leads.length > 0) {
      if ((table.flags[i]! & CREATE_LEAD) !== 0) return true;
      if (leadSessions.has(table.sessionIds[i]!)) return true;
      const campaignSession = table.campaignSessionIds.get(i);
      if (campaignSession !== undefined && leadSessions.has(campaignSession)) return true;
      if (!Number.isNaN(from) && anyWithin(leadTimes, from - LEAD_MARGIN_BEFORE_MS - SLACK_MS, table.time(i, 1) + LEAD_MARGIN_AFTER_MS + SLACK_MS)) return true;
    }
    if (epochs.length > 0) {
      // A call whose start is unknown is matched by its end, and may take the recording's epoch as start.
      const start = table.time(i, 2);
      if (Number.isNaN(start)) return !Number.isNaN(from);
      if (anyWithin(epochs, start - RECORDING_TOLERANCE_MS - SLACK_MS, start + RECORDING_TOLERANCE_MS + SLACK_MS)) return true;
    }
    return false;
  };
}

/** The plan of a run. */
export class RunPlan {
  /**
   * The calls to prepare, in walk order (a call of several files comes at its first file): a bundle
   * matched with others, or the index of a call matched alone (see `isolatedBundle`).
   */
  readonly calls: (CallBundle | number)[];
  /** Message items of kept conversation files, for `hydrateBundle`. */
  readonly keptItems: Map<string, ConversationItem[]>;
  readonly errors: BulkError[];
  readonly skipped: { file: string; reason: string }[];
  readonly warnings: MatchWarning[];
  readonly unmatchedLeads: string[];
  readonly #table: CallTable;
  readonly #ctx: IngestContext;

  constructor(fields: Omit<RunPlan, 'file' | 'rangeMs' | 'isolatedBundle' | 'release'>, table: CallTable, ctx: IngestContext) {
    this.calls = fields.calls;
    this.keptItems = fields.keptItems;
    this.errors = fields.errors;
    this.skipped = fields.skipped;
    this.warnings = fields.warnings;
    this.unmatchedLeads = fields.unmatchedLeads;
    this.#table = table;
    this.#ctx = ctx;
  }

  /** The conversation file of a call matched alone (until it is released). */
  file(i: number): string {
    return this.#table.files[i]!;
  }

  /** The time `since`/`until` select a call matched alone on (its start, else its end), in ms; NaN when none. */
  rangeMs(i: number): number {
    return this.#table.time(i, 3);
  }

  /** Forget a call matched alone, once prepared (or when it is not): its kept record and its path. */
  release(i: number): void {
    this.#table.records.delete(i);
    this.#table.files[i] = '';
  }

  /**
   * The bundle of a call that nothing else of the run can be matched with: its kept record, or the
   * file read again, matched alone (so a `create_lead` call still gives it its lead); the call is then
   * released. Throws the read error, or `E_INPUT_GONE` when the file no longer holds a call.
   */
  async isolatedBundle(i: number): Promise<CallBundle> {
    let record = this.#table.records.get(i);
    const file = this.#table.files[i]!;
    this.release(i);
    if (record === undefined) {
      const again = await readOne(file, this.#ctx);
      if (again.kind !== 'call') throw new InputError('the conversation file could not be read again', { code: 'E_INPUT_GONE', file });
      record = again.call;
    }
    const bundle = matchRun({ calls: [record], leads: [], recordings: [], manifests: [] }).bundles[0];
    if (bundle === undefined) throw new InputError('the conversation file could not be read again', { code: 'E_INPUT_GONE', file });
    return bundle;
  }
}

/**
 * Scan the folders and plan the run: the calls that could be matched with a lead, a recording, a
 * manifest or another file are matched together now; the others are left to `RunPlan.isolatedBundle`.
 */
export async function planRun(options: PlanOptions): Promise<RunPlan> {
  const ctx = ingestContext(options);
  const table = new CallTable();
  let budget = options.keepBytes ?? 0;
  const scan = await scanFolders(options, (call) => {
    const i = table.add(call);
    if (budget > 0) {
      budget -= RECORD_BYTES + itemsBytes(call.items);
      if (budget >= 0) table.records.set(i, call);
    }
  });
  const { leads, recordings, manifests, errors, skipped } = scan;

  // The calls that matching could touch, with their records (read again when not kept).
  const isCandidate = candidateTest(table, leads, recordings, manifests);
  const candidate = new Uint8Array(table.length);
  const calls: CallRecord[] = [];
  const keptItems = new Map<string, ConversationItem[]>();
  for (let i = 0; i < table.length; i++) {
    if (!isCandidate(i)) continue;
    candidate[i] = 1;
    let record = table.records.get(i);
    if (record === undefined) {
      const file = table.files[i]!;
      try {
        const again = await readOne(file, ctx);
        if (again.kind !== 'call') throw new InputError('the conversation file could not be read again', { code: 'E_INPUT_GONE', file });
        record = again.call;
      } catch (err) {
        errors.push({ file, reason: describeError(err) });
        continue; // as if it had failed at its first read
      }
    } else {
      keptItems.set(record.file, record.items);
      table.records.delete(i);
    }
    calls.push(slim(record));
  }
  // Session ids were only needed to find the candidates.
  table.sessionIds.length = 0;
  table.campaignSessionIds.clear();
  const matched = matchRun({ calls, leads, recordings, manifests });
  calls.length = 0;
  for (const e of matched.errors) errors.push({ file: e.file, reason: e.reason });

  // Walk order: a bundle at the first file of its call (bundles come in the order of their first file).
  const planned: (CallBundle | number)[] = [];
  const bundles = matched.bundles;
  let next = 0;
  for (let i = 0; i < table.length; i++) {
    if (candidate[i] === 0) planned.push(i);
    else if (next < bundles.length && (bundles[next]!.files?.[0] ?? bundles[next]!.call.file) === table.files[i]) planned.push(bundles[next++]!);
  }
  while (next < bundles.length) planned.push(bundles[next++]!);
  return new RunPlan({ calls: planned, keptItems, errors, skipped, warnings: matched.warnings, unmatchedLeads: matched.unmatchedLeads }, table, ctx);
}
