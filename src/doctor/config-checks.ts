/**
 * The checks of `crm-upload doctor` that read the configuration alone (docs/architecture.md,
 * "Configuration"): the ids every payload needs, the CRM URLs, and the servers' tokens. Pure: they
 * take the variables' values and return results.
 */
import { isLoopbackHost } from '../http/auth.ts';
import type { CheckResult } from './check.ts';

/**
 * Fewest characters of a server token (docs/architecture.md, "Security" → "Secrets"): 32, as the servers
 * require off loopback. The doctor asks it of every token set, since a server may later listen wider.
 */
export const MIN_TOKEN_CHARS = 32;

/** The ids every payload carries (the contract requires them). */
export const REQUIRED_IDS = ['CRM_CAMPAIGN_ID', 'CRM_VOICE_AGENT_ID', 'CRM_CLIENT_ID'] as const;

/** The servers' tokens (`serve`, `dashboard`). */
export const TOKEN_VARIABLES = ['CRM_INGEST_TOKEN', 'CRM_DASHBOARD_TOKEN'] as const;

/** Variables as read from the environment and `.env`. */
export type Vars = Readonly<Record<string, string | undefined>>;

/** A variable's value, trimmed; null when unset or blank (as the configuration reads it). */
export function varOf(vars: Vars, name: string): string | null {
  const v = vars[name];
  return v === undefined || v.trim() === '' ? null : v.trim();
}

/** Every required id is set. */
export function checkRequiredIds(vars: Vars): CheckResult {
  const missing = REQUIRED_IDS.filter((n) => varOf(vars, n) === null);
  if (missing.length === 0) return { id: 'ids', title: 'required ids', status: 'ok', detail: `${REQUIRED_IDS.join(', ')} set` };
  return {
    id: 'ids',
    title: 'required ids',
    status: 'fail',
    detail: `${missing.join(', ')} not set; every call sent carries them`,
    fix: `set ${missing.join(', ')} in .env or the environment (the ids the CRM gave this campaign, agent and client)`,
  };
}

/** A URL for messages: no user name or password. */
export function shownUrl(url: URL): string {
  const u = new URL(url.toString());
  u.username = '';
  u.password = '';
  return u.toString();
}

/** What `checkCrmUrl` found: the result, and the URL when it may be used for a request. */
export interface UrlCheck {
  result: CheckResult;
  /** Parsed and safe to send the API key to (https, or http on loopback); else null. */
  usable: URL | null;
}

/**
 * A CRM URL parses, is http(s), and is https unless it points at this machine. With `allowInsecure`
 * (CRM_ALLOW_INSECURE=1, which the configuration then accepts) plain http to another host is a warning.
 */
export function checkCrmUrl(name: string, value: string, allowInsecure = false): UrlCheck {
  const id = `url.${name}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { usable: null, result: { id, title: name, status: 'fail', detail: 'not a URL', fix: `set ${name} to the full https:// address of the CRM endpoint` } };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { usable: null, result: { id, title: name, status: 'fail', detail: `${url.protocol} is not http(s)`, fix: `set ${name} to an https:// URL` } };
  }
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol === 'http:' && !loopback && allowInsecure) {
    return {
      usable: url,
      result: { id, title: name, status: 'warn', detail: `${shownUrl(url)} is plain http to another machine, accepted by CRM_ALLOW_INSECURE`, fix: `use https://${url.host}${url.pathname} and unset CRM_ALLOW_INSECURE` },
    };
  }
  if (url.protocol === 'http:' && !loopback) {
    return {
      usable: null,
      result: {
        id,
        title: name,
        status: 'fail',
        detail: `${shownUrl(url)} is plain http to another machine: the API key and personal data would travel readable`,
        fix: `use https://${url.host}${url.pathname} (or, knowingly, CRM_ALLOW_INSECURE=1)`,
      },
    };
  }
  const note = url.protocol === 'http:' ? ' (http on loopback: a local CRM)' : '';
  return { usable: url, result: { id, title: name, status: 'ok', detail: `${shownUrl(url)}${note}` } };
}

/** A server token, when set, is long enough to resist guessing (docs/architecture.md, "Security"). */
export function checkToken(name: string, value: string | null): CheckResult {
  const id = `token.${name}`;
  if (value === null) return { id, title: name, status: 'skip', detail: 'not set (the server generates one at start)' };
  if (value.length >= MIN_TOKEN_CHARS) return { id, title: name, status: 'ok', detail: `${value.length} characters` };
  return {
    id,
    title: name,
    status: 'fail',
    detail: `${value.length} characters, fewer than ${MIN_TOKEN_CHARS}`,
    fix: `set ${name} to a random value of at least ${MIN_TOKEN_CHARS} characters, e.g. $(openssl rand -base64 32)`,
  };
}
