/**
 * A generated folder of past calls for the bulk end-to-end tests: transcript-logger sessions (docs/architecture.md
 * format 1) with distinct session ids, starts 15 min apart so that no lead window of one call reaches
 * another, one lead file per call (`lead_YYYYMMDD_HHMMSS.json`, naive IST, written during its call), and
 * for every `recordingEvery`-th call a copy of the fixture recording named as LiveKit egress names it
 * (`number-_<digits>-<epoch of the call start>.ogg`). The expected callId, lead and recording of each
 * call are returned, computed here from the generator's own numbers (not by the library).
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OGG } from './run-cli.ts';

/** One generated call and what the CRM must end up holding for it. */
export interface GeneratedCall {
  index: number;
  sessionId: string;
  /** `CALL-<YYYYMMDD-HHMMSS of the UTC start>-<last 8 of the session id>` (docs/architecture.md, "Payload"). */
  callId: string;
  /** The conversation file. */
  file: string;
  startMs: number;
  endMs: number;
  /** UTC ISO with Z and milliseconds, as the payload carries it. */
  startIso: string;
  endIso: string;
  leadFile: string;
  leadEmail: string;
  leadName: string;
  /** The lead's time as the payload must carry it (UTC ISO). */
  leadTimeIso: string;
  /** The recording file, or null. */
  recordingFile: string | null;
  /** E.164 caller number (from the recording's name), or null when there is no recording. */
  callerNumber: string | null;
}

/** The folders of a generated set. */
export interface GeneratedSet {
  root: string;
  conversationsDir: string;
  leadsDir: string;
  recordingsDir: string;
  calls: GeneratedCall[];
}

/** Options of `generateCalls`. */
export interface GenerateOptions {
  count: number;
  /** Every n-th call (index % n === 0) gets a recording; 0 = none. Default 10. */
  recordingEvery?: number;
  /** Start of call 0 (UTC ISO, whole seconds). Default 2025-11-03T04:00:00Z. */
  firstStart?: string;
  /** Minutes between call starts; at least 15. Default 15. */
  spacingMin?: number;
}

const IST_OFFSET_MS = 330 * 60_000;

/** `YYYY-MM-DDTHH:MM:SS.mmm` of a wall clock given as epoch-like ms (no zone). */
function wall(ms: number): { date: string; time: string; compact: string } {
  const iso = new Date(ms).toISOString(); // 2025-11-03T04:00:00.000Z
  const date = iso.slice(0, 10);
  const time = iso.slice(11, 23);
  return { date, time, compact: `${date.replaceAll('-', '')}_${time.slice(0, 8).replaceAll(':', '')}` };
}

/** Naive UTC as the transcript logger writes it: `2025-11-03 04:00:00.000000`. */
const naiveUtc = (ms: number) => `${wall(ms).date} ${wall(ms).time}000`;
/** Z-suffixed UTC as the logger writes item times: `2025-11-03T04:00:00.000000Z`. */
const zUtc = (ms: number) => `${wall(ms).date}T${wall(ms).time}000Z`;
/** Naive IST as lead files carry it: `2025-11-03T09:30:20.000000`. */
const naiveIst = (ms: number) => `${wall(ms + IST_OFFSET_MS).date}T${wall(ms + IST_OFFSET_MS).time}000`;

/** Write `count` calls under `root` (conversations/, leads/, recordings/). */
export function generateCalls(root: string, options: GenerateOptions): GeneratedSet {
  const recordingEvery = options.recordingEvery ?? 10;
  const spacingMs = Math.max(15, options.spacingMin ?? 15) * 60_000;
  const first = Date.parse(options.firstStart ?? '2025-11-03T04:00:00Z');
  const conversationsDir = join(root, 'conversations');
  const leadsDir = join(root, 'leads');
  const recordingsDir = join(root, 'recordings');
  for (const d of [conversationsDir, leadsDir, recordingsDir]) mkdirSync(d, { recursive: true });

  const calls: GeneratedCall[] = [];
  for (let i = 0; i < options.count; i++) {
    const startMs = first + i * spacingMs;
    const durationS = 40 + (i % 20);
    const endMs = startMs + durationS * 1000;
    const suffix = `e2e${i.toString(16).padStart(5, '0')}`; // 8 hex digits, distinct per call
    const sessionId = `session_${wall(startMs).compact}_${suffix}`;
    const callId = `CALL-${wall(startMs).compact.replace('_', '-')}-${suffix}`;
    const leadMs = startMs + 20_000; // written during the call
    const leadName = `Caller ${i}`;
    const leadEmail = `caller${i}@example.com`;

    // The logger names the file by when it was saved (about the call's end), in UTC.
    const saved = wall(endMs + 57);
    const file = join(conversationsDir, `transcript_session_${saved.date}T${saved.time.replaceAll(':', '-')}000.json`);
    writeFileSync(
      file,
      JSON.stringify(
        {
          session_id: sessionId,
          start_time: naiveUtc(startMs),
          end_time: naiveUtc(endMs),
          items: [
            { role: 'assistant', content: `Namaste! This is call ${i}.`, timestamp: zUtc(startMs), source: 'agent' },
            { role: 'user', content: `Hello, I am ${leadName}.`, timestamp: zUtc(startMs + 10_000), transcript_confidence: 0.9, source: 'transcription_node' },
            { role: 'assistant', content: `Thank you, ${leadName}.`, timestamp: zUtc(endMs - 2_000), source: 'agent' },
          ],
          total_items: 3,
          duration_seconds: durationS,
          lead_generated: true,
          metadata: {},
        },
        null,
        2,
      ),
    );

    const leadFile = join(leadsDir, `lead_${wall(leadMs + IST_OFFSET_MS).compact}.json`);
    writeFileSync(
      leadFile,
      JSON.stringify(
        {
          timestamp: naiveIst(leadMs),
          source: 'Friday AI Assistant',
          status: 'new',
          name: leadName,
          email: leadEmail,
          company: `Company ${i}`,
          interest: 'AI Solutions',
          phone: `90000${String(i).padStart(5, '0')}`,
          job_title: '',
          budget: '',
          timeline: '',
        },
        null,
        2,
      ),
    );

    let recordingFile: string | null = null;
    let callerNumber: string | null = null;
    if (recordingEvery > 0 && i % recordingEvery === 0) {
      const digits = `9198765${String(i).padStart(5, '0')}`;
      recordingFile = join(recordingsDir, `number-_${digits}-${Math.floor(startMs / 1000)}.ogg`);
      copyFileSync(OGG, recordingFile);
      callerNumber = `+${digits}`;
    }

    calls.push({
      index: i,
      sessionId,
      callId,
      file,
      startMs,
      endMs,
      startIso: new Date(startMs).toISOString(),
      endIso: new Date(endMs).toISOString(),
      leadFile,
      leadEmail,
      leadName,
      leadTimeIso: new Date(leadMs).toISOString(),
      recordingFile,
      callerNumber,
    });
  }
  return { root, conversationsDir, leadsDir, recordingsDir, calls };
}

/** `YYYY-MM-DDTHH:MM:SS` of `ms` in IST, naive (for `--since`/`--until` read in CRM_SOURCE_TIMEZONE). */
export function naiveIstSeconds(ms: number): string {
  const w = wall(ms + IST_OFFSET_MS);
  return `${w.date}T${w.time.slice(0, 8)}`;
}
