/**
 * How the CLI's messages for people reach stderr (README, "Run it in production" → Logs): as text on a
 * terminal, or as JSON lines shaped like pino's (`level`, `time`, `msg`) for journald and log shippers,
 * so that every stderr line of a service is one JSON object. stdout is never affected: it carries the
 * `--json` and `--dry-run` output only.
 *
 * `auto` (the default) picks text when stderr is a terminal, where a person reads it, and JSON lines
 * everywhere else (a pipe, a file, the systemd journal, a container's log): whatever is not a person is a
 * program that reads lines, and one JSON object per line is what journald's fields, log shippers and
 * `jq` take. The journal is also recognised by `JOURNAL_STREAM` (systemd sets it to the device and inode
 * of the stream it connected, systemd.exec(5)), so a service run under a pty-allocating wrapper still
 * logs JSON. `--log-format text` (or `CRM_LOG_FORMAT=text`) keeps the text in a pipe, for a script that
 * reads the messages for people; `--log-format json` asks for JSON on a terminal too.
 */
import { fstatSync } from 'node:fs';
import { maskText } from './mask.ts';

/** What the messages are written as. */
export type LogFormat = 'json' | 'text';

/** The values `--log-format` and `CRM_LOG_FORMAT` accept. */
export const LOG_FORMATS = ['auto', 'json', 'text'] as const;

/** pino's levels, which `--log-level` and `LOG_LEVEL` accept. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** pino's numbers for the levels a message line uses. */
const LEVEL_NUMBER = { info: 30, warn: 40, error: 50 } as const;

/**
 * True when file descriptor `fd` is the stream systemd connected to the journal: `JOURNAL_STREAM` is
 * `<device>:<inode>` of it (a child whose stderr was redirected inherits the variable, hence the check).
 */
export function isJournalStream(journalStream: string | undefined, fd = 2): boolean {
  const m = /^(\d+):(\d+)$/.exec(journalStream?.trim() ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1] as string) && st.ino === BigInt(m[2] as string);
  } catch {
    return false;
  }
}

/**
 * The format from the flag, else `CRM_LOG_FORMAT`, else `auto`: JSON when `notForPeople()` (stderr is no
 * terminal, or is the journal), text otherwise.
 * Returns null for a value that is none of `LOG_FORMATS` (the caller names the flag or variable).
 */
export function resolveLogFormat(flag: string | undefined, env: NodeJS.ProcessEnv, notForPeople: () => boolean): LogFormat | null {
  const value = (flag ?? env.CRM_LOG_FORMAT ?? 'auto').trim().toLowerCase();
  if (value === 'json' || value === 'text') return value;
  if (value !== 'auto') return null;
  return notForPeople() ? 'json' : 'text';
}

/**
 * The pino level: `--log-level`, else `LOG_LEVEL`, else debug with `--verbose`, else `info` for JSON
 * (one line per delivered or failed call, what a service's log is for) and `warn` on a terminal (the
 * messages for people say enough there).
 */
export function resolveLogLevel(flag: string | undefined, env: NodeJS.ProcessEnv, verbose: boolean, format: LogFormat): string {
  return flag ?? env.LOG_LEVEL ?? (verbose ? 'debug' : format === 'json' ? 'info' : 'warn');
}

/** True for a level pino knows. */
export function isLogLevel(value: string): boolean {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * One message for people as a stderr line: the text itself, or in JSON a pino-shaped object whose level
 * follows the message's `error:`/`warning:` prefix. JSON lines are masked (phone numbers, emails) unless
 * `showPii`: they go to a journal that others read.
 */
export function formatMessageLine(text: string, format: LogFormat, showPii = false, now = Date.now()): string {
  if (format === 'text') return `${text}\n`;
  const level = /^error\b/i.test(text) ? LEVEL_NUMBER.error : /^warning\b/i.test(text) ? LEVEL_NUMBER.warn : LEVEL_NUMBER.info;
  return `${JSON.stringify({ level, time: now, msg: showPii ? text : maskText(text) })}\n`;
}

/** The format of this process's messages, set once the options are read (text until then). */
const current: { format: LogFormat; showPii: boolean } = { format: 'text', showPii: false };

/** Set how this process writes its messages (the CLI, before a command runs). */
export function setMessageFormat(format: LogFormat, showPii: boolean): void {
  current.format = format;
  current.showPii = showPii;
}

/** How this process writes its messages. */
export function messageFormat(): LogFormat {
  return current.format;
}

/** One message line in this process's format. */
export function messageLine(text: string): string {
  return formatMessageLine(text, current.format, current.showPii);
}

/**
 * In the JSON format, Node's own process warnings (printed as `(node:PID) Warning: …` by its default
 * listener) become JSON lines too, masked like every message: the default listener is replaced.
 */
export function jsonProcessWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => {
    process.stderr.write(messageLine(`warning: ${warning.code ? `[${warning.code}] ` : ''}${warning.message}`));
  });
}
