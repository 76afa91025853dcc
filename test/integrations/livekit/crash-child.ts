/**
 * A LiveKit job that dies mid-call: attaches to a fake session (configured from the environment like
 * a real agent), announces `CRASH_ITEMS` items with the real ChatMessage class, prints
 * `journaled <path>` once they are on disk, and then waits to be SIGKILLed by the test.
 */
import { llm } from '@livekit/agents';
import { attachCrmUpload } from '../../../src/integrations/livekit/index.ts';
import { fakeJob, FakeSession, sipParticipant } from './fakes.ts';

const count = Number(process.env.CRASH_ITEMS ?? '5');
const start = Date.parse('2025-10-29T10:16:19.000Z');
const job = fakeJob({ jobId: process.env.CRASH_JOB_ID ?? 'AJ_crash', metadata: JSON.stringify({ campaignId: 'camp-crash' }) });
const session = new FakeSession(llm.ChatContext.empty());
const attachment = attachCrmUpload(job.ctx, session, { startTime: start, recover: false });
job.room.join(sipParticipant('+919999900002'));
for (let i = 0; i < count; i++) {
  const item = llm.ChatMessage.create({ role: i % 2 === 0 ? 'assistant' : 'user', content: `line ${i}`, createdAt: start + 1000 * (i + 1) });
  session.emit('conversation_item_added', { item, createdAt: item.createdAt });
}
await attachment.flushed();
process.stdout.write(`journaled ${attachment.journalPath}\n`);
setInterval(() => undefined, 60_000);
