/**
 * `npm run bench`: every benchmark in one run, each printing its figures and ratios. Benchmarks are
 * never timed tests: they report, they do not fail.
 */
import { benchIngest } from './ingest.ts';
import { benchOutbox } from './outbox.ts';
import { benchDelivery } from './delivery.ts';
import { benchUncertain } from './uncertain.ts';
import { benchRateLimit } from './rate-limit.ts';
import { benchTranscriptLogger } from './transcript-logger.ts';
import { benchBulk } from './bulk.ts';
import { benchBullmq } from './bullmq.ts';
import { benchServe } from './serve.ts';
import { benchLivekitShutdown } from './livekit-shutdown.ts';
import { benchSigkillRepeats } from './sigkill-repeats.ts';

const only = process.argv[2];
const all: [string, () => Promise<void>][] = [
  ['ingest', benchIngest],
  ['outbox', benchOutbox],
  ['delivery', benchDelivery],
  ['uncertain', benchUncertain],
  ['rate-limit', async () => void (await benchRateLimit())],
  ['transcript-logger', benchTranscriptLogger],
  ['bulk', benchBulk],
  ['bullmq', benchBullmq],
  ['serve', benchServe],
  ['livekit-shutdown', benchLivekitShutdown],
  ['sigkill', benchSigkillRepeats],
];
for (const [name, run] of all) {
  if (only && only !== name) continue;
  console.log(`\n== ${name} ==`);
  await run();
}
