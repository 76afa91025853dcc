/**
 * Shared set-up of the ingest API tests: a real local CRM, a real ingest server over a fresh SQLite
 * outbox in a temporary folder (with a recordings folder), and small HTTP helpers. No mocks: every
 * request goes over a socket.
 */
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.ts';
import type { OutboxItem } from '../../src/outbox/outbox-store.ts';
import { startIngestServer, type IngestServer, type IngestServerOptions } from '../../src/serve/server.ts';
import { startTestCrm, type LocalCrm } from '../helpers/local-crm.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

/** The fixtures (by real path: the tools report real paths). */
export const FIX = FIXTURES;
export const LOGGER_SESSION = join(FIX, 'conversations/transcript-logger/transcript_session_2025-10-23T07-57-04.661114.json');
export const LIVEKIT_HISTORY = join(FIX, 'conversations/livekit-history/transcript_session_2025-10-29T10-16-54.630373.json');
export const MONGO_EXPORT = join(FIX, 'conversations/mongo-export/transcript_session_68ff5c0f015c_68ff5b90015c_session17617458.json');
export const LEGACY = join(FIX, 'conversations/legacy/conversation_20251007_164256.json');
export const OGG = join(FIX, 'recordings/number-_919999900001-1761745857.ogg');
export const OGG_SIZE = 143_347;

/** A parsed JSON fixture. */
export function fixture(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

/** What a test gets: the CRM, the server, the config it runs with, and the temporary folders. */
export interface ServeRig {
  crm: LocalCrm;
  server: IngestServer;
  config: Config;
  dir: string;
  recordingsDir: string;
  /** `server.url` + path. */
  url(path: string): string;
  close(): Promise<void>;
}

/** The env of a test server: ids set, pacing off, short retries; `undefined` removes a variable. */
export function rigEnv(crm: LocalCrm, dir: string, over: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {
    CRM_API_URL: crm.callDataUrl,
    CRM_OUTBOX: join(dir, 'outbox.db'),
    CRM_CAMPAIGN_ID: 'camp',
    CRM_VOICE_AGENT_ID: 'agent',
    CRM_CLIENT_ID: 'client',
    CRM_RATE_LIMIT: '0',
    CRM_RETRY_SCHEDULE: '50ms,100ms',
    CRM_RECORDING_WAIT_MS: '1s',
    CRM_RECORDINGS_DIR: join(dir, 'recordings'),
    CRM_SOURCE_TIMEZONE: 'Asia/Kolkata',
    ...over,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env;
}

/** Start a local CRM and an ingest server on free ports. */
export async function startRig(env: Record<string, string | undefined> = {}, options: IngestServerOptions = {}): Promise<ServeRig> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'crm-serve-')));
  const recordingsDir = join(dir, 'recordings');
  mkdirSync(recordingsDir);
  const crm = await startTestCrm();
  const config = loadConfig({ env: rigEnv(crm, dir, env), cwd: dir, envFile: null });
  let server: IngestServer;
  try {
    server = await startIngestServer({ config, port: 0, ...options });
  } catch (err) {
    await crm.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    crm,
    server,
    config,
    dir,
    recordingsDir,
    url: (path) => `${server.url}${path}`,
    async close() {
      await server.close();
      await crm.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An HTTP answer with its parsed JSON body. */
export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** POST a call as JSON (or any body, with `raw`), with the server's token unless `token` says otherwise (null: none). */
export async function postCall(rig: ServeRig, body: unknown, options: { token?: string | null; raw?: string; type?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': options.type ?? 'application/json' };
  const token = options.token === undefined ? rig.server.token : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(rig.url('/v1/calls'), { method: 'POST', headers, body: options.raw ?? JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** GET a path of the server, with its token unless `token` says otherwise (null: none). */
export async function getJson(rig: ServeRig, path: string, token: string | null = rig.server.token): Promise<Answer> {
  const res = await fetch(rig.url(path), { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** How many items the outbox holds, whatever their state (the worker moves them between states meanwhile). */
export async function itemCount(rig: ServeRig): Promise<number> {
  const c = await rig.server.store.counts();
  return c.pending + c.in_flight + c.delivered + c.dead;
}

/** Poll the outbox until the item reaches `state` (default delivered); fails after `timeoutMs`. */
export async function waitForState(rig: ServeRig, callId: string, state: OutboxItem['state'] = 'delivered', timeoutMs = 10_000): Promise<OutboxItem> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const item = await rig.server.store.get(callId);
    if (item?.state === state) return item;
    if (Date.now() > deadline) throw new Error(`${callId} did not become ${state} within ${timeoutMs} ms (now ${item?.state ?? 'missing'}, last error ${item?.lastError ?? '-'})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
