/**
 * One finding of `crm-upload doctor`: what was checked, how it came out, and — when it is not fine —
 * the fix, in words a person can act on. Each check is a pure function returning one of these; the
 * probes (network, files, Redis) only gather the facts the checks read.
 */

/** `ok` ✓, `warn` ! (works, but should be changed), `fail` ✗ (will not work), `skip` - (not applicable). */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of the doctor's report. */
export interface CheckResult {
  /** Stable name for scripts (`--json`): `ids`, `url.CRM_API_URL`, `crm.answer`, `outbox.mode`, … */
  id: string;
  /** What was checked, shown before the detail. */
  title: string;
  status: CheckStatus;
  /** What was found (never a secret). */
  detail: string;
  /** What to do, for `warn` and `fail`. */
  fix?: string;
}

/** The mark of each status at the start of a line. */
export const MARK: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' };

/** One line for people: `✓ title: detail` or `✗ title: detail — fix: …`. */
export function formatCheck(r: CheckResult): string {
  return `${MARK[r.status]} ${r.title}: ${r.detail}${r.fix !== undefined && r.status !== 'ok' ? ` — fix: ${r.fix}` : ''}`;
}

/** 0 when nothing failed (warnings included), 1 when a check failed. */
export function doctorExitCode(results: readonly CheckResult[]): 0 | 1 {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}

/** The `--json` form: `ok` is what the exit code says. */
export function doctorJson(results: readonly CheckResult[]): { ok: boolean; checks: CheckResult[] } {
  return { ok: doctorExitCode(results) === 0, checks: [...results] };
}
