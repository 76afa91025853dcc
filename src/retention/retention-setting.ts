/**
 * `CRM_RETENTION`: how long delivered calls (payload and history) and the recordings `serve` kept for them
 * stay after delivery (docs/architecture.md, "Stores" → "Retention"). Pure, table-tested.
 */
import { parseDuration } from '../config/duration.ts';

/** The default retention: 30 days. */
export const DEFAULT_RETENTION_MS = 30 * 86_400_000;

/**
 * Read a `CRM_RETENTION` value: a duration (`30d`, `12h`, `90m`; a bare number is milliseconds), or `off`
 * (also `0`, `never`, `forever`) to keep everything. Absent or blank: the default. Returns the retention in ms,
 * null for "keep forever", or undefined when the text is neither (the caller names the variable).
 */
export function parseRetention(text: string | null | undefined): number | null | undefined {
  if (text === null || text === undefined || text.trim() === '') return DEFAULT_RETENTION_MS;
  if (/^\s*(off|never|forever)\s*$/i.test(text)) return null;
  const ms = parseDuration(text);
  if (ms === null) return undefined;
  // 0 would purge a call the moment it is delivered; as a setting it means "no retention limit", as in most tools.
  return ms === 0 ? null : ms;
}

/** Render a retention for people (`30d`, `12h`, `off`). */
export function formatRetention(ms: number | null): string {
  if (ms === null) return 'off';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
