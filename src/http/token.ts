/**
 * The tokens of crm-upload's servers (`CRM_INGEST_TOKEN`, `CRM_DASHBOARD_TOKEN`; docs/architecture.md,
 * "Security" → "Secrets"): a token generated at start when none is configured — the only kind that is
 * ever printed — and a minimum length for a configured one when the server listens beyond loopback, where
 * anyone on the network may try to guess it.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.ts';

/** Fewest characters of a configured token on a server reachable beyond this machine. */
export const MIN_TOKEN_CHARS = 32;

/** A fresh random token: 32 bytes, URL-safe (43 characters; it may travel in a URL fragment). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Throw a ConfigError naming `variable` when a token configured for a non-loopback server is too short. */
export function checkTokenStrength(variable: string, token: string | null, loopback: boolean): void {
  if (token === null || loopback) return;
  if (token.length < MIN_TOKEN_CHARS) {
    throw new ConfigError(`${variable} must be at least ${MIN_TOKEN_CHARS} characters on an address other than loopback (it has ${token.length}); e.g. openssl rand -base64 32`, {
      variable,
    });
  }
}
