/**
 * `crm-upload doctor`: every check in order — the configuration, the CRM, the outbox, the folders, the
 * tokens — from the variables as the other commands read them (environment over `.env`). It reads the
 * variables itself rather than through `loadConfig`, so that one bad value becomes one ✗ line among
 * the others instead of an error that hides them.
 */
import { resolve } from 'node:path';
import { DEFAULT_API_URL } from '../config/config.ts';
import { isRedisTarget } from '../outbox/create-outbox.ts';
import type { CheckResult } from './check.ts';
import { checkCrmUrl, checkRequiredIds, checkToken, shownUrl, TOKEN_VARIABLES, varOf, type Vars } from './config-checks.ts';
import { checkClock, checkCrmAnswer, checkTls } from './crm-checks.ts';
import { checkFolder, FOLDER_VARIABLES } from './folder-checks.ts';
import { checkOutboxKey } from './key-checks.ts';
import { checkRedisEviction, checkRedisPersistence, checkRedisReachable, checkSqliteMode, checkSqliteOpens, checkSqliteWritable } from './outbox-checks.ts';
import { probeCrm, probeFolder, probeRedis, probeSqlite, probeOutboxKey } from './probes.ts';

/** Default outbox, as the configuration has it. */
const DEFAULT_OUTBOX = '.crm-upload/outbox.db';

/** Options of `runDoctor`. */
export interface DoctorOptions {
  /** The variables (environment over `.env`). */
  vars: Vars;
  /** Folder relative paths are read from. */
  cwd: string;
  /** How long the CRM and Redis may take to answer; default 10 s. */
  timeoutMs?: number;
}

/** Run every check; one result per line of the report. */
export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  const { vars, cwd } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const results: CheckResult[] = [checkRequiredIds(vars)];

  const allowInsecure = /^(1|true|yes|on)$/i.test(varOf(vars, 'CRM_ALLOW_INSECURE') ?? '');
  const api = checkCrmUrl('CRM_API_URL', varOf(vars, 'CRM_API_URL') ?? DEFAULT_API_URL, allowInsecure);
  results.push(api.result);
  let uploadDefault: string | null = null;
  if (api.usable !== null) uploadDefault = new URL('/apis/api/public/upload', api.usable).toString();
  const uploadValue = varOf(vars, 'CRM_UPLOAD_URL') ?? uploadDefault;
  if (uploadValue !== null) results.push(checkCrmUrl('CRM_UPLOAD_URL', uploadValue, allowInsecure).result);

  if (api.usable === null) {
    // Never send the API key to a URL that failed its check (plain http to another host).
    const detail = 'not checked: fix CRM_API_URL first';
    results.push({ id: 'crm.answer', title: 'CRM answers', status: 'skip', detail }, { id: 'crm.tls', title: 'TLS', status: 'skip', detail }, { id: 'crm.clock', title: 'clock', status: 'skip', detail });
  } else {
    const { result, receivedAt } = await probeCrm({ apiUrl: api.usable.toString(), uploadUrl: uploadValue ?? api.usable.toString(), apiKey: varOf(vars, 'CRM_API_KEY'), timeoutMs });
    results.push(checkCrmAnswer(result, shownUrl(api.usable)), checkTls(api.usable, result), checkClock(result, receivedAt));
  }

  const outbox = varOf(vars, 'CRM_OUTBOX') ?? DEFAULT_OUTBOX;
  if (isRedisTarget(outbox)) {
    const facts = await probeRedis(outbox, timeoutMs);
    results.push(checkRedisReachable(facts), checkRedisEviction(facts), checkRedisPersistence(facts));
  } else {
    const facts = await probeSqlite(resolve(cwd, outbox));
    results.push(checkSqliteOpens(facts), checkSqliteWritable(facts), checkSqliteMode(facts));
  }
  const redisOutbox = isRedisTarget(outbox);
  const keyFacts = await probeOutboxKey({ key: varOf(vars, 'CRM_OUTBOX_KEY'), oldKeys: varOf(vars, 'CRM_OUTBOX_OLD_KEYS'), outbox: redisOutbox ? outbox : resolve(cwd, outbox), redis: redisOutbox, timeoutMs });
  results.push(checkOutboxKey(keyFacts));

  const folders = FOLDER_VARIABLES.filter((v) => varOf(vars, v) !== null);
  if (folders.length === 0) results.push({ id: 'folders', title: 'folders', status: 'skip', detail: `none configured (${FOLDER_VARIABLES.join(', ')}); commands take them as arguments` });
  for (const v of folders) results.push(checkFolder(await probeFolder(v, resolve(cwd, varOf(vars, v) as string))));

  for (const t of TOKEN_VARIABLES) results.push(checkToken(t, varOf(vars, t)));
  return results;
}
