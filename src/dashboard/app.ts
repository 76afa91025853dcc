/**
 * The dashboard's hono app: the pages (overview, per-call timeline), the partials and JSON they poll,
 * the Replay mutation, `/metrics` and `/healthz`, behind the checks of `security.ts`:
 *
 * 1. every request: `Host` must be allowed, else 421 (DNS rebinding);
 * 2. every request that is not GET/HEAD: same origin (`Sec-Fetch-Site`, `Origin`), else 403; then the
 *    Bearer token, else 401; then a JSON body, else 415;
 * 3. no response carries a CORS header, and OPTIONS (a CORS preflight) is a 405.
 *
 * On loopback, reads need no token: the page itself must load before the operator has given it one, and
 * what it shows is masked. Off loopback (issue 15) every route needs it, reads too: as `Authorization:
 * Bearer <token>` (scripts, Prometheus' `authorization` setting) or HTTP Basic with the token as the password
 * (a browser asks for it once). Anything that changes the outbox needs the Bearer token.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Registry } from 'prom-client';
import { isCrmUploadError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { maskText } from '../log/mask.ts';
import type { OutboxStore } from '../outbox/outbox-store.ts';
import { basicPasswordMatches } from '../http/auth.ts';
import { bearerMatches, crossOriginReason, hostAllowed, newNonce } from './security.ts';
import type { DeliveryStats } from './stats.ts';
import { callView, maskerFor, summaryView, type CallView, type SummaryView } from './view-model.ts';
import { callContent, notFoundContent, overviewContent, page, refusalPage, type Html } from './views.ts';

/** Error codes of the dashboard's JSON answers. */
export const DASHBOARD_ERRORS = {
  HOST: 'E_DASHBOARD_HOST',
  CROSS_ORIGIN: 'E_DASHBOARD_CROSS_ORIGIN',
  UNAUTHORIZED: 'E_DASHBOARD_UNAUTHORIZED',
  MEDIA_TYPE: 'E_DASHBOARD_MEDIA_TYPE',
  BAD_REQUEST: 'E_DASHBOARD_BAD_REQUEST',
  NOT_FOUND: 'E_DASHBOARD_NOT_FOUND',
  METHOD: 'E_DASHBOARD_METHOD',
  INTERNAL: 'E_DASHBOARD_INTERNAL',
} as const;

/** Most dead items shown on the overview (the count says how many there are). */
export const DEAD_ROWS_SHOWN = 100;
/** Most callIds in one replay request. */
export const MAX_REPLAY_IDS = 10_000;

/** What the app needs. */
export interface DashboardAppOptions {
  store: OutboxStore;
  /** Every mutation needs `Authorization: Bearer <token>`. */
  token: string;
  /** Reads need the token too (a server beyond loopback); default false. */
  readsNeedToken?: boolean;
  /** The allowed `Host` values; a function, since the port is only known once the server listens. */
  allowedHosts: () => ReadonlySet<string>;
  showPii: boolean;
  stats: DeliveryStats;
  registry: Registry;
  /** How often the page polls. */
  refreshMs: number;
  /** How the outbox is named on the page (no password). */
  outboxName: string;
  logger: Logger;
  now?: () => number;
}

/** The result of `POST /api/dead-letter/replay`. */
export interface ReplayAnswer {
  replayed: number;
  /** Listed callIds that were not dead, with their state (null: not in the outbox). */
  notReplayed: { callId: string; state: string | null }[];
}

const BASE_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  // Another origin cannot even embed an answer (a no-cors fetch, an <img>): it gets nothing.
  'cross-origin-resource-policy': 'same-origin',
};
const NO_CONTENT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const pageCsp = (nonce: string): string =>
  `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

/** Build the app. */
export function createDashboardApp(options: DashboardAppOptions): Hono {
  const { store, token, stats, logger } = options;
  const now = options.now ?? Date.now;
  const mask = maskerFor(options.showPii);
  const app = new Hono();

  app.onError((err, c) => {
    logger.error({ err: maskText(err instanceof Error ? err.message : String(err)), path: c.req.path }, 'dashboard request failed');
    // A payload the configured keys cannot open is said as it is (the key id, never a key): the operator
    // must set CRM_OUTBOX_KEY or CRM_OUTBOX_OLD_KEYS (docs/architecture.md, "Stores" → "Payload encryption").
    if (isCrmUploadError(err, 'E_OUTBOX_KEY')) return c.json({ code: err.code, message: maskText(err.message) }, 500);
    return c.json({ code: DASHBOARD_ERRORS.INTERNAL, message: 'internal error (is the outbox reachable?)' }, 500);
  });

  app.use('*', async (c, next) => {
    if (!hostAllowed(c.req.header('host'), options.allowedHosts())) {
      // No hint of what the right name would be: the asker may be a page on an attacker's domain.
      const res = refuse(c, 421, DASHBOARD_ERRORS.HOST, 'misdirected request: this dashboard answers only its own address (see --allow-host)');
      secureHeaders(res.headers);
      return res;
    }
    await next();
    secureHeaders(c.res.headers);
  });

  app.use('*', async (c, next) => {
    if (options.readsNeedToken !== true) return next();
    const header = c.req.header('authorization');
    if (bearerMatches(header, token) || basicPasswordMatches(header, token)) return next();
    // Basic: a browser then asks for the token (as the password) once and sends it with every request.
    c.header('www-authenticate', 'Basic realm="crm-upload dashboard", charset="UTF-8"');
    return c.json({ code: DASHBOARD_ERRORS.UNAUTHORIZED, message: 'this dashboard is not on loopback: every request needs the token (Bearer, or as the Basic password)' }, 401);
  });

  app.use('*', async (c, next) => {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return next();
    if (method === 'OPTIONS') {
      c.header('allow', 'GET, HEAD, POST');
      return refuse(c, 405, DASHBOARD_ERRORS.METHOD, 'no cross-origin access (this dashboard sends no CORS headers)');
    }
    const cross = crossOriginReason({ origin: c.req.header('origin'), secFetchSite: c.req.header('sec-fetch-site') }, options.allowedHosts());
    if (cross !== null) {
      logger.warn({ path: c.req.path, reason: cross }, 'cross-origin request refused');
      return c.json({ code: DASHBOARD_ERRORS.CROSS_ORIGIN, message: `cross-origin request refused (${cross})` }, 403);
    }
    if (!bearerMatches(c.req.header('authorization'), token)) {
      c.header('www-authenticate', 'Bearer realm="crm-upload dashboard"');
      return c.json({ code: DASHBOARD_ERRORS.UNAUTHORIZED, message: 'missing or wrong Authorization: Bearer token (printed at start-up, or CRM_DASHBOARD_TOKEN)' }, 401);
    }
    // A form or a no-cors fetch can only send text/plain, urlencoded or multipart: requiring JSON is one more wall.
    if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) {
      return c.json({ code: DASHBOARD_ERRORS.MEDIA_TYPE, message: 'the body must be JSON (Content-Type: application/json)' }, 415);
    }
    return next();
  });
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: 1024 * 1024,
      onError: (c) => c.json({ code: DASHBOARD_ERRORS.BAD_REQUEST, message: 'the body is larger than 1 MB' }, 413),
    }),
  );

  async function summary(): Promise<SummaryView> {
    const [counts, dead] = await Promise.all([store.counts(), store.list({ state: 'dead', limit: DEAD_ROWS_SHOWN })]);
    // Deliveries since the last sample: sample now, so that the last hour agrees with the counts shown.
    if (stats.lastDelivered() !== counts.delivered) await stats.sample().catch(() => undefined);
    return summaryView({ counts, dead, stats: stats.snapshot(), outbox: options.outboxName, now: now(), mask });
  }

  async function call(callId: string): Promise<CallView | null> {
    const item = await store.get(callId);
    if (item === null) return null;
    return callView(item, await store.history(callId), now(), mask);
  }

  function renderPage(c: Context, args: { title: string; summaryUrl: string; partialUrl: string; changeKey: string; search?: string }, content: Html, status: 200 | 404 = 200): Response {
    const nonce = newNonce();
    c.header('content-security-policy', pageCsp(nonce));
    return c.html(page({ ...args, nonce, refreshMs: options.refreshMs, showPii: options.showPii }, content).toString(), status);
  }

  function partial(c: Context, changeKey: string, content: Html, status: 200 | 404 = 200): Response {
    c.header('x-change-key', changeKey);
    return c.html(content.toString(), status);
  }

  const callPaths = (callId: string): { summaryUrl: string; partialUrl: string } => {
    const id = encodeURIComponent(callId);
    return { summaryUrl: `/api/calls/${id}`, partialUrl: `/partials/calls/${id}` };
  };
  const notFoundKey = (callId: string): string => `not-found:${callId}`;

  app.get('/', async (c) => {
    const view = await summary();
    return renderPage(c, { title: 'overview', summaryUrl: '/api/summary', partialUrl: '/partials/overview', changeKey: view.changeKey }, overviewContent(view));
  });
  app.get('/partials/overview', async (c) => {
    const view = await summary();
    return partial(c, view.changeKey, overviewContent(view));
  });
  app.get('/api/summary', async (c) => c.json(await summary()));

  app.get('/api/dead-letter', async (c) => {
    const view = await summary();
    return c.json(view.dead);
  });

  app.get('/calls', (c) => {
    const callId = (c.req.query('callId') ?? '').trim();
    return c.redirect(callId === '' ? '/' : `/calls/${encodeURIComponent(callId)}`, 303);
  });
  app.get('/calls/:callId', async (c) => {
    const callId = c.req.param('callId');
    const view = await call(callId);
    const args = { title: callId, search: callId, ...callPaths(callId) };
    if (view === null) return renderPage(c, { ...args, changeKey: notFoundKey(callId) }, notFoundContent(callId), 404);
    return renderPage(c, { ...args, changeKey: view.changeKey }, callContent(view));
  });
  app.get('/partials/calls/:callId', async (c) => {
    const callId = c.req.param('callId');
    const view = await call(callId);
    if (view === null) return partial(c, notFoundKey(callId), notFoundContent(callId), 404);
    return partial(c, view.changeKey, callContent(view));
  });
  app.get('/api/calls/:callId', async (c) => {
    const callId = c.req.param('callId');
    const view = await call(callId);
    if (view === null) return c.json({ code: DASHBOARD_ERRORS.NOT_FOUND, message: `no call ${callId} in the outbox`, changeKey: notFoundKey(callId) }, 404);
    return c.json(view);
  });

  app.post('/api/dead-letter/replay', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ code: DASHBOARD_ERRORS.BAD_REQUEST, message: 'the body is not JSON' }, 400);
    }
    const parsed = replayTarget(body);
    if ('error' in parsed) return c.json({ code: DASHBOARD_ERRORS.BAD_REQUEST, message: parsed.error }, 400);
    const target = parsed.target;
    let answer: ReplayAnswer;
    if (target === 'all') {
      answer = { replayed: await store.replay('all'), notReplayed: [] };
    } else {
      const before = await store.states(target);
      const replayed = await store.replay(target);
      answer = { replayed, notReplayed: target.filter((id) => before.get(id) !== 'dead').map((callId) => ({ callId, state: before.get(callId) ?? null })) };
    }
    logger.info({ replayed: answer.replayed, all: target === 'all' }, 'dead-letter replay from the dashboard');
    return c.json(answer);
  });

  app.get('/metrics', async (c) => {
    const text = await options.registry.metrics();
    return c.body(text, 200, { 'content-type': options.registry.contentType });
  });
  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.notFound((c) => refuse(c, c.req.method === 'GET' || c.req.method === 'HEAD' ? 404 : 405, DASHBOARD_ERRORS.NOT_FOUND, `no route ${c.req.method} ${c.req.path}`));
  return app;
}

/** The callIds (deduplicated) or `all` of a replay body, or why the body is wrong. */
export function replayTarget(body: unknown): { target: string[] | 'all' } | { error: string } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { error: 'the body must be {"callIds":[…]} or {"all":true}' };
  const { all, callIds } = body as { all?: unknown; callIds?: unknown };
  if (all === true) return callIds === undefined ? { target: 'all' } : { error: 'give callIds or all, not both' };
  if (all !== undefined && all !== false) return { error: '"all" must be true' };
  if (!Array.isArray(callIds) || callIds.length === 0) return { error: '"callIds" must be a non-empty array of callIds (or send {"all":true})' };
  if (callIds.length > MAX_REPLAY_IDS) return { error: `at most ${MAX_REPLAY_IDS} callIds per request` };
  if (!callIds.every((id): id is string => typeof id === 'string' && id.trim() !== '' && id.length <= 500)) return { error: 'every callId must be a non-empty string' };
  return { target: [...new Set(callIds)] };
}

function secureHeaders(headers: Headers): void {
  for (const [k, v] of Object.entries(BASE_HEADERS)) headers.set(k, v);
  if (!headers.has('content-security-policy')) headers.set('content-security-policy', NO_CONTENT_CSP);
}

function refuse(c: Context, status: 404 | 405 | 421, code: string, message: string): Response {
  const wantsJson = c.req.path.startsWith('/api/') || /\bjson\b/i.test(c.req.header('accept') ?? '');
  if (wantsJson) return c.json({ code, message }, status);
  // As a plain string: hono answers an escaped-HTML object asynchronously.
  return c.html(refusalPage(status, message).toString(), status);
}
