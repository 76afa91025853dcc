/**
 * Who writes a journal, and whether that writer is still alive. LiveKit runs each job in its own
 * process, and every `attachCrmUpload` recovers the journals crashed jobs left behind, so recovery
 * must tell a journal whose process died from one whose call is still going on in another process.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isPidAlive } from '../../process/pid-alive.ts';

/** The writer of a journal, as its header records it. */
export interface JournalOwner {
  pid: number;
  host: string;
  /**
   * The process's start time as the kernel counts it (Linux `/proc/<pid>/stat`, field 22), so that a
   * pid reused by a later process (a restarted container starts again at low pids) is not taken for
   * the writer. Absent where there is no /proc.
   */
  procStart?: string;
}

/** What is known of a journal's writer. */
export type OwnerState = 'alive' | 'dead' | 'unknown';

/** The start time of process `pid` from /proc, or undefined where it cannot be read. */
function procStartOf(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its end.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

let self: JournalOwner | null = null;

/** Journals this process is writing now (absolute paths): the only ones of this process that are live. */
const active = new Set<string>();

/** Record that this process writes `journal` (until `releaseJournal`). */
export function claimJournal(journal: string): void {
  active.add(journal);
}

/** This process no longer writes `journal`: if it is still there, recovery may finalise it. */
export function releaseJournal(journal: string): void {
  active.delete(journal);
}

/** This process as a journal owner. */
export function currentOwner(): JournalOwner {
  if (self === null) {
    const procStart = procStartOf('self');
    self = { pid: process.pid, host: hostname(), ...(procStart === undefined ? {} : { procStart }) };
  }
  return self;
}

/** True when `owner` is this very process. */
export function isCurrentProcess(owner: JournalOwner): boolean {
  const me = currentOwner();
  return owner.pid === me.pid && owner.host === me.host && (owner.procStart === undefined || owner.procStart === me.procStart);
}

/**
 * Whether the writer of `journal` still writes it: `dead` when its pid is gone (or belongs to a later
 * process) on this host, or when it is this process and no attachment here holds the journal any more
 * (a finalisation that failed and left it for recovery); `alive` when it runs; `unknown` for a writer
 * on another host (a shared folder), where only the journal's age can tell.
 */
export function ownerState(owner: JournalOwner, journal: string): OwnerState {
  if (owner.host !== currentOwner().host) return 'unknown';
  if (isCurrentProcess(owner)) return active.has(journal) ? 'alive' : 'dead';
  if (!isPidAlive(owner.pid)) return 'dead';
  if (owner.procStart !== undefined) {
    const now = procStartOf(owner.pid);
    if (now !== undefined && now !== owner.procStart) return 'dead';
  }
  return 'alive';
}

/** Read an owner from a header value; null when it is not one. */
export function ownerOf(value: unknown): JournalOwner | null {
  if (typeof value !== 'object' || value === null) return null;
  const { pid, host, procStart } = value as Record<string, unknown>;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || typeof host !== 'string') return null;
  return typeof procStart === 'string' ? { pid, host, procStart } : { pid, host };
}
