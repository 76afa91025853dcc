/**
 * Fail points: named places at the step boundaries of a delivery where a test can make the process die,
 * deterministically, as FoundationDB's and TiKV's fail points do (docs/architecture.md, "Delivery" →
 * "What a crash can repeat"). Set only by tests, through the environment:
 *
 *   CRM_UPLOAD_FAILPOINTS="after-post=kill"            the first time the point is reached
 *   CRM_UPLOAD_FAILPOINTS="after-lease=kill@3,mid-settle=kill"   the third time, and so on
 *
 * The variable is read once, when this module is first loaded; without it every `failPoint` call is a
 * no-op costing one Map lookup on an empty map. `kill` is SIGKILL to the process itself: no handler, no
 * flush, no `finally` runs, exactly as a power cut or the OOM killer would leave things.
 */

/** The step boundaries of a delivery that can fail. */
export const FAIL_POINTS = [
  /** The lease is committed; nothing sent yet. */
  'after-lease',
  /** The recording upload was answered; its URL is not checkpointed yet. */
  'after-upload',
  /** The recording's URL is checkpointed; the call-data POST is not sent yet. */
  'after-checkpoint',
  /** The CRM answered the call-data POST; its outcome is not committed yet. */
  'after-post',
  /** Inside the transaction that records a batch of outcomes, before its COMMIT. */
  'mid-settle',
] as const;

/** One fail point's name. */
export type FailPointName = (typeof FAIL_POINTS)[number];

/** Name of the environment variable that sets fail points. */
export const FAILPOINTS_ENV = 'CRM_UPLOAD_FAILPOINTS';

/** What a configured fail point does, and on which hit (1 = the first). */
export interface FailPointAction {
  action: 'kill';
  onHit: number;
}

/** A value of CRM_UPLOAD_FAILPOINTS that cannot be understood. */
export class FailPointConfigError extends Error {
  readonly code = 'E_FAILPOINTS';
  constructor(message: string) {
    super(`${FAILPOINTS_ENV}: ${message}`);
    this.name = 'FailPointConfigError';
  }
}

/**
 * Parse a CRM_UPLOAD_FAILPOINTS value: `name=kill[@N]` items separated by commas. Pure; throws
 * FailPointConfigError naming the bad item, so that a typo in a test fails loudly instead of testing nothing.
 */
export function parseFailPoints(text: string | undefined): Map<FailPointName, FailPointAction> {
  const out = new Map<FailPointName, FailPointAction>();
  if (text === undefined || text.trim() === '') return out;
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([a-z-]+)=(kill)(?:@(\d+))?$/.exec(item);
    if (!m) throw new FailPointConfigError(`"${item}" is not name=kill or name=kill@N`);
    const name = m[1] as FailPointName;
    if (!(FAIL_POINTS as readonly string[]).includes(name)) throw new FailPointConfigError(`unknown fail point "${name}" (known: ${FAIL_POINTS.join(', ')})`);
    const onHit = m[3] === undefined ? 1 : Number(m[3]);
    if (!Number.isSafeInteger(onHit) || onHit < 1) throw new FailPointConfigError(`"${item}": the hit number must be 1 or more`);
    out.set(name, { action: 'kill', onHit });
  }
  return out;
}

// Read once, at load: a test sets the variable for the child process it starts, never later.
const configured = parseFailPoints(process.env[FAILPOINTS_ENV]);
const hits = new Map<FailPointName, number>();

/** Reach fail point `name`: nothing happens unless a test configured it through CRM_UPLOAD_FAILPOINTS. */
export function failPoint(name: FailPointName): void {
  if (configured.size === 0) return;
  const action = configured.get(name);
  if (action === undefined) return;
  const hit = (hits.get(name) ?? 0) + 1;
  hits.set(name, hit);
  if (hit !== action.onHit) return;
  // The line tells a test which point fired; stderr is unbuffered for files and pipes on POSIX.
  process.stderr.write(`failpoint ${name}: kill (hit ${hit})\n`);
  process.kill(process.pid, 'SIGKILL');
}
