/**
 * Ingest throughput: 10,000 generated transcript-logger sessions (~10 items each) held in memory as
 * JSON text, then parsed, detected and read on one core, the work `bulk` does per conversation file
 * once it has the bytes. Goal: ≥ 5,000 sessions per second. Runnable alone: `node bench/ingest.ts`.
 */
import { detectJsonFormat } from '../src/ingest/detect-format.ts';
import { readTranscriptLogger } from '../src/ingest/read-transcript-logger.ts';

const SESSIONS = 10_000;
const ITEMS = 10;

/** One session as the transcript logger writes it: naive UTC session times, `Z` item times, a tool call. */
function session(n: number): string {
  const start = Date.UTC(2025, 9, 23, 7, 0, 0) + n * 37_000;
  const naive = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '123');
  const items: unknown[] = [];
  for (let i = 0; i < ITEMS; i++) {
    const t = new Date(start + i * 3_000).toISOString().replace('Z', '456Z');
    if (i === 6) {
      items.push({ type: 'function_call', name: 'create_lead', arguments: JSON.stringify({ name: `Caller ${n}`, phone: `99999${String(n).padStart(5, '0')}` }), timestamp: t });
    } else if (i % 2 === 0) {
      items.push({ role: 'assistant', content: `Namaste! Main aapki kis tarah help kar sakti hoon? (${n}/${i})`, timestamp: t, source: 'agent' });
    } else {
      items.push({ role: 'user', content: `Mujhe Ringingo ke baare mein jaanna hai, number ${n}.`, timestamp: t, transcript_confidence: 0.93, source: 'transcription_node' });
    }
  }
  return JSON.stringify({
    session_id: `session_bench_${n}`,
    start_time: naive(start),
    end_time: naive(start + ITEMS * 3_000),
    items,
    total_items: ITEMS,
    duration_seconds: ITEMS * 3,
    lead_generated: true,
    metadata: { campaign_metadata: { campaignId: 'c', voiceAgentId: 'v', clientId: 'k' } },
  });
}

/** Generate the sessions, time parse + read, and print sessions per second. */
export async function benchIngest(): Promise<void> {
  const texts: string[] = [];
  for (let n = 0; n < SESSIONS; n++) texts.push(session(n));
  const ctx = { sourceTimezone: 'Asia/Kolkata' };
  const readAll = (): number => {
    let items = 0;
    for (let n = 0; n < texts.length; n++) {
      const doc: unknown = JSON.parse(texts[n] as string);
      if (detectJsonFormat(doc) !== 'transcript-logger') throw new Error(`session ${n} not detected`);
      items += readTranscriptLogger(doc, `/bench/transcript_session_${n}.json`, ctx).items.length;
    }
    return items;
  };
  readAll(); // warm-up: JIT and the zone cache, as in a long bulk run
  const t0 = performance.now();
  const items = readAll();
  const ms = performance.now() - t0;
  const perSecond = Math.round((SESSIONS / ms) * 1000);
  process.stdout.write(
    `ingest: ${SESSIONS} sessions (${items} items) parsed and read in ${ms.toFixed(0)} ms: ${perSecond} sessions/s on one core (goal ≥ 5000)\n`,
  );
}

if (import.meta.main) await benchIngest();
