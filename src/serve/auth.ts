/**
 * Who may use the ingest API: a Bearer token (`CRM_INGEST_TOKEN`) on every `/v1` route when one is set,
 * and a token is required before the server listens anywhere but on loopback, where any machine on the
 * network could otherwise put calls into the CRM under this deployment's ids. The checks themselves are
 * shared with the dashboard (`src/http/auth.ts`).
 */
export { bearerMatches, isLoopbackHost } from '../http/auth.ts';
