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

/** Base class of every deliberate error of crm-upload. */
export class CrmUploadError extends Error {
  /** Stable machine-readable code, e.g. `E_INPUT_JSON`. */
  readonly code: string;
  /** Where the error arose. */
  readonly context: ErrorContext;

  constructor(code: string, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.context = context;
  }
}

/** A configuration or usage problem: the CLI exits 2. A subclass may give a more precise code. */
export class ConfigError extends CrmUploadError {
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'E_CONFIG', message, context, options);
  }
}

/** Bad input: a file that cannot be read, parsed or understood. It fails that file only, never a batch. */
export class InputError extends CrmUploadError {}

/** A payload that does not validate against the contract; it is never sent. */
export class PayloadValidationError extends CrmUploadError {
  /** One entry per violation: the JSON pointer of the field and what is wrong with it. */
  readonly problems: { field: string; message: string }[];
  constructor(problems: { field: string; message: string }[], context: ErrorContext = {}) {
    const first = problems[0];
    super(
      'E_PAYLOAD_INVALID',
      `payload does not match the contract: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
      { ...context, field: first?.field },
    );
    this.problems = problems;
  }
}

/** An HTTP exchange with the CRM that did not deliver. */
export class CrmHttpError extends CrmUploadError {}

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
