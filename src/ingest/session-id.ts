/**
 * Session ids for files that carry none (docs/architecture.md, "Session ids"). The id depends only on the call
 * start and the file's base name, so the same file gives the same id, and so the same callId, on every
 * run and on every machine (a full path would differ between machines).
 */
import { createHash } from 'node:crypto';
import { baseName } from './timestamps.ts';

/** `2025-10-23T07:56:34.608Z` → `20251023_075634`. */
export function compactUtc(iso: string): string {
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/**
 * `session_<start as YYYYMMDD_HHMMSS, UTC>_<first 8 hex digits of sha256(base name)>`. With no start at
 * all (no times, no name time, no mtime), `unknown` stands in for the time so the id is still stable.
 */
export function deriveSessionId(startIso: string | null, file: string): string {
  const hash = createHash('sha256').update(baseName(file)).digest('hex').slice(0, 8);
  return `session_${startIso === null ? 'unknown' : compactUtc(startIso)}_${hash}`;
}
