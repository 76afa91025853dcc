/**
 * The deterministic call id of docs/architecture.md: `CALL-<YYYYMMDD-HHMMSS of call start, UTC>-<last 8 chars of
 * session id>`. The same input always gives the same id, which is what makes re-runs safe.
 */

/** Build the callId from the call's UTC start (ISO) and its session id. */
export function makeCallId(startTimeUtc: string, sessionId: string): string {
  const d = new Date(startTimeUtc);
  if (Number.isNaN(d.getTime())) throw new RangeError(`not a time: ${startTimeUtc}`);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp = `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
  return `CALL-${stamp}-${sessionId.slice(-8)}`;
}
