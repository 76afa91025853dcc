/**
 * The errors of the ingest API (`crm-upload serve`). Each carries the HTTP status it is answered with
 * and, for bad input, every problem found, so that an agent fixes its request in one round trip
 * instead of one field at a time.
 */
import { CrmUploadError, type ErrorCode, type ErrorContext } from '../errors.ts';

/** Code of a request whose body or fields are wrong (400). */
export const E_SERVE_INVALID = 'E_SERVE_INVALID';
/** Code of a body over the size limit (413). */
export const E_SERVE_TOO_LARGE = 'E_SERVE_TOO_LARGE';
/** Code of a body that is neither JSON nor multipart/form-data (415). */
export const E_SERVE_MEDIA_TYPE = 'E_SERVE_MEDIA_TYPE';
/** Code of a `/v1` request without the right Bearer token (401). */
export const E_SERVE_UNAUTHORIZED = 'E_SERVE_UNAUTHORIZED';
/** Code of an unknown callId or route (404). */
export const E_SERVE_NOT_FOUND = 'E_SERVE_NOT_FOUND';

/** Code of a request a browser sent on behalf of another site (403). */
export const E_SERVE_CROSS_SITE = 'E_SERVE_CROSS_SITE';
/** Code of a request whose `Host` does not name this server (421, DNS rebinding). */
export const E_SERVE_HOST = 'E_SERVE_HOST';
/** Code of a call posted again under its callId with another payload (409). */
export const E_SERVE_CONFLICT = 'E_SERVE_CONFLICT';
/** Code of an upload refused for now: too many at once, or too little free disk (503 with Retry-After). */
export const E_SERVE_BUSY = 'E_SERVE_BUSY';

/** HTTP statuses the ingest API answers errors with. */
export type ServeErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 421 | 503;

/** Most problems one 400 lists (a request with thousands of bad fields gets a short answer). */
export const MAX_PROBLEMS = 20;
/** Longest field path a problem repeats; longer ones are cut (a field name is the client's text). */
export const MAX_FIELD_CHARS = 100;
// Longest message of one problem.
const MAX_MESSAGE_CHARS = 400;

/** `text` cut to `max` characters, with `…` when cut. */
export function capText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * One problem of a request. `field` is a path into the request as the client sent it
 * (`session.items[3].content`, `lead.email`, `recordingPath`; `""` for the body as a whole).
 */
export interface RequestProblem {
  field: string;
  code: string;
  message: string;
}

/** An ingest request that is refused; answered with `status` and `{code, message, problems}`. */
export class ServeRequestError extends CrmUploadError {
  /** HTTP status of the answer. */
  readonly status: ServeErrorStatus;
  /** Every problem found (empty for errors that are not about fields, such as a 401). */
  readonly problems: RequestProblem[];
  /** Seconds the client should wait before trying again (a 503): sent as `Retry-After`. */
  retryAfterSeconds: number | null = null;

  constructor(status: ServeErrorStatus, code: ErrorCode, message: string, problems: RequestProblem[] = [], context: ErrorContext = {}) {
    super(message, { ...context, code, status, field: problems[0]?.field });
    this.status = status;
    this.problems = problems;
  }
}

/**
 * A 400 listing `problems` (at least one), at most `MAX_PROBLEMS` of them with their fields and messages
 * cut to a readable length; the message names them and says how many more there were.
 */
export function invalidRequest(problems: RequestProblem[]): ServeRequestError {
  const shown = problems.slice(0, MAX_PROBLEMS).map((p) => ({ field: capText(p.field, MAX_FIELD_CHARS), code: p.code, message: capText(p.message, MAX_MESSAGE_CHARS) }));
  const more = problems.length - shown.length;
  const summary = shown.map((p) => (p.field === '' ? p.message : `${p.field}: ${p.message}`)).join('; ') + (more > 0 ? `; and ${more} more problem(s)` : '');
  return new ServeRequestError(400, E_SERVE_INVALID, `invalid request: ${summary}`, shown, more > 0 ? { moreProblems: more } : {});
}

/** A 503 asking the client to come back after `seconds`. */
export function busy(message: string, seconds: number): ServeRequestError {
  const err = new ServeRequestError(503, E_SERVE_BUSY, message);
  err.retryAfterSeconds = seconds;
  return err;
}

/** A 413 for a body over `limit` bytes. */
export function tooLarge(limit: number, what: string): ServeRequestError {
  return new ServeRequestError(413, E_SERVE_TOO_LARGE, `${what} is over the ${limit}-byte limit of this server`);
}
