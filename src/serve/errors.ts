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

/** HTTP statuses the ingest API answers errors with. */
export type ServeErrorStatus = 400 | 401 | 404 | 413 | 415;

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

  constructor(status: ServeErrorStatus, code: ErrorCode, message: string, problems: RequestProblem[] = [], context: ErrorContext = {}) {
    super(message, { ...context, code, status, field: problems[0]?.field });
    this.status = status;
    this.problems = problems;
  }
}

/** A 400 listing `problems` (at least one); the message names them all. */
export function invalidRequest(problems: RequestProblem[]): ServeRequestError {
  const summary = problems.map((p) => (p.field === '' ? p.message : `${p.field}: ${p.message}`)).join('; ');
  return new ServeRequestError(400, E_SERVE_INVALID, `invalid request: ${summary}`, problems);
}

/** A 413 for a body over `limit` bytes. */
export function tooLarge(limit: number, what: string): ServeRequestError {
  return new ServeRequestError(413, E_SERVE_TOO_LARGE, `${what} is over the ${limit}-byte limit of this server`);
}
