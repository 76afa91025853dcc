/**
 * What a callId may be, at every door (docs/architecture.md, "Security" → "The ingest door"): 1 to 128 of
 * `A-Z a-z 0-9 . _ -`, and not all digits. BullMQ refuses job ids with `:` and ids that are whole numbers
 * (they collide with its own counters), and a refused id inside one `enqueueMany` failed every call batched
 * with it; the same rule everywhere keeps both outbox stores interchangeable, and keeps ids safe in file
 * names, URLs and logs.
 */
import { InputError } from '../errors.ts';

/** The shape of a callId. */
export const CALL_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
/** Code of a callId that breaks the rule. */
export const E_CALL_ID = 'E_CALL_ID' as const;
// How much of a refused id an error message repeats (a refused id may be megabytes long).
const SHOWN_CHARS = 140;

/** Why `id` is not a valid callId, or null when it is one. */
export function callIdProblem(id: unknown): string | null {
  if (typeof id !== 'string') return 'a callId must be a string';
  if (!CALL_ID_PATTERN.test(id)) {
    return id.length > 128 || id.length === 0
      ? `a callId has 1 to 128 characters (this one has ${id.length})`
      : 'a callId may only hold letters, digits, ".", "_" and "-"';
  }
  if (/^\d+$/.test(id)) return 'a callId must not be all digits';
  return null;
}

/** True when `id` is a valid callId. */
export function isValidCallId(id: unknown): id is string {
  return callIdProblem(id) === null;
}

/** An id as an error message may show it: JSON-quoted (control characters escaped), cut to a readable length. */
export function shownCallId(id: unknown): string {
  const text = typeof id === 'string' ? id : String(id);
  const cut = text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}…` : text;
  return JSON.stringify(cut);
}

/** A callId that breaks the rule (`E_CALL_ID`); `context.callId` holds the id as shown. */
export class InvalidCallIdError extends InputError {
  constructor(id: unknown, where: string) {
    super(`invalid callId ${shownCallId(id)} (${where}): ${callIdProblem(id) ?? 'refused'}; use 1-128 of A-Z a-z 0-9 . _ - and not only digits`, {
      code: E_CALL_ID,
      callId: shownCallId(id),
      field: where,
    });
  }
}

/** Throw an InvalidCallIdError unless `id` is valid; `where` names the option or field it came from. */
export function assertValidCallId(id: unknown, where: string): asserts id is string {
  if (!isValidCallId(id)) throw new InvalidCallIdError(id, where);
}
