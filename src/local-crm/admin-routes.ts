/**
 * Admin routes of the local CRM (`/__admin/...`), for tests: what it saw, what it holds, and faults to
 * switch at run time. They are never subject to faults and never logged as requests.
 *
 * - `GET /__admin/requests[?since=SEQ]`, `GET /__admin/calls`, `GET /__admin/uploads`, `GET /__admin/stats`
 * - `GET /__admin/duplicates`: the callIds held more than once (`[{ callId, count }]`, `ignoreIdempotency`)
 * - `GET /__admin/faults`, `POST /__admin/faults` (a `FaultsUpdate`; answers the new state)
 * - `POST /__admin/calls` (insert a payload as is), `DELETE /__admin/calls/:callId`
 * - `POST /__admin/reset` (calls, uploads, log, counts and faults back to the start)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallPayload } from '../payload/call-payload.ts';
import { FaultSettingError } from './options.ts';
import { readJson, sendJson } from './http-io.ts';
import type { CrmContext } from './public-routes.ts';

/** Prefix of every admin route. */
export const ADMIN_PREFIX = '/__admin';

/** Handle one admin request. */
export async function handleAdmin(ctx: CrmContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const route = `${req.method ?? 'GET'} ${url.pathname.slice(ADMIN_PREFIX.length)}`;
  switch (route) {
    case 'GET /requests': {
      const since = Number(url.searchParams.get('since') ?? 0);
      return sendJson(res, 200, ctx.log.records(Number.isFinite(since) ? since : 0));
    }
    case 'GET /calls':
      return sendJson(res, 200, ctx.store.calls().map((c) => c.payload));
    case 'GET /uploads':
      return sendJson(res, 200, ctx.store.uploads().map(({ response: _response, ...meta }) => meta));
    case 'GET /duplicates':
      return sendJson(res, 200, ctx.store.duplicates());
    case 'GET /stats':
      return sendJson(res, 200, ctx.log.stats);
    case 'GET /faults':
      return sendJson(res, 200, ctx.faults.state());
    case 'POST /faults': {
      const body = await readJson(req);
      if (!body.ok) return sendJson(res, body.status, { success: false, message: body.message });
      try {
        ctx.faults.update(body.value);
      } catch (err) {
        if (err instanceof FaultSettingError) return sendJson(res, 400, { success: false, message: err.message, field: err.field });
        throw err;
      }
      return sendJson(res, 200, ctx.faults.state());
    }
    case 'POST /calls': {
      const body = await readJson(req);
      if (!body.ok) return sendJson(res, body.status, { success: false, message: body.message });
      const payload = body.value as CallPayload | null;
      const callId = payload?.callDetails?.callId;
      if (payload === null || typeof callId !== 'string' || callId === '') return sendJson(res, 400, { success: false, message: 'callDetails.callId is required' });
      const createdAt = new Date().toISOString();
      // No Idempotency-Key: any later POST of this call is a 409, as for a call created by someone else.
      await ctx.store.putCall({ callId, payload, idempotencyKey: null, response: { status: 201, body: { success: true, data: { callId } } }, createdAt });
      return sendJson(res, 201, { success: true, data: { callId } });
    }
    case 'POST /reset':
      await ctx.store.reset();
      ctx.log.reset();
      ctx.faults.reset();
      return sendJson(res, 200, { success: true });
    default:
      break;
  }
  const del = /^\/calls\/(.+)$/.exec(url.pathname.slice(ADMIN_PREFIX.length));
  if (req.method === 'DELETE' && del?.[1] !== undefined) {
    const callId = decodeURIComponent(del[1]);
    const had = await ctx.store.deleteCall(callId);
    return sendJson(res, had ? 200 : 404, { success: had, callId });
  }
  sendJson(res, 404, { success: false, message: `no admin route ${route}` });
}
