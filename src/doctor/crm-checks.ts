/**
 * The checks of `crm-upload doctor` on the CRM's answer to a request that creates nothing (`GET
 * call-data?limit=1`): it answers, its TLS certificate is trusted, and its clock agrees with ours —
 * the payload's times are ours, and a CRM far off may file calls under the wrong day. Pure: they read
 * the answer (or the failure) the probe got.
 */
import type { CrmResult } from '../crm/crm-client.ts';
import type { CheckResult } from './check.ts';

/** Largest difference allowed between the CRM's `Date` and our clock. */
export const MAX_CLOCK_SKEW_MS = 60_000;

/** Words that mark a failure of the TLS handshake or of the certificate (undici / OpenSSL messages). */
const TLS_FAILURE = /certificate|CERT_|SSL|TLS|self[- ]signed|unable to verify|hostname\/IP does not match/i;

/** The CRM answered the list request with a success. */
export function checkCrmAnswer(result: CrmResult, shown: string): CheckResult {
  const id = 'crm.answer';
  const title = 'CRM answers';
  if (result.kind === 'error') {
    const why = result.error === 'timeout' ? `no answer within ${Math.round(result.durationMs / 1000)} s` : result.message;
    return { id, title, status: 'fail', detail: `GET ${shown}?limit=1 failed: ${why}`, fix: 'check CRM_API_URL, the network and any firewall or proxy between this host and the CRM' };
  }
  const s = result.status;
  if (s >= 200 && s < 300) return { id, title, status: 'ok', detail: `GET ${shown}?limit=1 answered ${s} in ${Math.round(result.durationMs)} ms` };
  const fix =
    s === 401 || s === 403
      ? 'set CRM_API_KEY to the key the CRM issued for this client'
      : s === 404
        ? 'CRM_API_URL must be the call-data endpoint (…/apis/api/public/call-data)'
        : s === 429
          ? 'the CRM is rate-limiting this client: lower CRM_RATE_LIMIT, then try again'
          : 'the CRM refused a read-only request: look at its status page or logs, then try again';
  return { id, title, status: 'fail', detail: `GET ${shown}?limit=1 answered ${s}`, fix };
}

/** The certificate was trusted: an https request got an answer. */
export function checkTls(url: URL, result: CrmResult): CheckResult {
  const id = 'crm.tls';
  const title = 'TLS';
  if (url.protocol !== 'https:') return { id, title, status: 'skip', detail: 'http on loopback: no certificate to check' };
  if (result.kind === 'response') return { id, title, status: 'ok', detail: `certificate of ${url.host} trusted` };
  if (TLS_FAILURE.test(result.message)) {
    return {
      id,
      title,
      status: 'fail',
      detail: `the certificate of ${url.host} is not trusted: ${result.message}`,
      fix: 'renew the certificate on the CRM, or, for a private CA, point NODE_EXTRA_CA_CERTS at its PEM file',
    };
  }
  return { id, title, status: 'skip', detail: 'not checked: the CRM did not answer' };
}

/** The CRM's `Date` header is within `MAX_CLOCK_SKEW_MS` of `nowMs`. */
export function checkClock(result: CrmResult, nowMs: number): CheckResult {
  const id = 'crm.clock';
  const title = 'clock';
  if (result.kind === 'error') return { id, title, status: 'skip', detail: 'not checked: the CRM did not answer' };
  const header = result.headers.date;
  const theirs = header === undefined ? Number.NaN : Date.parse(header);
  if (Number.isNaN(theirs)) return { id, title, status: 'warn', detail: 'the CRM sent no Date header', fix: 'compare this host\'s clock with the CRM\'s by other means (timedatectl)' };
  // `Date` has whole seconds: up to a second of the difference is its rounding.
  const skew = nowMs - theirs;
  const shown = `${skew >= 0 ? 'ahead of' : 'behind'} the CRM by ${(Math.abs(skew) / 1000).toFixed(0)} s`;
  if (Math.abs(skew) <= MAX_CLOCK_SKEW_MS + 1_000) return { id, title, status: 'ok', detail: `this host is ${shown}` };
  return {
    id,
    title,
    status: 'fail',
    detail: `this host is ${shown} (more than ${MAX_CLOCK_SKEW_MS / 1000} s)`,
    fix: 'synchronise the clock with NTP (timedatectl set-ntp true, or chrony); call times are read with this clock',
  };
}
