/**
 * The hono app of the ingest API: routes, the checks in front of them, and one error shape
 * (`{code, message, problems?}`) for every refusal. The work of each route lives in its own module.
 *
 * In front of every route (docs/architecture.md, "Security" → "The ingest door"):
 * 1. `Host` must name this server, else 421 (DNS rebinding: a page on evil.example resolving to 127.0.0.1);
 * 2. a request a browser sends for another site (`Sec-Fetch-Site`, `Origin`) is refused, 403: a page can
 *    POST a multipart form to a loopback port without any preflight;
 * 3. every `/v1` route needs the Bearer token, which always exists (generated at start when none is set).
 */
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import type { Logger } from '../log/logger.ts';
import { maskText } from '../log/mask.ts';
import type { OutboxStore } from '../outbox/outbox-store.ts';
import { crossSiteReason } from '../http/cross-site.ts';
import { hostAllowed } from '../http/host-allowlist.ts';
import { callIdProblem, E_CALL_ID, InvalidCallIdError, shownCallId } from '../payload/call-id-rules.ts';
import { bearerMatches } from './auth.ts';
import { callStatusOf } from './call-status.ts';
import { E_SERVE_CROSS_SITE, E_SERVE_HOST, E_SERVE_NOT_FOUND, E_SERVE_UNAUTHORIZED, invalidRequest, ServeRequestError } from './errors.ts';
import { OPENAPI_DOCUMENT } from './openapi.ts';
import { postCall, type PostCallContext } from './post-call.ts';

/** What the app needs. */
export interface IngestAppOptions extends PostCallContext {
  /** `CRM_INGEST_TOKEN`, or one generated at start: required as a Bearer token on every `/v1` route. */
  token: string;
  /** The `Host` values answered; a function, since the port is only known once the server listens. */
  allowedHosts: () => ReadonlySet<string>;
  /** Whether this server runs the worker (reported by `/healthz`). */
  worker: boolean;
  logger: Logger;
  store: OutboxStore;
}

/** The environment @hono/node-server passes; absent when the app is called without a Node server. */
export type IngestEnv = { Bindings: Partial<HttpBindings> };

/** The error body of every refusal. */
function errorBody(code: string, message: string, problems?: ServeRequestError['problems']): Record<string, unknown> {
  return problems !== undefined && problems.length > 0 ? { code, message, problems } : { code, message };
}

/** Build the app. */
export function createIngestApp(options: IngestAppOptions): Hono<IngestEnv> {
  const { logger, store, token } = options;
  const app = new Hono<IngestEnv>();

  app.onError((err, c) => {
    if (err instanceof ServeRequestError) {
      logger.debug({ status: err.status, code: err.code, err: err.message }, 'request refused');
      // A client told its body is too large may still be sending it: do not wait for the rest.
      if (err.status === 413) c.header('connection', 'close');
      if (err.retryAfterSeconds !== null) c.header('retry-after', String(err.retryAfterSeconds));
      return c.json(errorBody(err.code, err.message, err.problems), err.status);
    }
    if (err instanceof InvalidCallIdError) {
      // Checked again where a call joins a batch (enqueue-batcher): still the client's id, still a 400.
      return c.json(errorBody(E_CALL_ID, err.message), 400);
    }
    // Not the client's fault (the outbox failed, a bug): the client may retry, the call is not lost.
    logger.error({ err: maskText(err instanceof Error ? err.message : String(err)), path: c.req.path }, 'ingest request failed');
    return c.json(errorBody('E_SERVE_INTERNAL', 'internal error; nothing was enqueued unless a retry says so: retry the request'), 500);
  });
  app.notFound((c) => c.json(errorBody(E_SERVE_NOT_FOUND, `no route ${c.req.method} ${c.req.path}`), 404));

  app.use('*', async (c, next) => {
    // Set before any answer is made, so that every answer is built with them: set on a finished answer,
    // they would make @hono/node-server turn its light response into a full web Response (about a
    // tenth of serve's CPU per request).
    c.header('x-content-type-options', 'nosniff');
    c.header('cache-control', 'no-store');
    if (!hostAllowed(c.req.header('host'), options.allowedHosts())) {
      // No hint of the right name: the asker may be a page on an attacker's domain.
      c.header('connection', 'close');
      return c.json(errorBody(E_SERVE_HOST, 'misdirected request: this server answers only its own address (see --allow-host)'), 421);
    }
    const cross = crossSiteReason({ origin: c.req.header('origin'), secFetchSite: c.req.header('sec-fetch-site') }, options.allowedHosts());
    if (cross !== null) {
      logger.warn({ path: c.req.path.slice(0, 200), reason: cross }, 'cross-site request refused');
      c.header('connection', 'close');
      return c.json(errorBody(E_SERVE_CROSS_SITE, `cross-site request refused (${cross}): agents call this API directly, not through a browser`), 403);
    }
    await next();
  });

  app.get('/healthz', (c) => c.json({ status: 'ok', worker: options.worker }));
  app.get('/openapi.json', (c) => c.json(OPENAPI_DOCUMENT));

  app.use('/v1/*', async (c, next) => {
    if (!bearerMatches(c.req.header('authorization'), token)) {
      c.header('www-authenticate', 'Bearer realm="crm-upload"');
      return c.json(errorBody(E_SERVE_UNAUTHORIZED, 'missing or wrong Authorization: Bearer token (CRM_INGEST_TOKEN, or the token serve printed at start)'), 401);
    }
    await next();
  });

  app.post('/v1/calls', async (c) => {
    const answer = await postCall(c.req.raw, c.env?.incoming, options);
    return c.json(answer, 202);
  });

  app.get('/v1/calls/:callId', async (c) => {
    const callId = c.req.param('callId');
    const problem = callIdProblem(callId);
    if (problem !== null) throw invalidRequest([{ field: 'callId', code: E_CALL_ID, message: `callId ${shownCallId(callId)} is invalid: ${problem}` }]);
    const item = await store.get(callId);
    if (item === null) return c.json(errorBody(E_SERVE_NOT_FOUND, `no call ${callId} in the outbox`), 404);
    return c.json(callStatusOf(item));
  });

  return app;
}
