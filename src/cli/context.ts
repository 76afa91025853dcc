/**
 * What every command shares: config loading, the logger, error reporting and exit codes
 * (0 all delivered or valid, 1 some failed, dead or invalid, 2 usage or configuration error).
 */
import { loadConfig, type Config } from '../config/config.ts';
import { ConfigError, CrmUploadError, describeError } from '../errors.ts';
import { isJournalStream, isLogLevel, jsonProcessWarnings, LOG_FORMATS, LOG_LEVELS, messageFormat, messageLine, resolveLogFormat, resolveLogLevel, setMessageFormat } from '../log/line-format.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { openOutbox } from '../delivery/open-delivery.ts';
import type { OutboxStore } from '../outbox/outbox-store.ts';

/** Exit codes of the CLI. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** Options every command accepts. */
export interface GlobalOptions {
  verbose?: boolean;
  showPii?: boolean;
  /** pino level (`--log-level`; else `LOG_LEVEL`). */
  logLevel?: string;
  /** `auto`, `json` or `text` (`--log-format`; else `CRM_LOG_FORMAT`). */
  logFormat?: string;
}

/** Thrown by a command to exit with a code after printing its message (no stack trace). */
export class CliExit extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message = '') {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Load the config, turning env overrides from flags into env variables first (a flag wins). */
export function configFrom(overrides: Record<string, string | undefined> = {}): Config {
  const env = { ...process.env };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) env[k] = v;
  return loadConfig({ env });
}

/** The CLI logger: pino on stderr, PII masked unless `--show-pii`; its level as `resolveLogLevel` says. */
export function cliLogger(opts: GlobalOptions = {}): Logger {
  return createLogger({ level: resolveLogLevel(opts.logLevel, process.env, opts.verbose === true, messageFormat()), showPii: opts.showPii });
}

/**
 * Read `--log-format` and `--log-level` (or their variables) before a command runs: messages become
 * JSON lines when asked, or when stderr is not a terminal (a pipe, a file, the journal). A bad value exits 2 naming the flag.
 */
export function applyLogOptions(opts: GlobalOptions): void {
  const format = resolveLogFormat(opts.logFormat, process.env, () => process.stderr.isTTY !== true || isJournalStream(process.env.JOURNAL_STREAM));
  if (format === null) {
    const from = opts.logFormat !== undefined ? '--log-format' : 'CRM_LOG_FORMAT';
    throw new CliExit(EXIT.USAGE, `error: ${from} must be one of ${LOG_FORMATS.join(', ')}, got "${opts.logFormat ?? process.env.CRM_LOG_FORMAT}"`);
  }
  setMessageFormat(format, opts.showPii === true);
  if (format === 'json') jsonProcessWarnings();
  const level = opts.logLevel ?? process.env.LOG_LEVEL;
  if (level !== undefined && !isLogLevel(level)) {
    const from = opts.logLevel !== undefined ? '--log-level' : 'LOG_LEVEL';
    throw new CliExit(EXIT.USAGE, `error: ${from} must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }
}

/** Print one line for people (stderr): text, or a JSON line in the JSON log format. */
export function say(line: string): void {
  process.stderr.write(messageLine(line));
}

/** Print machine output (stdout). */
export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * Run a command's action: map errors to exit codes and one clear line on stderr; print the stack only
 * with `--verbose`. The action returns the exit code.
 */
export async function runAction(verbose: boolean | undefined, action: () => Promise<number>): Promise<void> {
  let code: number;
  try {
    code = await action();
  } catch (err) {
    if (err instanceof CliExit) {
      if (err.message) say(err.message);
      code = err.exitCode;
    } else {
      say(`error: ${describeError(err)}`);
      if (verbose && err instanceof Error && err.stack) say(err.stack);
      code = err instanceof ConfigError ? EXIT.USAGE : err instanceof CrmUploadError ? EXIT.FAILED : EXIT.FAILED;
    }
  }
  process.exitCode = code;
}

/** Open the configured outbox for the length of `fn`, and close it whatever happens. */
export async function withOutbox<T>(fn: (store: OutboxStore) => Promise<T>, config: Config = configFrom()): Promise<T> {
  const { store } = await openOutbox(config);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
