/**
 * The LiveKit shutdown callback (docs/architecture.md, "In the call"): how long `attachCrmUpload`'s
 * callback takes to finalise a call of 20 items and a create_lead and enqueue it, with the CRM down —
 * LiveKit gives shutdown callbacks little time, and the agent's next call waits on them. Goal: a median
 * under 50 ms. The tests only check that it never waits for the CRM; the figure is this bench's.
 * Runnable alone: `node bench/livekit-shutdown.ts`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { llm } from '@livekit/agents';
import { attachCrmUpload } from '../src/integrations/livekit/index.ts';
import { silentLogger } from '../src/log/logger.ts';
import { downCrmUrl, fakeJob, FakeSession, sipParticipant, testConfig } from '../test/integrations/livekit/fakes.ts';

const CALLS = 20;

/** Time the shutdown callback of `CALLS` calls in a row and print the median and the slowest. */
export async function benchLivekitShutdown(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'crm-bench-livekit-'));
  try {
    const config = testConfig(dir, await downCrmUrl());
    const times: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const job = fakeJob({ jobId: `AJ_bench_${i}` });
      const history = llm.ChatContext.empty();
      const session = new FakeSession(history);
      const attachment = attachCrmUpload(job.ctx, session, { config, logger: silentLogger() });
      job.room.join(sipParticipant('+919999900001'));
      await attachment.ready;
      for (let k = 0; k < 20; k++) {
        const item = history.addMessage({ role: k % 2 === 0 ? 'assistant' : 'user', content: `sentence number ${k} of a longer call` });
        session.emit('conversation_item_added', { item, createdAt: item.createdAt });
      }
      history.insert(llm.FunctionCall.create({ callId: 'c', name: 'create_lead', args: '{"name":"Asha Rao"}' }));
      await attachment.flushed();
      times.push(await job.shutdown());
      const result = await attachment.finalize();
      if (!result.enqueued) throw new Error(`call ${i} was not enqueued: ${JSON.stringify(result.error)}`);
    }
    const sorted = [...times].sort((a, b) => a - b);
    const median = sorted[Math.floor(CALLS / 2)] ?? Number.NaN;
    process.stdout.write(
      `livekit shutdown: ${CALLS} calls, callback median ${median.toFixed(1)} ms, slowest ${(sorted.at(-1) ?? Number.NaN).toFixed(1)} ms, with the CRM down (goal: median < 50 ms)\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await benchLivekitShutdown();
