/**
 * `reconcile` (issue 9): prove that the CRM holds what the outbox delivered. Pages through the CRM's
 * `GET call-data` for a range of call start times, reads the outbox's delivered calls in the same
 * range (`store.listDelivered`), and reports three lists: delivered here but missing in the CRM,
 * present in the CRM but not delivered from here, and present in both with a different payload hash
 * (see `payload-hash.ts`) — and a fourth: callIds the CRM holds more than once (a CRM that ignores
 * `Idempotency-Key` stores a repeated POST as a second call; docs/architecture.md, "Reconcile"). With `requeue`, the missing ones go back to pending (`store.requeue`) for the
 * worker to send again, under the same Idempotency-Key and without uploading the recording again.
 *
 * Both sides are filtered alike: the CRM by the configured campaign and agent ids (when set), and the
 * outbox by the same ids in each payload, since a call's own campaign metadata can override them.
 */
import type { CrmClient, ListCallDataQuery } from '../crm/crm-client.ts';
import { CrmUploadError } from '../errors.ts';
import type { OutboxItem, OutboxState, OutboxStore } from '../outbox/outbox-store.ts';
import { crmPayload, payloadHash, sentPayload } from './payload-hash.ts';

/** Default page size of the CRM listing (the local CRM, like the real one, caps a page at 1000). */
export const DEFAULT_PAGE_SIZE = 500;
/** Page size of the outbox reads. */
const OUTBOX_PAGE = 1000;
// A CRM that keeps saying hasMore must not keep reconcile going for ever.
const MAX_PAGES = 100_000;

/** The CRM could not be listed (unreachable, refused, or an answer of the wrong shape). */
export class ReconcileError extends CrmUploadError {
  constructor(message: string, context: { status?: number; offset?: number } = {}, options?: { cause?: unknown }) {
    super(message, { ...context, code: 'E_RECONCILE_CRM', cause: options?.cause });
  }
}

/** Options of `reconcile`. */
export interface ReconcileOptions {
  store: OutboxStore;
  client: CrmClient;
  /** Calls that started at or after this time (epoch ms); null for no lower bound. */
  since: number | null;
  /** Calls that started at or before this time; null for no upper bound. */
  until: number | null;
  campaignId?: string | null;
  voiceAgentId?: string | null;
  /** Put the calls missing in the CRM back to pending. */
  requeue?: boolean;
  /** Default `DEFAULT_PAGE_SIZE`. */
  pageSize?: number;
}

/** One call of a list. */
export interface ReconcileEntry {
  callId: string;
  /** The call's start (`callDetails.startTime`), or null when the record has none. */
  startTime: string | null;
}

/** What `reconcile` found (also the `--json` output). */
export interface ReconcileReport {
  since: string | null;
  until: string | null;
  campaignId: string | null;
  voiceAgentId: string | null;
  /** Delivered calls of the outbox in the range (after the id filters). */
  outbox: number;
  /** Distinct calls the CRM listed. */
  crm: number;
  /** In both, with the same payload hash. */
  matched: number;
  /** Delivered here, not in the CRM. */
  missingInCrm: ReconcileEntry[];
  /** In the CRM, not delivered from here: `state` is the call's state in the outbox, null when unknown to it. */
  unknownHere: (ReconcileEntry & { state: OutboxState | null })[];
  /** In both, with different payloads (SHA-256 of the canonical JSON of each side). */
  hashMismatch: (ReconcileEntry & { outboxHash: string; crmHash: string })[];
  /**
   * Calls the CRM lists more than once (`count` records of one callId), whoever sent them: duplicates
   * that only the CRM's side can remove. The other lists compare the first record of each.
   */
  duplicates: (ReconcileEntry & { count: number })[];
  /** How many of the missing ones went back to pending (0 without `requeue`). */
  requeued: number;
  /** GET requests made to the CRM. */
  crmPages: number;
}

/** True when the report found no difference. */
export function reconciled(report: ReconcileReport): boolean {
  return report.missingInCrm.length === 0 && report.unknownHere.length === 0 && report.hashMismatch.length === 0 && report.duplicates.length === 0;
}

/** Compare and report (and requeue when asked). Rejects with a ReconcileError when the CRM cannot be listed. */
export async function reconcile(options: ReconcileOptions): Promise<ReconcileReport> {
  const { store, since, until } = options;
  const campaignId = options.campaignId ?? null;
  const voiceAgentId = options.voiceAgentId ?? null;
  const listing = await listCrmCalls(options.client, {
    ...(campaignId === null ? {} : { campaignId }),
    ...(voiceAgentId === null ? {} : { voiceAgentId }),
    ...(since === null ? {} : { startDate: new Date(since).toISOString() }),
    ...(until === null ? {} : { endDate: new Date(until).toISOString() }),
    pageSize: options.pageSize ?? DEFAULT_PAGE_SIZE,
  });

  const delivered = new Map<string, OutboxItem>();
  for (let offset = 0; ; offset += OUTBOX_PAGE) {
    const page = await store.listDelivered({ ...(since === null ? {} : { startFrom: since }), ...(until === null ? {} : { startTo: until }), limit: OUTBOX_PAGE, offset });
    for (const item of page) {
      if (campaignId !== null && item.payload.campaignId !== campaignId) continue;
      if (voiceAgentId !== null && item.payload.voiceAgentId !== voiceAgentId) continue;
      delivered.set(item.callId, item);
    }
    if (page.length < OUTBOX_PAGE) break;
  }

  const missingInCrm: ReconcileReport['missingInCrm'] = [];
  const hashMismatch: ReconcileReport['hashMismatch'] = [];
  let matched = 0;
  for (const item of delivered.values()) {
    const record = listing.records.get(item.callId);
    const entry = { callId: item.callId, startTime: item.payload.callDetails.startTime };
    if (record === undefined) {
      missingInCrm.push(entry);
      continue;
    }
    const outboxHash = payloadHash(sentPayload(item));
    const crmHash = payloadHash(crmPayload(record));
    if (outboxHash === crmHash) matched += 1;
    else hashMismatch.push({ ...entry, outboxHash, crmHash });
  }

  const foreign = [...listing.records.keys()].filter((id) => !delivered.has(id));
  const states = foreign.length === 0 ? new Map<string, OutboxState>() : await store.states(foreign);
  const unknownHere = foreign.map((callId) => ({ callId, startTime: startTimeOf(listing.records.get(callId)), state: states.get(callId) ?? null }));

  const byStart = (a: ReconcileEntry, b: ReconcileEntry): number => (a.startTime ?? '').localeCompare(b.startTime ?? '') || a.callId.localeCompare(b.callId);
  const duplicates = [...listing.counts].filter(([, n]) => n > 1).map(([callId, count]) => ({ callId, startTime: startTimeOf(listing.records.get(callId)), count }));
  missingInCrm.sort(byStart);
  unknownHere.sort(byStart);
  hashMismatch.sort(byStart);
  duplicates.sort(byStart);

  const requeued = options.requeue && missingInCrm.length > 0 ? await store.requeue(missingInCrm.map((m) => m.callId)) : 0;
  return {
    since: since === null ? null : new Date(since).toISOString(),
    until: until === null ? null : new Date(until).toISOString(),
    campaignId,
    voiceAgentId,
    outbox: delivered.size,
    crm: listing.records.size,
    matched,
    missingInCrm,
    unknownHere,
    hashMismatch,
    duplicates,
    requeued,
    crmPages: listing.pages,
  };
}

/** The CRM's calls in a range, by callId, read page by page. */
export interface CrmListing {
  /** The first record listed of each callId. */
  records: Map<string, Record<string, unknown>>;
  /** How many records of each callId were listed (more than 1: a duplicate in the CRM). */
  counts: Map<string, number>;
  pages: number;
}

/**
 * Page through `GET call-data` with `limit`/`offset` until the CRM says there is no more
 * (`pagination.hasMore` or `has_more` false) or, when it says nothing, until a page comes back short.
 */
export async function listCrmCalls(client: CrmClient, query: Omit<ListCallDataQuery, 'limit' | 'offset'> & { pageSize: number }): Promise<CrmListing> {
  const { pageSize, ...filters } = query;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`the page size must be a whole number ≥ 1, got ${pageSize}`);
  const records = new Map<string, Record<string, unknown>>();
  const counts = new Map<string, number>();
  let offset = 0;
  for (let pages = 1; pages <= MAX_PAGES; pages++) {
    const result = await client.listCallData({ ...filters, limit: pageSize, offset });
    if (result.kind === 'error') throw new ReconcileError(`cannot list the CRM's calls: ${result.error}: ${result.message}`, { offset });
    if (result.status < 200 || result.status >= 300) {
      const hint = result.status === 401 || result.status === 403 ? ' (is CRM_API_KEY right?)' : '';
      throw new ReconcileError(`the CRM answered ${result.status} to GET call-data${hint}: ${messageOf(result.body)}`, { status: result.status, offset });
    }
    const page = pageOf(result.body);
    if (page === null) throw new ReconcileError('the CRM answered GET call-data without a data array', { status: result.status, offset });
    for (const record of page.data) {
      const callId = callIdOf(record);
      // A record without a callId cannot be matched to anything: it is not a call of ours either.
      if (callId === null) continue;
      if (!records.has(callId)) records.set(callId, record);
      counts.set(callId, (counts.get(callId) ?? 0) + 1);
    }
    offset += page.data.length;
    const more = page.hasMore ?? page.data.length >= (page.limit ?? pageSize);
    if (!more || page.data.length === 0) return { records, counts, pages };
  }
  throw new ReconcileError(`the CRM kept answering hasMore after ${MAX_PAGES} pages`, { offset });
}

function pageOf(body: unknown): { data: Record<string, unknown>[]; hasMore: boolean | null; limit: number | null } | null {
  if (body === null || typeof body !== 'object') return null;
  const b = body as { data?: unknown; pagination?: unknown; hasMore?: unknown; has_more?: unknown };
  if (!Array.isArray(b.data)) return null;
  const p = (b.pagination !== null && typeof b.pagination === 'object' ? b.pagination : {}) as { hasMore?: unknown; has_more?: unknown; limit?: unknown };
  const flag = [p.hasMore, p.has_more, b.hasMore, b.has_more].find((v) => typeof v === 'boolean') as boolean | undefined;
  return {
    data: b.data.filter((r): r is Record<string, unknown> => r !== null && typeof r === 'object' && !Array.isArray(r)),
    hasMore: flag ?? null,
    limit: typeof p.limit === 'number' && p.limit > 0 ? p.limit : null,
  };
}

function detailsOf(record: Record<string, unknown> | undefined): Record<string, unknown> | null {
  const d = record?.callDetails;
  return d !== null && typeof d === 'object' ? (d as Record<string, unknown>) : null;
}

function callIdOf(record: Record<string, unknown>): string | null {
  const id = detailsOf(record)?.callId;
  return typeof id === 'string' && id !== '' ? id : null;
}

function startTimeOf(record: Record<string, unknown> | undefined): string | null {
  const t = detailsOf(record)?.startTime;
  return typeof t === 'string' ? t : null;
}

function messageOf(body: unknown): string {
  if (body !== null && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  return typeof body === 'string' ? body.slice(0, 200) : '(no message)';
}
