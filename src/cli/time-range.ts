/**
 * `--since` / `--until`: an ISO date or date-time; naive values are read in `CRM_SOURCE_TIMEZONE`. A
 * bare date covers the whole day: `--since D` starts at its first instant, `--until D` ends at its last.
 */
import { DateTime } from 'luxon';
import { parseTimestamp } from '../ingest/timestamps.ts';
import { CliExit, EXIT } from './context.ts';

/** Epoch ms of a `--since`/`--until` value, or null when absent. A bad value exits 2 naming the flag. */
export function parseRangeFlag(value: string | undefined, flag: '--since' | '--until', zone: string): number | null {
  if (value === undefined || value.trim() === '') return null;
  const text = value.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const day = DateTime.fromISO(text, { zone });
    if (day.isValid) return (flag === '--since' ? day.startOf('day') : day.endOf('day')).toMillis();
  } else {
    try {
      const iso = parseTimestamp(text, zone, flag);
      if (iso !== null) return Date.parse(iso);
    } catch {
      // reported below
    }
  }
  throw new CliExit(EXIT.USAGE, `error: ${flag} must be an ISO date or date-time such as 2025-10-29 or 2025-10-29T13:50:00, got "${value}"`);
}
