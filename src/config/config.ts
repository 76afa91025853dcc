/**
 * Configuration from the environment and a `.env` file (docs/architecture.md, "Configuration"). A value that is
 * missing where needed or malformed is a ConfigError naming the variable (the CLI exits 2).
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { IANAZone } from 'luxon';
import { ConfigError } from '../errors.ts';
import { DEFAULT_RETRY_SCHEDULE_MS, retryPolicy, type RetryPolicy } from '../policy/retry-policy.ts';
import { parseDuration, parseDurationList } from './duration.ts';
import { parseRetention } from '../retention/retention-setting.ts';
import { createPayloadCipher } from '../outbox/payload-cipher.ts';
import { isLoopbackHost } from '../http/auth.ts';
import { redactUrl } from '../log/mask.ts';

/** The default retry schedule of docs/architecture.md (kept in the retry policy, `src/policy`). */
export { DEFAULT_RETRY_SCHEDULE_MS };

/** The seed's default endpoint. */
export const DEFAULT_API_URL = 'https://devcrm.xeny.ai/apis/api/public/call-data';

/** Typed configuration. Paths are absolute. */
export interface Config {
  autoUpload: boolean;
  campaignId: string | null;
  voiceAgentId: string | null;
  clientId: string | null;
  defaultCallerPhone: string | null;
  apiUrl: string;
  uploadUrl: string;
  /** Bearer token; never printed, logged or stored. */
  apiKey: string | null;
  timeoutMs: number;
  /** Requests per minute; 0 turns pacing off. */
  rateLimit: number;
  concurrency: number;
  /**
   * With pacing on, how many deliveries may run at once when the limit needs more than `concurrency` to
   * be used (the CRM's answer time × the rate); `CRM_MAX_CONCURRENCY`, 0 (the default) meaning
   * `concurrency`: never more than that unless the user allows it.
   */
  maxConcurrency: number;
  maxAttempts: number;
  retryScheduleMs: number[];
  recordingWaitMs: number;
  /**
   * `CRM_VERIFY_BEFORE_RESEND`: ask the CRM whether it already holds a call before sending it again after
   * an uncertain attempt (docs/architecture.md, "Delivery" → "Verify before re-sending").
   */
  verifyBeforeResend: VerifyBeforeResend;
  ingestToken: string | null;
  dashboardToken: string | null;
  alertWebhookUrl: string | null;
  alertBacklogS: number | null;
  /** Absolute SQLite path, or a `redis://` / `rediss://` URL. */
  outbox: string;
  /**
   * `CRM_RETENTION`: how long delivered calls and the recordings `serve` kept for them stay after delivery (ms,
   * default 30 days), or null to keep them forever (`off`, `0`) (docs/architecture.md, "Stores" → "Retention").
   */
  retentionMs: number | null;
  /**
   * `CRM_OUTBOX_KEY`: the key payloads are encrypted under at rest (32 bytes, hex or base64), or null for
   * plain payloads (docs/architecture.md, "Stores" → "Payload encryption"). Never printed or logged.
   */
  outboxKey?: string | null;
  /** `CRM_OUTBOX_OLD_KEYS`: earlier keys, comma-separated, only read (key rotation). Never printed or logged. */
  outboxOldKeys?: readonly string[];
  sourceTimezone: string;
  defaultRegion: string;
  conversationsDir: string | null;
  leadsDir: string | null;
  recordingsDir: string | null;
  manifestsDir: string | null;
  /** Directory relative paths resolve against (INIT_CWD under npm run, else the cwd). */
  cwd: string;
}

/**
 * When the worker asks the CRM before re-sending after an uncertain attempt: `auto` until the listing
 * proves not offered, `always`, or `never` (docs/architecture.md, "Delivery" → "Verify before re-sending").
 */
export type VerifyBeforeResend = 'auto' | 'always' | 'never';

/** The values `CRM_VERIFY_BEFORE_RESEND` accepts. */
export const VERIFY_BEFORE_RESEND_MODES: readonly VerifyBeforeResend[] = ['auto', 'always', 'never'];

/** Where configuration is read from. */
export interface LoadConfigOptions {
  /** Environment; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Directory holding `.env` and against which relative paths resolve. */
  cwd?: string;
  /** Path of the `.env` file; defaults to `<cwd>/.env`. Pass null to skip it. */
  envFile?: string | null;
}

/** The directory the user ran the command from: INIT_CWD under `npm run`, else the process cwd. */
export function userCwd(env: NodeJS.ProcessEnv = process.env): string {
  return env.INIT_CWD && isAbsolute(env.INIT_CWD) ? env.INIT_CWD : process.cwd();
}

/** Read `.env` (when present) under the environment: a variable already set in the environment wins. */
export function readEnv(options: LoadConfigOptions = {}): Record<string, string | undefined> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? userCwd(env);
  const file = options.envFile === undefined ? resolve(cwd, '.env') : options.envFile;
  let fromFile: Record<string, string | undefined> = {};
  if (file && existsSync(file)) {
    try {
      fromFile = parseEnv(readFileSync(file, 'utf8')) as Record<string, string | undefined>;
    } catch (err) {
      throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`, { file, cause: err });
    }
  }
  return { ...fromFile, ...env };
}

/** Load and check the whole configuration. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? userCwd(env);
  const vars = readEnv({ ...options, env, cwd });
  const str = (name: string): string | null => {
    const v = vars[name];
    return v === undefined || v.trim() === '' ? null : v.trim();
  };
  const bool = (name: string, dflt: boolean): boolean => {
    const v = str(name);
    if (v === null) return dflt;
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    throw new ConfigError(`${name} must be true or false, got "${v}"`, { variable: name });
  };
  const int = (name: string, dflt: number, min: number): number => {
    const v = str(name);
    if (v === null) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      throw new ConfigError(`${name} must be a whole number ≥ ${min}, got "${v}"`, { variable: name });
    }
    return n;
  };
  const duration = (name: string, dflt: number): number => {
    const v = str(name);
    if (v === null) return dflt;
    const ms = parseDuration(v);
    if (ms === null) throw new ConfigError(`${name} must be a duration such as 250ms, 5s, 2m or 1h, got "${v}"`, { variable: name });
    return ms;
  };
  const url = (name: string, dflt: string | null): string | null => {
    const v = str(name) ?? dflt;
    if (v === null) return null;
    let parsed: URL;
    try {
      parsed = new URL(v);
    } catch {
      throw new ConfigError(`${name} must be an http(s) URL, got "${redactUrl(v)}"`, { variable: name });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new ConfigError(`${name} must be an http(s) URL, got "${redactUrl(v)}"`, { variable: name });
    }
    return v;
  };
  const dir = (name: string): string | null => {
    const v = str(name);
    return v === null ? null : resolve(cwd, v);
  };

  const apiUrl = url('CRM_API_URL', DEFAULT_API_URL) as string;
  const uploadUrl = url('CRM_UPLOAD_URL', new URL('/apis/api/public/upload', apiUrl).toString()) as string;
  // The API key and callers' data never cross the network in clear text (docs/architecture.md, "Security").
  const allowInsecure = bool('CRM_ALLOW_INSECURE', false);
  for (const [name, value] of [['CRM_API_URL', apiUrl], ['CRM_UPLOAD_URL', uploadUrl]] as const) {
    const parsed = new URL(value);
    if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname) && !allowInsecure) {
      throw new ConfigError(`${name} is plain http:// to ${parsed.host}, which is not this machine: the API key and callers' data would cross the network unencrypted; use https://, or set CRM_ALLOW_INSECURE=1 to accept that`, { variable: name });
    }
  }

  const scheduleText = str('CRM_RETRY_SCHEDULE');
  let retryScheduleMs = [...DEFAULT_RETRY_SCHEDULE_MS];
  if (scheduleText !== null) {
    const parsed = parseDurationList(scheduleText);
    if (parsed === null) {
      throw new ConfigError(`CRM_RETRY_SCHEDULE must be comma-separated durations such as 50ms,200ms,1s, got "${scheduleText}"`, {
        variable: 'CRM_RETRY_SCHEDULE',
      });
    }
    retryScheduleMs = parsed;
  }

  const sourceTimezone = str('CRM_SOURCE_TIMEZONE') ?? 'UTC';
  if (!IANAZone.isValidZone(sourceTimezone)) {
    throw new ConfigError(`CRM_SOURCE_TIMEZONE must be an IANA time zone such as Asia/Kolkata, got "${sourceTimezone}"`, {
      variable: 'CRM_SOURCE_TIMEZONE',
    });
  }
  const defaultRegion = (str('CRM_DEFAULT_REGION') ?? 'IN').toUpperCase();
  if (!/^[A-Z]{2}$/.test(defaultRegion)) {
    throw new ConfigError(`CRM_DEFAULT_REGION must be a two-letter country code such as IN, got "${defaultRegion}"`, {
      variable: 'CRM_DEFAULT_REGION',
    });
  }

  const outboxText = str('CRM_OUTBOX') ?? '.crm-upload/outbox.db';
  const outbox = /^rediss?:\/\//i.test(outboxText) ? outboxText : resolve(cwd, outboxText);

  const verifyText = (str('CRM_VERIFY_BEFORE_RESEND') ?? 'auto').toLowerCase();
  if (!(VERIFY_BEFORE_RESEND_MODES as readonly string[]).includes(verifyText)) {
    throw new ConfigError(`CRM_VERIFY_BEFORE_RESEND must be one of ${VERIFY_BEFORE_RESEND_MODES.join(', ')}, got "${verifyText}"`, { variable: 'CRM_VERIFY_BEFORE_RESEND' });
  }

  // Parsed here so that a malformed key stops every command at start (exit 2), named but never shown.
  const outboxKey = str('CRM_OUTBOX_KEY');
  const outboxOldKeys = (str('CRM_OUTBOX_OLD_KEYS') ?? '').split(',').map((k) => k.trim()).filter((k) => k !== '');
  createPayloadCipher({ key: outboxKey, oldKeys: outboxOldKeys });

  const retentionText = str('CRM_RETENTION');
  const retentionMs = parseRetention(retentionText);
  if (retentionMs === undefined) {
    throw new ConfigError(`CRM_RETENTION must be a duration such as 30d or 12h, or off, got "${retentionText}"`, { variable: 'CRM_RETENTION' });
  }

  const alertBacklog = str('CRM_ALERT_BACKLOG_S');
  return {
    autoUpload: bool('CRM_AUTO_UPLOAD', false),
    campaignId: str('CRM_CAMPAIGN_ID'),
    voiceAgentId: str('CRM_VOICE_AGENT_ID'),
    clientId: str('CRM_CLIENT_ID'),
    defaultCallerPhone: str('CRM_DEFAULT_CALLER_PHONE'),
    apiUrl,
    uploadUrl,
    apiKey: str('CRM_API_KEY'),
    timeoutMs: duration('CRM_TIMEOUT_MS', 30_000),
    rateLimit: int('CRM_RATE_LIMIT', 100, 0),
    concurrency: int('CRM_CONCURRENCY', 16, 1),
    maxConcurrency: int('CRM_MAX_CONCURRENCY', 0, 0),
    maxAttempts: int('CRM_MAX_ATTEMPTS', retryScheduleMs.length + 1, 1),
    retryScheduleMs,
    recordingWaitMs: duration('CRM_RECORDING_WAIT_MS', 120_000),
    verifyBeforeResend: verifyText as VerifyBeforeResend,
    ingestToken: str('CRM_INGEST_TOKEN'),
    dashboardToken: str('CRM_DASHBOARD_TOKEN'),
    alertWebhookUrl: url('CRM_ALERT_WEBHOOK_URL', null),
    alertBacklogS: alertBacklog === null ? null : int('CRM_ALERT_BACKLOG_S', 0, 0),
    outbox,
    outboxKey,
    outboxOldKeys,
    retentionMs,
    sourceTimezone,
    defaultRegion,
    conversationsDir: dir('CRM_CONVERSATIONS_DIR'),
    leadsDir: dir('CRM_LEADS_DIR'),
    recordingsDir: dir('CRM_RECORDINGS_DIR'),
    manifestsDir: dir('CRM_MANIFESTS_DIR'),
    cwd,
  };
}

/** The retry policy a configuration asks for (CRM_RETRY_SCHEDULE, CRM_MAX_ATTEMPTS), the defaults for the rest. */
export function retryPolicyOf(config: Pick<Config, 'retryScheduleMs' | 'maxAttempts'>): RetryPolicy {
  return retryPolicy({ scheduleMs: config.retryScheduleMs, maxAttempts: config.maxAttempts });
}

/** A copy of the config that is safe to print: the secrets are replaced by `***`. */
export function redactConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    apiKey: config.apiKey ? '***' : null,
    ingestToken: config.ingestToken ? '***' : null,
    dashboardToken: config.dashboardToken ? '***' : null,
    outboxKey: config.outboxKey ? '***' : null,
    outboxOldKeys: (config.outboxOldKeys ?? []).map(() => '***'),
  };
}
