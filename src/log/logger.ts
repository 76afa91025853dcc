/**
 * Structured logs with pino, on stderr (stdout is for machine output only). Phone numbers and emails
 * are masked by default; the API key and Authorization headers are always redacted.
 */
import { pino, type Logger } from 'pino';
import { maskDeep } from './mask.ts';

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
      paths: ['apiKey', '*.apiKey', 'headers.authorization', '*.headers.authorization', 'authorization', 'CRM_API_KEY'],
      censor: '***',
    },
  };
  if (!options.showPii) {
    options_.formatters = { log: (obj) => maskDeep(obj) as Record<string, unknown> };
    options_.hooks = {
      logMethod(args, method) {
        method.apply(this, args.map((a) => maskDeep(a)) as Parameters<typeof method>);
      },
    };
  }
  return pino(options_, stream as pino.DestinationStream);
}

/** A logger that discards everything (library default when the caller passes none). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
