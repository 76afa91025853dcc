/**
 * The CRM's own endpoints (docs/architecture.md, top): call-data POST and GET, recording upload, and the GET of an
 * uploaded recording. Faults have already been applied by the server when these run, except forced
 * statuses, which need the request's callId.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import type { CallPayload } from '../payload/call-payload.ts';
import type { FaultInjector } from './faults.ts';
import { drain, readJson, sendJson } from './http-io.ts';
import { readMultipartFile } from './multipart.ts';
import type { ForceStatusRule } from './options.ts';
import type { RequestLog, RequestRecord } from './request-log.ts';
import { processedFirst, sendStrangeAnswer, type StrangeAnswerRule } from './strange-answers.ts';
import type { CrmStore } from './store.ts';
import { validateCallData } from './validate-call-data.ts';

/** Path of call-data (POST and GET). */
export const CALL_DATA_PATH = '/apis/api/public/call-data';
/** Path of the recording upload. */
export const UPLOAD_PATH = '/apis/api/public/upload';
/** Prefix under which uploaded recordings are served, as in the real CRM's URLs. */
export const RECORDINGS_PATH = '/apis/uploads/recordings/';

/** What the handlers share. */
export interface CrmContext {
  store: CrmStore;
  faults: FaultInjector;
  log: RequestLog;
  /** `http://127.0.0.1:PORT`, for the URLs of uploads. */
  origin: string;
}

let idCounter = 0;

/**
 * `POST call-data`: validate, then create, replay or refuse (409) by callId and Idempotency-Key (or, with
 * `ignoreIdempotency`, create one more copy whatever was held; with `lostAnswerRate`, sometimes store and
 * then cut the connection instead of answering). The body
 * is read and validated at once; the answer (and the store) waits for `waitToAnswer`, which resolves
 * false when the client gave up meanwhile: then nothing is stored.
 */
export async function postCallData(
  ctx: CrmContext,
  req: IncomingMessage,
  res: ServerResponse,
  record: RequestRecord,
  waitToAnswer: () => Promise<boolean> = async () => true,
): Promise<void> {
  ctx.log.stats.callDataPosts++;
  const parsed = await readJson(req);
  const payload = parsed.ok ? parsed.value : undefined;
  const callId = callIdOf(payload);
  record.callId = callId;
  record.bodySha256 = parsed.sha256;
  const errors = parsed.ok ? validateCallData(payload) : [];
  if (!(await waitToAnswer())) return;

  const rule = ctx.faults.takeCallDataRule(callId);
  if (rule) {
    ctx.log.fault(record, 'forceStatus');
    return sendForced(res, rule);
  }
  const strange = ctx.faults.takeStrangeAnswer('call-data', callId);
  if (strange !== null && !processedFirst(strange.kind)) return strangeReply(ctx, res, record, strange, 200);
  const reply = (status: number, body: unknown, headers?: Record<string, string>): void =>
    strange === null ? sendJson(res, status, body, headers) : strangeReply(ctx, res, record, strange, status);
  if (!parsed.ok) {
    ctx.log.stats.invalid++;
    return sendJson(res, parsed.status, { success: false, message: parsed.message, errors: [] });
  }
  if (errors.length > 0 || callId === null) {
    ctx.log.stats.invalid++;
    return sendJson(res, 400, { success: false, message: 'Validation failed', errors });
  }

  const { ignoreIdempotency } = ctx.faults.settings;
  const existing = ignoreIdempotency ? undefined : ctx.store.getCall(callId);
  if (existing) {
    if (record.idempotencyKey !== null && record.idempotencyKey === existing.idempotencyKey) {
      ctx.log.stats.replays++;
      return reply(existing.response.status, existing.response.body, { 'idempotent-replayed': 'true' });
    }
    ctx.log.stats.conflicts++;
    return reply(409, { success: false, message: 'call already exists' });
  }

  const createdAt = new Date().toISOString();
  const id = `${Math.floor(Date.now() / 1000).toString(16).padStart(8, '0')}${(++idCounter).toString(16).padStart(16, '0')}`;
  const response = { status: 201, body: { success: true, message: 'Call data saved successfully', data: { id, callId, createdAt } } };
  ctx.log.stats.created++;
  const call = { callId, payload: payload as CallPayload, idempotencyKey: record.idempotencyKey, response, createdAt };
  if (ignoreIdempotency) {
    // A CRM that ignores Idempotency-Key: every POST is a new call, a repeat a duplicate.
    if (ctx.store.getCall(callId)) ctx.log.stats.duplicates++;
    await ctx.store.addCopy(call);
  } else {
    await ctx.store.putCall(call);
  }
  if (ctx.faults.loseAnswer()) {
    // Stored, and the answer lost on the way back: the client sees a closed connection.
    ctx.log.fault(record, 'lostAnswer');
    req.socket.destroy();
    return;
  }
  reply(response.status, response.body);
}

/** `POST upload`: store the multipart `file` once per Idempotency-Key and answer with its URL. */
export async function postUpload(ctx: CrmContext, req: IncomingMessage, res: ServerResponse, record: RequestRecord): Promise<void> {
  ctx.log.stats.uploads++;
  const rule = ctx.faults.takeUploadRule();
  if (rule) {
    ctx.log.fault(record, 'uploadStatus');
    await drain(req);
    return sendForced(res, rule);
  }
  const strange = ctx.faults.takeStrangeAnswer('upload', null);
  if (strange !== null && !processedFirst(strange.kind)) {
    await drain(req);
    return strangeReply(ctx, res, record, strange, 200);
  }
  const reply = (status: number, body: unknown, headers?: Record<string, string>): void =>
    strange === null ? sendJson(res, status, body, headers) : strangeReply(ctx, res, record, strange, status);
  const earlier = record.idempotencyKey === null ? undefined : ctx.store.uploadByKey(record.idempotencyKey);
  if (earlier) {
    await drain(req);
    ctx.log.stats.uploadReplays++;
    return reply(earlier.response.status, earlier.response.body, { 'idempotent-replayed': 'true' });
  }
  const parsed = await readMultipartFile(req);
  if (!parsed.ok) return sendJson(res, 400, { success: false, message: parsed.message });

  const { file } = parsed;
  const filename = ctx.store.newFilename(extname(file.name).toLowerCase() || '.bin');
  const body = {
    success: true,
    message: 'File uploaded successfully',
    data: {
      filename,
      originalName: file.name,
      size: file.data.length,
      url: `${ctx.origin}${RECORDINGS_PATH}${filename}`,
      relativeUrl: `/uploads/recordings/${filename}`,
    },
  };
  ctx.log.stats.uploadsStored++;
  await ctx.store.putUpload(
    {
      filename,
      originalName: file.name,
      contentType: file.type || 'application/octet-stream',
      size: file.data.length,
      idempotencyKey: record.idempotencyKey,
      response: { status: 200, body },
      createdAt: new Date().toISOString(),
    },
    file.data,
  );
  reply(200, body);
}

/** `GET call-data`: filters, then one page sorted by `callDetails.startTime` (then callId). */
export function listCallData(ctx: CrmContext, url: URL, res: ServerResponse): void {
  ctx.log.stats.listRequests++;
  const q = url.searchParams;
  const int = (name: string, dflt: number, min: number): number | string => {
    const v = q.get(name);
    if (v === null || v === '') return dflt;
    const n = Number(v);
    return Number.isInteger(n) && n >= min ? n : `${name} must be a whole number ≥ ${min}`;
  };
  const date = (name: string): number | null | string => {
    const v = q.get(name);
    if (v === null || v === '') return null;
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : `${name} must be an ISO date`;
  };
  const limitRaw = int('limit', 50, 1);
  const offset = int('offset', 0, 0);
  const start = date('startDate');
  const end = date('endDate');
  for (const v of [limitRaw, offset, start, end]) {
    if (typeof v === 'string') return sendJson(res, 400, { success: false, message: v });
  }
  const limit = Math.min(limitRaw as number, 1000);
  const eq = (name: string, actual: string): boolean => {
    const want = q.get(name);
    return want === null || want === '' || want === actual;
  };
  const matching = ctx.store
    .calls()
    .map((c) => c.payload)
    .filter((p) => {
      const t = Date.parse(p.callDetails.startTime);
      return (
        eq('campaignId', p.campaignId) &&
        eq('voiceAgentId', p.voiceAgentId) &&
        eq('callId', p.callDetails.callId) &&
        (start === null || t >= (start as number)) &&
        (end === null || t <= (end as number))
      );
    })
    .sort((a, b) => a.callDetails.startTime.localeCompare(b.callDetails.startTime) || a.callDetails.callId.localeCompare(b.callDetails.callId));
  const page = matching.slice(offset as number, (offset as number) + limit);
  sendJson(res, 200, {
    success: true,
    data: page,
    pagination: { total: matching.length, limit, offset, hasMore: (offset as number) + page.length < matching.length },
  });
}

/** `GET /apis/uploads/recordings/<filename>`: the bytes of an uploaded recording. */
export function getRecording(ctx: CrmContext, filename: string, res: ServerResponse): void {
  const meta = ctx.store.uploads().find((u) => u.filename === filename);
  const data = meta ? ctx.store.recordingData(filename) : undefined;
  if (!meta || !data) return sendJson(res, 404, { success: false, message: 'recording not found' });
  res.writeHead(200, { 'content-type': meta.contentType, 'content-length': data.length });
  res.end(data);
}

// A strange answer in place of `status`'s (docs/architecture.md, "Servers" → "Local CRM").
function strangeReply(ctx: CrmContext, res: ServerResponse, record: RequestRecord, rule: StrangeAnswerRule, status: number): void {
  ctx.log.fault(record, 'strangeAnswer');
  sendStrangeAnswer(res, rule, status);
}

function sendForced(res: ServerResponse, rule: ForceStatusRule): void {
  const headers: Record<string, string> = {};
  if (rule.retryAfterS !== undefined) headers['retry-after'] = String(rule.retryAfterS);
  const ok = rule.status < 300;
  sendJson(res, rule.status, { success: ok, message: rule.message ?? `forced status ${rule.status}` }, headers);
}

function callIdOf(payload: unknown): string | null {
  if (payload === null || typeof payload !== 'object') return null;
  const details = (payload as { callDetails?: unknown }).callDetails;
  if (details === null || typeof details !== 'object') return null;
  const id = (details as { callId?: unknown }).callId;
  return typeof id === 'string' && id !== '' ? id : null;
}
