/**
 * `crm-upload bulk` runs its work in a worker thread whose young generation is capped
 * (docs/architecture.md, "Throughput"). A bulk allocates a great deal of short-lived garbage
 * (a file read, parsed, mapped and validated per call), and with Node's default flags V8 then grows the
 * main isolate's young generation to 64 MB semi-spaces: well over 100 MB of resident memory for
 * garbage, whatever the run's size. A worker's `resourceLimits` set that limit from inside the process,
 * so the user needs no heap flags; the old generation (what a run really keeps) is left uncapped, since
 * a cap there would end a large run in an out-of-memory abort rather than a slower one.
 *
 * The thread runs `bulkUploadFromDirectory`; this side relays its progress, warnings and dry-run
 * payloads to the CLI's output, and Ctrl-C (the abort signal) to the thread.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BulkOptions, BulkProgress } from '../api/bulk-upload.ts';
import type { BulkSummary } from '../bulk/summary.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import { ConfigError, CrmUploadError, type ErrorCode } from '../errors.ts';
import type { GlobalOptions } from './context.ts';

/** The young generation of the bulk thread, MB: enough for the scavenger, far below the default's growth. */
export const BULK_YOUNG_GENERATION_MB = 8;

/** What the thread is given: the run's options that can cross threads, and the CLI's log options. */
export interface BulkThreadData {
  dir: string;
  options: Pick<BulkOptions, 'config' | 'since' | 'until' | 'maxWaitMs' | 'dryRun' | 'concurrency'>;
  globals: GlobalOptions;
}

/** Messages from the thread. */
export type BulkThreadMessage =
  | { t: 'progress'; p: BulkProgress }
  | { t: 'warning'; w: { code: string; message: string; files: string[] } }
  | { t: 'payload'; payload: CallPayload }
  | { t: 'done'; summary: BulkSummary }
  | { t: 'error'; kind: 'config' | 'crm-upload' | 'other'; message: string; code?: string; context?: Record<string, unknown> };

/** The callbacks of `bulkUploadFromDirectory` the CLI uses, run on this side. */
export type BulkThreadCallbacks = Pick<BulkOptions, 'onPayload' | 'onProgress' | 'onWarning' | 'signal'>;

/** Run a bulk in a worker thread with a capped young generation; resolves to its summary. */
export function bulkInThread(data: BulkThreadData, callbacks: BulkThreadCallbacks): Promise<BulkSummary> {
  // The thread's module sits next to this one, as .ts when running from source and .js once built.
  const entry = new URL(`./bulk-thread-entry${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
  return new Promise<BulkSummary>((resolve, reject) => {
    const worker = new Worker(entry, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: BULK_YOUNG_GENERATION_MB } });
    let settled = false;
    const onAbort = (): void => worker.postMessage({ t: 'abort' });
    if (callbacks.signal?.aborted) onAbort();
    else callbacks.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      callbacks.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    worker.on('message', (m: BulkThreadMessage) => {
      switch (m.t) {
        case 'progress':
          callbacks.onProgress?.(m.p);
          break;
        case 'warning':
          callbacks.onWarning?.(m.w);
          break;
        case 'payload':
          callbacks.onPayload?.(m.payload);
          break;
        case 'done':
          finish(() => resolve(m.summary));
          break;
        case 'error':
          finish(() => reject(rebuilt(m)));
          break;
      }
    });
    worker.on('error', (err) => finish(() => reject(err)));
    worker.on('exit', (code) => finish(() => reject(new Error(`the bulk thread ended (exit code ${code}) before its summary`))));
  });
}

/** The thread's error as the class the CLI maps to an exit code (ConfigError: 2; others: 1). */
function rebuilt(m: Extract<BulkThreadMessage, { t: 'error' }>): Error {
  if (m.kind === 'other') return new Error(m.message);
  const options = { ...m.context, ...(m.code === undefined ? {} : { code: m.code as ErrorCode }) };
  return m.kind === 'config' ? new ConfigError(m.message, options) : new CrmUploadError(m.message, options);
}
