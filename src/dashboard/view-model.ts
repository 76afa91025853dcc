/**
 * What the dashboard shows, as plain data: the same objects feed the HTML pages and the JSON
 * endpoints, and every piece of personal data in them has been masked already (unless `--show-pii`),
 * so no renderer can forget to.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { maskPhone, maskText } from '../log/mask.ts';
import type { AttemptLogEntry, OutboxCounts, OutboxItem, OutboxState } from '../outbox/outbox-store.ts';
import type { StatsSnapshot } from './stats.ts';

/** How text reaches the page: masked, or as is with `--show-pii`. */
export interface Masker {
  /** Free text (errors, notes): phone numbers and emails masked. */
  text(value: string): string;
  /** A phone number. */
  phone(value: string): string;
  /**
   * A file name or URL: also masks digit runs glued to other characters, which free-text masking
   * leaves alone (recordings are named `number-_<caller digits>-<epoch>.ogg`).
   */
  file(value: string): string;
}

/** The masker of a dashboard. */
export function maskerFor(showPii: boolean): Masker {
  if (showPii) return { text: (v) => v, phone: (v) => v, file: (v) => v };
  return {
    text: maskText,
    phone: (v) => (v === '' ? v : maskPhone(v)),
    file: (v) => maskText(v).replace(/\d{9,}/g, (digits) => `${'*'.repeat(digits.length - 2)}${digits.slice(-2)}`),
  };
}

/** One dead item in the list. */
export interface DeadRow {
  callId: string;
  attempts: number;
  lastStatus: number | null;
  /** The last error, masked. */
  reason: string;
  /** When it went dead (its last change), epoch ms. */
  deadAt: number;
  /** The input file's base name, masked. */
  sourceFile: string | null;
}

/** The overview page's data. */
export interface SummaryView {
  counts: Record<OutboxState, number>;
  nextAttemptAt: number | null;
  oldestPendingAt: number | null;
  /** Age of the oldest undelivered item at `generatedAt`, ms; null when there is none. */
  oldestPendingAgeMs: number | null;
  stats: StatsSnapshot;
  dead: { total: number; rows: DeadRow[] };
  /** Where the outbox is (a file path, or the Redis URL without its password). */
  outbox: string;
  generatedAt: number;
  /** Changes whenever anything shown changes; the page re-renders when it does. */
  changeKey: string;
}

/** The per-call page's data. */
export interface CallView {
  callId: string;
  state: OutboxState;
  attempts: number;
  rateLimitWaits: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
  /** Pending: when it is next due. */
  nextAttemptAt: number | null;
  sourceFile: string | null;
  campaignId: string;
  voiceAgentId: string;
  callerNumber: string;
  startTime: string;
  endTime: string;
  durationS: number;
  recording: { file: string | null; url: string | null; size: number | null; durationS: number | null; note: string | null };
  /** Every request of every attempt, oldest first, errors masked. */
  history: AttemptLogEntry[];
  generatedAt: number;
  changeKey: string;
}

/** A stable digest of what is shown, leaving out the time it was generated. */
export function changeKeyOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64url').slice(0, 16);
}

/** A dead item as a row of the list. */
export function deadRow(item: OutboxItem, mask: Masker): DeadRow {
  return {
    callId: item.callId,
    attempts: item.attempts,
    lastStatus: item.lastStatus,
    reason: mask.text(item.lastError ?? ''),
    deadAt: item.updatedAt,
    sourceFile: item.sourceFile === null ? null : mask.file(basename(item.sourceFile)),
  };
}

/** The overview's data from what was read. */
export function summaryView(args: { counts: OutboxCounts; stats: StatsSnapshot; dead: OutboxItem[]; outbox: string; now: number; mask: Masker }): SummaryView {
  const { counts, now } = args;
  const base = {
    counts: { pending: counts.pending, in_flight: counts.in_flight, delivered: counts.delivered, dead: counts.dead },
    nextAttemptAt: counts.nextAttemptAt,
    oldestPendingAt: counts.oldestPendingAt,
    stats: args.stats,
    dead: { total: counts.dead, rows: args.dead.map((i) => deadRow(i, args.mask)) },
    outbox: args.outbox,
  };
  // The age moves every second; the page shows it from `oldestPendingAt`, so it is not in the key.
  return { ...base, oldestPendingAgeMs: counts.oldestPendingAt === null ? null : Math.max(0, now - counts.oldestPendingAt), generatedAt: now, changeKey: changeKeyOf(base) };
}

/** One call's data from what was read. */
export function callView(item: OutboxItem, history: AttemptLogEntry[], now: number, mask: Masker): CallView {
  const d = item.payload.callDetails;
  const base = {
    callId: item.callId,
    state: item.state,
    attempts: item.attempts,
    rateLimitWaits: item.rateLimitWaits,
    lastStatus: item.lastStatus,
    lastError: item.lastError === null ? null : mask.text(item.lastError),
    createdAt: item.createdAt,
    updatedAt: item.updatedAt,
    deliveredAt: item.deliveredAt,
    nextAttemptAt: item.state === 'pending' ? item.nextAttemptAt : null,
    sourceFile: item.sourceFile === null ? null : mask.file(item.sourceFile),
    campaignId: item.payload.campaignId,
    voiceAgentId: item.payload.voiceAgentId,
    callerNumber: mask.phone(d.callerNumber),
    startTime: d.startTime,
    endTime: d.endTime,
    durationS: d.duration,
    recording: {
      file: item.recording.path === null ? null : mask.file(basename(item.recording.path)),
      url: item.recording.url === null ? null : mask.file(item.recording.url),
      size: item.recording.size,
      durationS: item.recording.duration,
      note: item.recording.note === null ? null : mask.text(item.recording.note),
    },
    history: history.map((h) => ({ ...h, error: h.error === null ? null : mask.text(h.error) })),
  };
  return { ...base, generatedAt: now, changeKey: changeKeyOf(base) };
}
