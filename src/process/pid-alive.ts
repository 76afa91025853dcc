/**
 * Whether a process id is in use on this host: the check behind every "was its owner killed?" question
 * (a bulk run's plan file, a LiveKit journal's writer).
 */

/**
 * True when a process with this pid exists, whoever owns it: signal 0 is sent to nobody, and `EPERM`
 * means the process exists but belongs to another user. A pid can be reused; callers that must tell a
 * later process from the one they knew compare its start time as well.
 */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
