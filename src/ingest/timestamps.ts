/**
 * Every timestamp form seen in real deployments (docs/architecture.md, "The timestamp forms seen"), turned into
 * UTC ISO 8601 with millisecond precision and a trailing `Z`.
 *
 * Values with a zone (`Z`, `+05:30`, `+00:00Z`) and epoch numbers are converted with plain arithmetic:
 * readers call this for every item of every session, and building a luxon DateTime per item would
 * dominate the time of a bulk run. luxon is used only for naive values in a zone other than UTC,
 * where DST rules are needed.
 */
import { DateTime, IANAZone } from 'luxon';
import { ConfigError, InputError } from '../errors.ts';

/**
 * `YYYY-MM-DD[( |T)HH:MM[:SS[.fraction]]][offset][Z]`. The offset may be followed by a `Z`
 * (`2025-10-29T13:50:57.987953+00:00Z`, written by a Python `isoformat() + 'Z'`): the offset is the
 * real information there, the `Z` a redundant suffix, so the offset wins.
 */
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,12}))?)?(?: ?([Zz]|[+-]\d{2}(?::?\d{2})?)([Zz])?)?)?$/;

/** Epoch seconds (or milliseconds above 1e12) written as a string, e.g. `1761732980.6023705`. */
const EPOCH_RE = /^(\d{1,16})(?:\.(\d+))?$/;

/** Epoch values above this are milliseconds: 1e12 s is year 33658, 1e12 ms is 2001. */
const EPOCH_MS_THRESHOLD = 1e12;

/** 9999-12-31T23:59:59.999Z: the largest time `toISOString` writes with a 4-digit year. */
const MAX_MS = 253_402_300_799_999;

const UTC_NAMES = new Set(['utc', 'etc/utc', 'gmt', 'etc/gmt', 'uct', 'etc/uct', 'universal', 'etc/universal', 'zulu', 'etc/zulu', 'z']);

const zoneCache = new Map<string, IANAZone | null>();

/** True when naive values in `zone` need no conversion (UTC under any of its names). */
export function isUtcZone(zone: string): boolean {
  return UTC_NAMES.has(zone.toLowerCase());
}

/** The luxon zone of an IANA name, created once per name; null for UTC, which needs no luxon at all. */
function ianaZone(zone: string): IANAZone | null {
  let cached = zoneCache.get(zone);
  if (cached === undefined) {
    if (isUtcZone(zone)) {
      cached = null;
    } else {
      if (!IANAZone.isValidZone(zone)) {
        throw new ConfigError(`CRM_SOURCE_TIMEZONE must be an IANA time zone such as Asia/Kolkata, got "${zone}"`, {
          variable: 'CRM_SOURCE_TIMEZONE',
        });
      }
      cached = IANAZone.create(zone);
    }
    zoneCache.set(zone, cached);
  }
  return cached;
}

/** Milliseconds from a fraction-of-second digit string, truncated (microseconds and nanoseconds drop). */
function fractionMs(digits: string | undefined): number {
  if (!digits) return 0;
  return Number((digits + '00').slice(0, 3));
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Wall-clock fields in `zone` → epoch ms. Fields are already range-checked. A naive time that does
 * not exist (the hour skipped when DST starts) moves forward by the gap, and one that exists twice
 * (when DST ends) is read in standard time, the later instant: luxon's rules. A naive clock cannot
 * say which was meant; what matters is that the same value always gives the same instant.
 */
function wallClockToMs(zone: string, y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  const iana = ianaZone(zone);
  const wall = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  if (iana === null) return wall;
  // Zone offsets change only at whole minutes, so the offset of a wall-clock minute is computed once
  // with luxon and reused: the items of one conversation share a handful of minutes.
  const minute = Math.floor(wall / 60_000);
  let perZone = offsetCache.get(zone);
  if (perZone === undefined || perZone.size > 100_000) {
    perZone = new Map();
    offsetCache.set(zone, perZone);
  }
  let offset = perZone.get(minute);
  if (offset === undefined) {
    const exact = DateTime.fromObject({ year: y, month: mo, day: d, hour: h, minute: mi }, { zone: iana }).toMillis();
    offset = exact - minute * 60_000;
    perZone.set(minute, offset);
  }
  return wall + offset;
}

/** Per zone: wall-clock minute (as if UTC, in minutes since the epoch) → ms to add to get the instant. */
const offsetCache = new Map<string, Map<number, number>>();

/** Epoch seconds or milliseconds (a number or digits) → epoch ms, truncated; undefined when out of range. */
function epochToMs(intPart: string, fracPart: string | undefined): number | undefined {
  const whole = Number(intPart);
  const ms = whole > EPOCH_MS_THRESHOLD ? whole : whole * 1000 + fractionMs(fracPart);
  return ms <= MAX_MS ? ms : undefined;
}

/**
 * The epoch milliseconds of a timestamp in any of the forms docs/architecture.md lists; `null` when the value
 * is absent (`null`, `undefined`, `""`), `undefined` when it is present but not a time. Naive values
 * are read in `naiveZone` (an IANA name). This is the allocation-light core: readers call it per item.
 */
export function timestampToMs(value: unknown, naiveZone: string): number | null | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return undefined;
    // String(n) keeps the digits a JSON number was written with, so truncation to ms is exact
    // (1.001 * 1000 is 1000.999…; the string form is not fooled).
    const text = String(value);
    const m = EPOCH_RE.exec(text);
    if (m) return epochToMs(m[1] as string, m[2]);
    const ms = value > EPOCH_MS_THRESHOLD ? Math.floor(value) : Math.floor(value * 1000);
    return ms <= MAX_MS ? ms : undefined;
  }
  if (value instanceof Date) {
    const ms = value.getTime();
    return Number.isNaN(ms) || ms < 0 || ms > MAX_MS ? undefined : ms;
  }
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text === '') return null;

  const epoch = EPOCH_RE.exec(text);
  if (epoch) return epochToMs(epoch[1] as string, epoch[2]);

  const m = ISO_RE.exec(text);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = m[4] === undefined ? 0 : Number(m[4]);
  const mi = m[5] === undefined ? 0 : Number(m[5]);
  const s = m[6] === undefined ? 0 : Number(m[6]);
  const ms = fractionMs(m[7]);
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return undefined;

  const zonePart = m[8];
  const trailingZ = m[9];
  if (zonePart === undefined) return wallClockToMs(naiveZone, y, mo, d, h, mi, s, ms);
  if (zonePart === 'Z' || zonePart === 'z') {
    if (trailingZ !== undefined) return undefined; // `ZZ` is not a form anyone writes
    return Date.UTC(y, mo - 1, d, h, mi, s, ms);
  }
  const sign = zonePart[0] === '-' ? -1 : 1;
  const digits = zonePart.slice(1).replace(':', '');
  const oh = Number(digits.slice(0, 2));
  const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
  if (oh > 18 || om > 59) return undefined;
  const result = Date.UTC(y, mo - 1, d, h, mi, s, ms) - sign * (oh * 60 + om) * 60_000;
  return result < 0 || result > MAX_MS ? undefined : result;
}

/**
 * Parse a timestamp into UTC ISO with milliseconds and `Z` (`2025-10-23T07:56:34.608Z`).
 *
 * - `null`, `undefined` and `""` give `null`: the time is unknown, which is not an error.
 * - A value that is present but not a time throws `InputError('E_INPUT_TIME')` naming `field`, so
 *   that the file it came from is refused with a message saying where.
 *
 * Accepted: ISO with `T` or a space, with `Z`, an offset, or an offset followed by `Z` (the offset
 * wins); naive values (read in `naiveZone`); any number of fraction digits (truncated to ms); epoch
 * seconds as a number or digit string (milliseconds when above 1e12).
 */
export function parseTimestamp(value: unknown, naiveZone: string, field = ''): string | null {
  const ms = timestampToMs(value, naiveZone);
  if (ms === null) return null;
  if (ms === undefined) {
    throw new InputError(`${field ? `${field} ` : ''}is not a time: ${describeValue(value)}`, { code: 'E_INPUT_TIME', field });
  }
  return new Date(ms).toISOString();
}

/** A short rendering of a bad value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/** `2025-10-13T08-23-59.153099`: the transcript logger's save time, UTC with `-` for `:`. */
const NAME_ISO_RE = /(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})-(\d{2})(?:\.(\d{1,9}))?/;
/** `session_YYYYMMDD_HHMMSS`: a session id's start, UTC by construction (docs/architecture.md "Session ids"). */
const NAME_SESSION_RE = /(?:^|[^a-z])session_(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})(?!\d)/i;
/** `session_<epoch s>` (e.g. `leads_session_1761745857`): campaign session ids carry the egress epoch. */
const NAME_SESSION_EPOCH_RE = /(?:^|[^a-z])session_(\d{10})(?!\d)/i;
/** `conversation_`, `lead_`, `leads_` + `YYYYMMDD_HHMMSS`: the agent machine's local time. */
const NAME_LOCAL_RE = /(?:^|[^a-z])(?:conversation|leads?)_(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})(?!\d)/i;

/** The base name of a path written on either Unix or Windows. */
export function baseName(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i < 0 ? path : path.slice(i + 1);
}

function fieldsToIso(zone: string, m: RegExpExecArray): string | null {
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ? `.${m[7]}` : ''}`;
  const ms = timestampToMs(iso, zone);
  return typeof ms === 'number' ? new Date(ms).toISOString() : null;
}

/**
 * The time a file name carries, as UTC ISO, or null when it carries none.
 *
 * - `transcript_session_2025-10-13T08-23-59.153099.json`: UTC (the logger's save time).
 * - `session_YYYYMMDD_HHMMSS…` (manifests, `leads_session_<session id>`): UTC, because session ids
 *   are built from the UTC start; `session_<10-digit epoch>` is epoch seconds.
 * - `conversation_YYYYMMDD_HHMMSS`, `lead_YYYYMMDD_HHMMSS`, `leads_YYYYMMDD_HHMMSS`: naive, read in
 *   `zone` (the source time zone), since the agent named them by its local clock.
 */
export function fileNameTime(name: string, zone: string): string | null {
  const base = baseName(name);
  let m = NAME_ISO_RE.exec(base);
  if (m) return fieldsToIso('UTC', m);
  m = NAME_SESSION_RE.exec(base);
  if (m) return fieldsToIso('UTC', m);
  m = NAME_SESSION_EPOCH_RE.exec(base);
  if (m) return new Date(Number(m[1]) * 1000).toISOString();
  m = NAME_LOCAL_RE.exec(base);
  if (m) return fieldsToIso(zone, m);
  return null;
}
