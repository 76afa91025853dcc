/**
 * Structured logs with pino, on stderr (stdout is for machine output only). Phone numbers and emails
 * are masked by default; the API key and Authorization headers are always redacted.
 */
import { pino, type Logger } from 'pino';
import { maskDeep, redactDeep } from './mask.ts';

/**
 * The fields pino always censors, at the top level and one level down (docs/architecture.md, "Security" →
 * "Secrets"): the API key, both server tokens, passwords and credentials in headers.
 */
export const REDACT_PATHS: readonly string[] = [
  'apiKey', '*.apiKey', 'CRM_API_KEY', '*.CRM_API_KEY',
  'token', '*.token', 'ingestToken', '*.ingestToken', 'dashboardToken', '*.dashboardToken',
  'CRM_INGEST_TOKEN', '*.CRM_INGEST_TOKEN', 'CRM_DASHBOARD_TOKEN', '*.CRM_DASHBOARD_TOKEN',
  'password', '*.password',
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'headers.cookie', '*.headers.cookie', 'headers["set-cookie"]', '*.headers["set-cookie"]',
];

export type { Logger } from 'pino';

/** Options of `createLogger`. */
export interface CreateLoggerOptions {
  /** pino level; default `info`, or `LOG_LEVEL`. */
  level?: string;
  /** Leave phone numbers and emails readable (off by default). */
  showPii?: boolean;
  /** Destination; default stderr (fd 2). */
  destination?: NodeJS.WritableStream | number;
}

/** A pino logger that masks PII and never prints secrets. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const dest = options.destination ?? 2;
  const stream = typeof dest === 'number' ? pino.destination({ fd: dest, sync: true }) : dest;
  const options_: pino.LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: undefined,
    redact: {
      paths: [...REDACT_PATHS],
      censor: '***',
    },
  };
  // One masking everywhere (src/log/mask.ts): URLs lose their credentials and query values always, and
  // phone numbers and emails are masked unless the operator asked to see them.
  const clean = options.showPii ? redactDeep : maskDeep;
  options_.formatters = { log: (obj) => clean(obj) as Record<string, unknown> };
  options_.hooks = {
    logMethod(args, method) {
      method.apply(this, args.map((a) => clean(a)) as Parameters<typeof method>);
    },
  };
  return pino(options_, stream as pino.DestinationStream);
}

/** A logger that discards everything (library default when the caller passes none). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
