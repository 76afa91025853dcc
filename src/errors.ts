/**
 * Typed errors. Every error the project raises on purpose carries a stable `code` and the context
 * needed to act on it (file, field, callId, attempt, HTTP status), so that the CLI can print one clear
 * line and scripts can branch on the code rather than on the message.
 */

/** Context attached to an error; every key is optional because errors arise at different steps. */
export interface ErrorContext {
  file?: string;
  field?: string;
  callId?: string;
  attempt?: number;
  status?: number;
  variable?: string;
  [key: string]: unknown;
}

/**
 * Every code a crm-upload error carries, one union so that a script's `switch (err.code)` is checked
 * and a typo in a code is a type error. A new code is added here first.
 */
export const ERROR_CODES = [
  'E_BACKUP_EXISTS',
  'E_CALL_ID',
  'E_CLOSED',
  'E_CONFIG',
  'E_CRM_HTTP',
  'E_DASHBOARD_BAD_REQUEST', 'E_DASHBOARD_CROSS_ORIGIN', 'E_DASHBOARD_HOST', 'E_DASHBOARD_INTERNAL', 'E_DASHBOARD_MEDIA_TYPE', 'E_DASHBOARD_METHOD', 'E_DASHBOARD_NOT_FOUND', 'E_DASHBOARD_UNAUTHORIZED',
  'E_INPUT', 'E_INPUT_AUDIO', 'E_INPUT_AUDIO_INCOMPLETE', 'E_INPUT_FIELD', 'E_INPUT_FORMAT', 'E_INPUT_GONE', 'E_INPUT_JSON', 'E_INPUT_KIND', 'E_INPUT_MANIFEST', 'E_INPUT_MISSING', 'E_INPUT_NOT_FILE', 'E_INPUT_OUTSIDE', 'E_INPUT_READ', 'E_INPUT_REPR', 'E_INPUT_TIME', 'E_INPUT_TOO_LARGE',
  'E_JOURNAL_HEADER',
  'E_MATCH',
  'E_OUTBOX_BUSY', 'E_OUTBOX_CLOSED', 'E_OUTBOX_CORRUPT', 'E_OUTBOX_FILE_INVALID', 'E_OUTBOX_FULL', 'E_OUTBOX_IN_USE', 'E_OUTBOX_IO', 'E_OUTBOX_ITEM', 'E_OUTBOX_KEY', 'E_OUTBOX_MISSING', 'E_OUTBOX_READONLY', 'E_OUTBOX_TOO_NEW', 'E_OUTBOX_UNSUPPORTED',
  'E_PAYLOAD_INVALID',
  'E_RECONCILE_CRM',
  'E_SERVE_BUSY', 'E_SERVE_CONFLICT', 'E_SERVE_CROSS_SITE', 'E_SERVE_HOST', 'E_SERVE_INTERNAL', 'E_SERVE_INVALID', 'E_SERVE_MEDIA_TYPE', 'E_SERVE_MISSING_ID', 'E_SERVE_NOT_FILE', 'E_SERVE_NOT_FOUND', 'E_SERVE_NO_RECORDINGS_DIR', 'E_SERVE_TOO_LARGE', 'E_SERVE_UNAUTHORIZED',
  'E_SESSION_WRITE',
  'E_UNEXPECTED',
  'E_USAGE',
] as const;

/** A stable machine-readable error code, e.g. `E_INPUT_JSON`. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** True when `value` is one of crm-upload's error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/**
 * What every error constructor takes after its message: the code (each class has a default), the cause,
 * and the context to act on (file, field, callId, …). One shape for every class:
 * `new ConfigError(message, { variable: 'CRM_OUTBOX', cause })`.
 */
export interface ErrorOptions extends ErrorContext {
  /** Default: the class's own code (`defaultCode`). */
  code?: ErrorCode;
  cause?: unknown;
}

/** Base class of every deliberate error of crm-upload. */
export class CrmUploadError extends Error {
  /** The code of an error of this class made without one. */
  static readonly defaultCode: ErrorCode = 'E_UNEXPECTED';
  /** Stable machine-readable code, e.g. `E_INPUT_JSON`. */
  readonly code: ErrorCode;
  /** Where the error arose. */
  readonly context: ErrorContext;

  constructor(message: string, options?: ErrorOptions);
  /** @deprecated The positional form of before: use `new XError(message, { code, cause, ...context })`. */
  constructor(code: ErrorCode, message: string, context?: ErrorContext, options?: { cause?: unknown });
  constructor(first: string, second?: string | ErrorOptions, third?: ErrorContext, fourth?: { cause?: unknown }) {
    const options: ErrorOptions = typeof second === 'string' ? { ...third, code: first as ErrorCode, cause: fourth?.cause } : (second ?? {});
    const { code, cause, ...context } = options;
    super(typeof second === 'string' ? second : first, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code ?? (new.target as typeof CrmUploadError).defaultCode;
    this.context = context;
  }
}

/** True when `err` is a crm-upload error (with `code`, when given): a type guard for `catch` blocks. */
export function isCrmUploadError(err: unknown, code?: ErrorCode): err is CrmUploadError {
  return err instanceof CrmUploadError && (code === undefined || err.code === code);
}

/** A configuration or usage problem: the CLI exits 2. A subclass may give a more precise code. */
export class ConfigError extends CrmUploadError {
  static override readonly defaultCode: ErrorCode = 'E_CONFIG';
  constructor(message: string, options?: ErrorOptions);
  /** @deprecated The positional form of before: use `new ConfigError(message, { code, cause, ...context })`. */
  constructor(message: string, context: ErrorContext, options?: { cause?: unknown; code?: ErrorCode });
  constructor(message: string, options: ErrorOptions = {}, legacy?: { cause?: unknown; code?: ErrorCode }) {
    super(message, legacy === undefined ? options : { ...options, ...legacy });
  }
}

/** Bad input: a file that cannot be read, parsed or understood. It fails that file only, never a batch. */
export class InputError extends CrmUploadError {
  static override readonly defaultCode: ErrorCode = 'E_INPUT';
}

/** One violation of the contract: the JSON pointer of the field and what is wrong with it. */
export interface PayloadProblem {
  field: string;
  message: string;
}

/** A payload that does not validate against the contract; it is never sent. */
export class PayloadValidationError extends CrmUploadError {
  static override readonly defaultCode: ErrorCode = 'E_PAYLOAD_INVALID';
  /** One entry per violation. */
  readonly problems: PayloadProblem[];
  constructor(message: string, options: ErrorOptions & { problems: PayloadProblem[] }) {
    const { problems, ...rest } = options;
    super(message, { ...rest, field: rest.field ?? problems[0]?.field });
    this.problems = problems;
  }

  /** The error for these problems, its message naming each. */
  static of(problems: PayloadProblem[], context: ErrorContext = {}): PayloadValidationError {
    return new PayloadValidationError(`payload does not match the contract: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`, {
      ...context,
      problems,
    });
  }
}

/** An HTTP exchange with the CRM that did not deliver. */
export class CrmHttpError extends CrmUploadError {
  static override readonly defaultCode: ErrorCode = 'E_CRM_HTTP';
}

/** Render an error as one line for people: `code: message (file=…, field=…)`. */
export function describeError(err: unknown): string {
  if (err instanceof CrmUploadError) {
    const ctx = Object.entries(err.context)
      .filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(', ');
    return `${err.code}: ${err.message}${ctx ? ` (${ctx})` : ''}`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}
