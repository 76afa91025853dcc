/**
 * A preload (`node --import ./fake-clock.ts`) that shifts this process's wall clock — `Date.now()` and
 * `new Date()` — by the milliseconds written in the file named by CRM_CHAOS_CLOCK_FILE, read every 20 ms,
 * so that a test can step the clock forward and back mid-run without touching the system clock. The
 * monotonic clocks (`performance.now()`, `process.hrtime`, timers) are left alone, as a real wall-clock
 * step leaves them.
 */
import { readFileSync } from 'node:fs';

const file = process.env.CRM_CHAOS_CLOCK_FILE;
if (file === undefined || file === '') throw new Error('fake-clock.ts needs CRM_CHAOS_CLOCK_FILE');

let offset = 0;
function readOffset(): void {
  try {
    const value = Number(readFileSync(file as string, 'utf8').trim());
    if (Number.isFinite(value)) offset = value;
  } catch {
    // Being rewritten: keep the last offset.
  }
}
readOffset();
setInterval(readOffset, 20).unref();

const RealDate = Date;
class ShiftedDate extends RealDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...(args as [string | number | Date]));
  }

  static override now(): number {
    return RealDate.now() + offset;
  }
}
globalThis.Date = ShiftedDate as DateConstructor;
