/**
 * The bulk thread (see `bulk-thread.ts`): runs `bulkUploadFromDirectory` with the CLI's logger and
 * posts its progress, warnings, dry-run payloads and summary (or error) to the CLI's thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { bulkUploadFromDirectory } from '../api/bulk-upload.ts';
import { ConfigError, CrmUploadError } from '../errors.ts';
import type { BulkThreadData, BulkThreadMessage } from './bulk-thread.ts';
import { applyLogOptions, cliLogger } from './context.ts';

const port = parentPort;
if (port === null) throw new Error('bulk-thread-entry.ts runs only as a worker thread');
const data = workerData as BulkThreadData;
const post = (m: BulkThreadMessage): void => port.postMessage(m);
const abort = new AbortController();
/** How often progress is relayed, ms. */
const PROGRESS_MS = 100;
let lastPost = -Infinity;
let lastPhase: string | null = null;
port.on('message', (m: { t: string }) => {
  if (m.t === 'abort') abort.abort(new Error('interrupted'));
});

try {
  applyLogOptions(data.globals);
  const summary = await bulkUploadFromDirectory(data.dir, {
    ...data.options,
    signal: abort.signal,
    logger: cliLogger(data.globals),
    onPayload: (payload) => post({ t: 'payload', payload }),
    onProgress: (p) => {
      // At most every PROGRESS_MS (and at each phase's start and end): a message per file would have the
      // CLI's thread allocate as much as this one, undoing the point of the thread.
      const now = performance.now();
      if (p.phase === lastPhase && p.done !== p.total && now - lastPost < PROGRESS_MS) return;
      lastPhase = p.phase;
      lastPost = now;
      post({ t: 'progress', p });
    },
    onWarning: (w) => post({ t: 'warning', w }),
  });
  post({ t: 'done', summary });
} catch (err) {
  if (err instanceof CrmUploadError) {
    post({ t: 'error', kind: err instanceof ConfigError ? 'config' : 'crm-upload', message: err.message, code: err.code, context: { ...err.context } });
  } else {
    post({ t: 'error', kind: 'other', message: err instanceof Error ? err.message : String(err) });
  }
}
// The port's listener must not keep the thread alive once the run is over (what was posted is delivered).
port.unref();
