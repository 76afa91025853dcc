/**
 * `POST /v1/calls`: read the body (JSON, or multipart with the recording), turn it into a call, keep an
 * uploaded recording durably, enqueue the call durably, and say what became of it. The answer is only
 * given once the outbox item (and its recording file) is on disk.
 */
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import type { OutboxState, OutboxStore } from '../outbox/outbox-store.ts';
import { contentHash } from '../payload/canonical-json.ts';
import type { EnqueueBatcher } from './enqueue-batcher.ts';
import { capText, E_SERVE_CONFLICT, E_SERVE_INVALID, E_SERVE_MEDIA_TYPE, invalidRequest, MAX_FIELD_CHARS, ServeRequestError, tooLarge } from './errors.ts';
import { ingestCall, precheckCall, type IngestedCall, type UploadedRecording } from './ingest-call.ts';
import { MultipartError, multipartBoundary, readMultipart, type PartSink } from './multipart.ts';
import { bodyChunks, checkDeclaredLength, declaredLength, readLimited } from './read-body.ts';
import { checkFreeSpace, type UploadGate } from './upload-gate.ts';
import { beginUpload, keepUpload, keptPathOf, removeKept, type UploadInProgress } from './uploaded-recording.ts';

/** The multipart field holding the call's JSON (the same object as a JSON body). */
export const CALL_PART = 'call';
/** The multipart field holding the recording file. */
export const RECORDING_PART = 'recording';
/** What the outbox records as the source of a call that came through the ingest API. */
export const SOURCE = 'POST /v1/calls';

/** What `POST /v1/calls` needs. */
export interface PostCallContext {
  config: Config;
  store: OutboxStore;
  batcher: EnqueueBatcher;
  /** Where uploaded recordings are kept. */
  uploadsDir: string;
  /** Limit of a JSON body, and of the `call` field of a multipart body. */
  maxJsonBytes: number;
  /** Limit of a whole multipart body (recording included). */
  maxUploadBytes: number;
  /** Multipart uploads in flight: beyond its slots, a 503 with Retry-After. */
  uploads: UploadGate;
  /** Free space the uploads folder keeps: a recording that would eat into it is refused (503). */
  minFreeBytes: number;
  logger: Logger;
}

/** The 202 answer. */
export interface PostCallAnswer {
  callId: string;
  /** The item's state: `pending` when just queued, or the state of the call already there. */
  status: OutboxState;
  /** False when the callId was already in the outbox: nothing new was queued. */
  enqueued: boolean;
  warnings: string[];
}

/** Parse JSON text, refusing malformed text with a problem naming `field`. */
function parseJson(bytes: Buffer, field: string): unknown {
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw invalidRequest([{ field, code: E_SERVE_INVALID, message: 'the body is empty: expected a JSON object' }]);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidRequest([{ field, code: E_SERVE_INVALID, message: `malformed JSON: ${(err as Error).message}` }]);
  }
}

/** Handle one `POST /v1/calls`. Throws a ServeRequestError (400, 413, 415) for a refused request. */
export async function postCall(request: Request, incoming: IncomingMessage | undefined, ctx: PostCallContext): Promise<PostCallAnswer> {
  const type = request.headers.get('content-type') ?? '';
  const length = request.headers.get('content-length');
  if (/^\s*application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type)) {
    checkDeclaredLength(length, ctx.maxJsonBytes, 'the JSON body');
    const body = parseJson(await readLimited(bodyChunks(request, incoming), ctx.maxJsonBytes, 'the JSON body'), '');
    return enqueue(await ingestCall(body, ctx.config), ctx, null);
  }
  if (/^\s*multipart\/form-data\s*(;|$)/i.test(type)) {
    const boundary = multipartBoundary(type);
    if (boundary === null) throw invalidRequest([{ field: '', code: E_SERVE_INVALID, message: 'multipart/form-data without a boundary parameter' }]);
    checkDeclaredLength(length, ctx.maxUploadBytes, 'the multipart body');
    ctx.uploads.enter();
    try {
      return await postMultipart(bodyChunks(request, incoming), boundary, declaredLength(length) ?? 0, ctx);
    } finally {
      ctx.uploads.leave();
    }
  }
  throw new ServeRequestError(
    415,
    E_SERVE_MEDIA_TYPE,
    `expected Content-Type application/json, or multipart/form-data with a "${CALL_PART}" field and a "${RECORDING_PART}" file; got "${type || 'none'}"`,
  );
}

/** Collect a text field within a limit. */
function textSink(limit: number, into: Buffer[]): PartSink {
  let size = 0;
  return {
    write(chunk: Uint8Array): void {
      size += chunk.byteLength;
      if (size > limit) throw tooLarge(limit, `the "${CALL_PART}" field`);
      into.push(Buffer.from(chunk));
    },
    end(): void {},
  };
}

/** A refusal that ends the reading of a multipart body at once (the rest is not read). */
function partProblem(field: string, message: string): ServeRequestError {
  return invalidRequest([{ field: capText(field, MAX_FIELD_CHARS), code: E_SERVE_INVALID, message }]);
}

/**
 * A multipart call: the `call` part first (its JSON is checked before any recording byte is written),
 * then at most one `recording` file. Any other part, a second `call` or a recording before the call
 * stops the reading at once with a 400 naming that part: nothing else is read or listed.
 */
async function postMultipart(chunks: AsyncIterable<Uint8Array>, boundary: string, declared: number, ctx: PostCallContext): Promise<PostCallAnswer> {
  const callParts: Buffer[] = [];
  let sawCall = false;
  let body: unknown = undefined;
  let upload: UploadInProgress | null = null;
  const fields = `the fields are "${CALL_PART}" (first) and the file "${RECORDING_PART}"`;
  try {
    try {
      await readMultipart(chunks, {
        boundary,
        maxBytes: ctx.maxUploadBytes,
        async onPart(part) {
          const name = capText(part.name, MAX_FIELD_CHARS);
          // `call` may come as a plain field or as a file (`curl -F call=@call.json`).
          if (part.name === CALL_PART && !sawCall) {
            sawCall = true;
            return textSink(ctx.maxJsonBytes, callParts);
          }
          if (part.name === RECORDING_PART && !sawCall) throw partProblem(RECORDING_PART, `the "${CALL_PART}" part must come before the "${RECORDING_PART}" file (${fields})`);
          if (part.name === RECORDING_PART && part.filename === null) throw partProblem(RECORDING_PART, `${RECORDING_PART} must be a file part (with a filename)`);
          if (part.name === RECORDING_PART && upload === null) {
            // The call is read and checked before a byte of the recording is written.
            body = parseJson(Buffer.concat(callParts), CALL_PART);
            precheckCall(body, ctx.config);
            await checkFreeSpace(ctx.uploadsDir, ctx.minFreeBytes, declared);
            upload = await beginUpload(ctx.uploadsDir, part.filename);
            return upload.sink;
          }
          const what = part.name === CALL_PART || part.name === RECORDING_PART ? 'appears twice' : 'is not a field of this API';
          throw partProblem(part.name, `multipart field "${name}" ${what} (${fields})`);
        },
      });
    } catch (err) {
      if (err instanceof MultipartError) throw invalidRequest([{ field: '', code: E_SERVE_INVALID, message: `malformed multipart body: ${err.message}` }]);
      throw err;
    }
    if (!sawCall) throw partProblem(CALL_PART, `the multipart field "${CALL_PART}" (the call's JSON) is missing`);
    body ??= parseJson(Buffer.concat(callParts), CALL_PART);
    const received = (upload as UploadInProgress | null)?.received() ?? null;
    const uploaded: UploadedRecording | null = received === null ? null : { file: received, keptPath: keptPathOf(ctx.uploadsDir, received) };
    const call = await ingestCall(body, ctx.config, uploaded);
    if (uploaded === null) return await enqueue(call, ctx, null);
    const { created } = await keepUpload(uploaded.file, uploaded.keptPath);
    upload = null; // kept: no longer ours to discard
    return await enqueue(call, ctx, created ? uploaded.keptPath : null);
  } finally {
    await (upload as UploadInProgress | null)?.discard();
  }
}

/**
 * Enqueue a call. `newFile` is a recording file this request just created: when the call turns out to be
 * queued already with another recording (or none), nobody points at the file and it is removed.
 */
async function enqueue(call: IngestedCall, ctx: PostCallContext, newFile: string | null): Promise<PostCallAnswer> {
  const callId = call.prepared.payload.callDetails.callId;
  let result;
  try {
    result = await ctx.batcher.enqueue({ callId, payload: call.prepared.payload, recordingPath: call.recordingPath, sourceFile: SOURCE });
  } catch (err) {
    if (newFile !== null) await removeKept(newFile).catch(() => undefined);
    throw err;
  }
  if (!result.enqueued) {
    const existing = await ctx.store.get(callId);
    if (newFile !== null && existing?.recording.path !== newFile) await removeKept(newFile);
    // Idempotent only for the same call: another payload under a callId already queued is a client's
    // mistake (two calls given one id) and would otherwise be dropped without a word.
    if (existing !== null && contentHash(existing.payload) !== contentHash(call.prepared.payload)) {
      ctx.logger.debug({ callId }, 'call refused: another payload is queued under its callId');
      throw new ServeRequestError(
        409,
        E_SERVE_CONFLICT,
        `callId ${callId} is already queued with a different payload (state ${existing.state}); a call posted again must be identical, or use another callId`,
        [],
        { callId },
      );
    }
  }
  ctx.logger.debug({ callId, enqueued: result.enqueued, state: result.state }, result.enqueued ? 'call queued' : 'call already queued');
  return { callId, status: result.state, enqueued: result.enqueued, warnings: call.warnings };
}
