/**
 * Generate a folder of small transcript-logger calls for benchmarks: distinct session ids, starts
 * spaced 15 minutes apart (no two calls' windows overlap); with `leadsDir`, one lead file per call,
 * written 20 s into it (matched by the time window, docs/architecture.md "Step 4: time window");
 * `firstIndex` numbers the calls, so that a folder can grow by later calls.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Write `count` sessions under `dir`; returns the folder. */
export async function generateCalls(dir: string, count: number, startMs = Date.UTC(2025, 0, 1), leadsDir?: string, firstIndex = 0): Promise<string> {
  mkdirSync(dir, { recursive: true });
  if (leadsDir !== undefined) mkdirSync(leadsDir, { recursive: true });
  const naive = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');
  // Synchronous writes of small files are several times faster than one promise per file.
  for (let k = 0; k < count; k++) {
    const j = firstIndex + k;
    const start = new Date(startMs + k * 15 * 60_000);
    const end = new Date(start.getTime() + 42_000);
    const session = {
      session_id: `session_bench_${String(j).padStart(8, '0')}`,
      start_time: naive(start),
      end_time: naive(end),
      items: [
        { role: 'assistant', content: 'Namaste! How can I help you today?', timestamp: start.toISOString(), source: 'agent' },
        { role: 'user', content: `I am calling about order ${j}.`, timestamp: new Date(start.getTime() + 5_000).toISOString(), source: 'transcription_node', transcript_confidence: 0.93 },
        { role: 'assistant', content: 'Thank you, our team will call you back.', timestamp: new Date(start.getTime() + 9_000).toISOString(), source: 'agent' },
      ],
      total_items: 3,
      duration_seconds: 42,
      lead_generated: false,
      metadata: {},
    };
    const name = `transcript_session_${end.toISOString().replace(/:/g, '-').replace('Z', '')}.json`;
    writeFileSync(join(dir, name), JSON.stringify(session));
    if (leadsDir !== undefined) {
      const at = new Date(start.getTime() + 20_000);
      const lead = { timestamp: at.toISOString().replace('Z', ''), source: 'bench', status: 'new', name: `Caller ${j}`, email: `caller${j}@example.com`, phone: `99999${String(j % 100_000).padStart(5, '0')}` };
      writeFileSync(join(leadsDir, `lead_${at.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '_')}.json`), JSON.stringify(lead));
    }
  }
  return dir;
}
