/**
 * `crm-upload watch`: enqueue each new call once its files are complete, and deliver continuously.
 *
 * Each cycle rescans the folders (an `fs.watch` event starts the next cycle early; the periodic rescan
 * means an event missed by the watcher is never a call missed). A conversation is ready when its size
 * has not changed since the previous cycle (and `.partial` files are never read); it is then held for
 * up to `recordingGraceMs` until a recording matches it, since egress often finishes after the
 * transcript is saved. A recording egress is still writing matches by its name like any other (no
 * duration yet); the call is enqueued with it and the worker waits for the file to be finished.
 * Enqueueing is idempotent by callId, so a restart never sends a call twice.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { collectCalls, hydrateBundle, runFolders, stillWritingWarnings } from '../bulk/collect-calls.ts';
import type { Config } from '../config/config.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { OutboxItem, OutboxStore, Settlement } from '../outbox/outbox-store.ts';
import { buildPayload } from '../payload/build-payload.ts';
import { assertValidPayload } from '../payload/validate-payload.ts';
import type { WorkerHandle } from '../worker/worker.ts';
import { openDelivery } from '../delivery/open-delivery.ts';

/** Options of `watchFolders`. */
export interface WatchOptions {
  config: Config;
  conversationsDir: string;
  leadsDir?: string | null;
  recordingsDir?: string | null;
  manifestsDir?: string | null;
  /** Rescan period; default 2 s. */
  pollMs?: number;
  /** How long a ready call waits for its recording before it is sent without one; default 15 s. */
  recordingGraceMs?: number;
  store?: OutboxStore;
  logger?: Logger;
  /** Called when a call is enqueued (`enqueued: false` when the outbox already had it). */
  onEnqueued?: (event: { callId: string; file: string; enqueued: boolean; recording: string | null }) => void;
  onError?: (error: { file: string; reason: string }) => void;
  /** Called once each delivery outcome is committed (the worker's `onSettled`). */
  onSettled?: (settlement: Settlement, item: OutboxItem) => void;
}

/** A running watch. */
export interface WatchHandle {
  /** Stop watching, let deliveries in flight finish, release the rest. */
  stop(): Promise<void>;
  done: Promise<void>;
}

interface Pending {
  size: number;
  readyAt: number | null;
}

/** Start watching the folders. */
export async function watchFolders(options: WatchOptions): Promise<WatchHandle> {
  const { config } = options;
  const pollMs = options.pollMs ?? 2_000;
  const graceMs = options.recordingGraceMs ?? 15_000;
  const folders = {
    conversationsDir: options.conversationsDir,
    leadsDir: options.leadsDir === undefined ? config.leadsDir : options.leadsDir,
    recordingsDir: options.recordingsDir === undefined ? config.recordingsDir : options.recordingsDir,
    manifestsDir: options.manifestsDir === undefined ? config.manifestsDir : options.manifestsDir,
  };
  const session = await openDelivery(config, options);
  const worker: WorkerHandle = session.startWorker({ config, onSettled: options.onSettled });
  const done = new Set<string>();
  const reported = new Set<string>();
  const pending = new Map<string, Pending>();
  let stopping = false;
  let wake: (() => void) | null = null;

  const watchers: FSWatcher[] = [];
  for (const dir of runFolders({ ...folders, sourceTimezone: config.sourceTimezone })) {
    try {
      const w = watch(dir, { recursive: true }, () => wake?.());
      w.on('error', () => undefined); // the periodic rescan covers a watcher that fails
      watchers.push(w);
    } catch {
      // A folder that does not exist yet is picked up by the rescan once it does.
    }
  }

  async function cycle(): Promise<void> {
    const found = await collectCalls({ ...folders, sourceTimezone: config.sourceTimezone, defaultRegion: config.defaultRegion });
    for (const e of found.errors) {
      if (reported.has(`${e.file}\0${e.reason}`)) continue;
      reported.add(`${e.file}\0${e.reason}`);
      options.onError?.(e);
    }
    const now = Date.now();
    for (const bundle of found.bundles) {
      const file = bundle.call.file;
      if (done.has(file)) continue;
      let size: number;
      try {
        size = (await stat(file)).size;
      } catch {
        continue;
      }
      const seen = pending.get(file);
      if (!seen || seen.size !== size) {
        pending.set(file, { size, readyAt: null });
        continue; // not stable yet: look again next cycle
      }
      seen.readyAt ??= now;
      if (bundle.recording === null && now - seen.readyAt < graceMs) continue;
      try {
        const full = await hydrateBundle(bundle, config);
        const payload = buildPayload(full, config);
        const callId = payload.callDetails.callId;
        assertValidPayload(payload, { file, callId });
        const result = await session.store.enqueue({ callId, payload, recordingPath: full.recording?.file ?? null, sourceFile: file });
        options.onEnqueued?.({ callId, file, enqueued: result.enqueued, recording: full.recording?.file ?? null });
        // A recording egress is still writing is enqueued with its call, not dropped: the worker waits for it.
        if (result.enqueued) for (const w of stillWritingWarnings([full])) session.logger.warn({ code: w.code, files: w.files }, w.message);
      } catch (err) {
        options.onError?.({ file, reason: describeError(err) });
      }
      done.add(file);
      pending.delete(file);
    }
  }

  const loop = (async () => {
    while (!stopping) {
      try {
        await cycle();
      } catch (err) {
        session.logger.error({ err: describeError(err) }, 'watch cycle failed; retrying');
      }
      if (stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          // Let a burst of events settle before rescanning.
          setTimeout(resolve, Math.min(250, pollMs));
        };
      });
      wake = null;
    }
  })();

  let stopped: Promise<void> | null = null;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      wake?.();
      for (const w of watchers) w.close();
      await loop;
      await worker.stop();
      await worker.done.catch(() => undefined);
      await session.close();
    })();
    return stopped;
  };
  return { stop, done: loop.then(() => stopped ?? undefined) };
}
