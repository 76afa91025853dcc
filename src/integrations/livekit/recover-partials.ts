/**
 * Finalising the journals that crashed calls left behind (`crm-upload recover`, and every
 * `attachCrmUpload` at the start of a call): each journal whose writer is gone becomes its session
 * file, its call is enqueued, and the journal is removed. Running it twice enqueues each call once
 * (the callId comes from the session id and start, both in the journal).
 */
import { open, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { loadConfig, type Config } from '../../config/config.ts';
import { createLogger, type Logger } from '../../log/logger.ts';
import { openOutbox } from '../../delivery/open-delivery.ts';
import type { OutboxStore } from '../../outbox/outbox-store.ts';
import { endLineFor, errorInfo, finalizeJournal, syncDir, TEMP_SUFFIX, type FinalizeResult } from './finalize-session.ts';
import { ownerState, type JournalOwner } from './journal-owner.ts';
import { applyJournalLine, E_JOURNAL_HEADER, isJournalName, readJournal, type JournalEndLine } from './session-journal.ts';

/** A journal from another host untouched for this long is taken as abandoned (calls add lines every few seconds). */
export const DEFAULT_STALE_AFTER_MS = 60 * 60_000;
/** Temporary session files older than this are debris of a crash (a write takes milliseconds). */
const TEMP_DEBRIS_MS = 60_000;

/** Options of `recoverPartials`; each defaults to the environment (`loadConfig`). */
export interface RecoverOptions {
  config?: Config;
  /** An open store (left open), or a target in `CRM_OUTBOX` form; default `CRM_OUTBOX`. */
  outbox?: OutboxStore | string;
  logger?: Logger;
  /** Finalise journals whose writer seems alive too (it is not: you know better). */
  force?: boolean;
  /** See DEFAULT_STALE_AFTER_MS. */
  staleAfterMs?: number;
}

/** What happened to one journal. */
export interface RecoverResult extends FinalizeResult {
  /** `live`: its call is still going on (its writer runs); nothing was done. */
  status: 'recovered' | 'live' | 'failed';
}

/**
 * Finalise every journal in `dir` (default `CRM_CONVERSATIONS_DIR`, else `conversations`) whose
 * writer is gone. A folder that does not exist holds nothing to recover. Rejects only when the
 * configuration or the outbox cannot be had; each journal's own failure is in its result.
 */
export async function recoverPartials(dir?: string, options: RecoverOptions = {}): Promise<RecoverResult[]> {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
  const folder = resolve(config.cwd, dir ?? config.conversationsDir ?? 'conversations');
  let names: string[];
  try {
    names = (await readdir(folder)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  await removeTempDebris(folder, names);
  const journals = names.filter(isJournalName).map((n) => join(folder, n));
  if (journals.length === 0) return [];

  const given = typeof options.outbox === 'object' ? options.outbox : null;
  // Opened only when a journal needs it, and closed at the end.
  const own: { store: Promise<OutboxStore> | null } = { store: null };
  const store = (): Promise<OutboxStore> => {
    if (given !== null) return Promise.resolve(given);
    own.store ??= openOutbox(config, options.outbox).then(({ store }) => store);
    return own.store;
  };
  const results: RecoverResult[] = [];
  try {
    for (const journal of journals) {
      results.push(await recoverOne(journal, { config, logger, store, force: options.force === true, staleAfterMs: options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS }));
    }
  } finally {
    if (own.store !== null) await (await own.store.catch(() => null))?.close();
  }
  return results;
}

interface RecoverContext {
  config: Config;
  logger: Logger;
  store: () => Promise<OutboxStore>;
  force: boolean;
  staleAfterMs: number;
}

async function recoverOne(journal: string, ctx: RecoverContext): Promise<RecoverResult> {
  let parsed;
  try {
    parsed = await readJournal(journal);
  } catch (err) {
    const error = errorInfo(err);
    // Gone meanwhile: another recovery (or its own call's end) finalised it.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { journal, sessionId: '', enqueued: false, status: 'recovered' };
    // Just created by a call starting in another process, its header not written yet.
    if (error.code === E_JOURNAL_HEADER && (await isFresh(journal, TEMP_DEBRIS_MS))) return { journal, sessionId: '', enqueued: false, status: 'live' };
    ctx.logger.error({ journal, code: error.code, err: error.message }, 'cannot read the journal; it is left where it is');
    return { journal, sessionId: '', enqueued: false, status: 'failed', error };
  }
  const { state, skippedLines } = parsed;
  const sessionId = state.header.session_id;
  if (!ctx.force && (await isLive(journal, state.header.owner, ctx.staleAfterMs))) {
    return { journal, sessionId, enqueued: false, status: 'live' };
  }
  if (skippedLines > 0) ctx.logger.warn({ journal, skippedLines }, 'journal lines cut by a crash were left out');

  if (state.end === null) {
    let end: JournalEndLine;
    try {
      end = await endLineFor(state, dirname(journal), null, { recordingsDir: ctx.config.recordingsDir, cwd: ctx.config.cwd }, ctx.logger);
      // Fixed in the journal first: a recovery cut short is finished by the next one with the same file.
      await appendDurably(journal, `${JSON.stringify(end)}\n`);
    } catch (err) {
      const error = errorInfo(err);
      ctx.logger.error({ journal, code: error.code, err: error.message }, 'cannot finalise the journal; it is left where it is');
      return { journal, sessionId, enqueued: false, status: 'failed', error };
    }
    applyJournalLine(state, end);
  }
  let store: OutboxStore;
  try {
    store = await ctx.store();
  } catch (err) {
    const error = errorInfo(err);
    ctx.logger.error({ journal, code: error.code, err: error.message }, 'cannot open the outbox; the journal is left where it is');
    return { journal, sessionId, enqueued: false, status: 'failed', error };
  }
  const result = await finalizeJournal(journal, state, { config: ctx.config, store, logger: ctx.logger });
  if (result.error === undefined) ctx.logger.info({ journal, file: result.file, callId: result.callId, enqueued: result.enqueued }, 'recovered the journal of a call that did not end cleanly');
  return { ...result, status: result.error === undefined ? 'recovered' : 'failed' };
}

/** True when the journal's call may still be going on. */
async function isLive(journal: string, owner: JournalOwner, staleAfterMs: number): Promise<boolean> {
  const known = ownerState(owner, journal);
  if (known !== 'unknown') return known === 'alive';
  return isFresh(journal, staleAfterMs);
}

/** True when the file changed less than `ms` ago. */
async function isFresh(file: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(file)).mtimeMs < ms;
  } catch {
    return false;
  }
}

/** Append and fdatasync (a line that must be on disk before what follows). */
async function appendDurably(file: string, text: string): Promise<void> {
  const handle = await open(file, 'a');
  try {
    // A journal cut mid-line by a crash: start on a line of our own.
    await handle.write(text.startsWith('\n') ? text : `\n${text}`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Remove the temporary session files crashed finalisations left (never a fresh one: it may be being written). */
async function removeTempDebris(folder: string, names: readonly string[]): Promise<void> {
  let removed = false;
  for (const name of names) {
    if (!name.startsWith('transcript_session_') || !name.endsWith(TEMP_SUFFIX)) continue;
    const path = join(folder, name);
    try {
      if (Date.now() - (await stat(path)).mtimeMs < TEMP_DEBRIS_MS) continue;
      await unlink(path);
      removed = true;
    } catch {
      // Renamed into place or removed meanwhile.
    }
  }
  if (removed) await syncDir(folder);
}
