/**
 * The call's own process (issue 16): how long `TranscriptLogger.saveConversationSession` keeps the agent
 * waiting with auto-upload on and the CRM down, beside a bare SQLite WAL commit with
 * `synchronous=FULL` of a row as large as the call (the durability point, docs/architecture.md
 * "Durability") and a durable session-file write (.partial, fsync, rename, folder fsync: what the save
 * no longer waits for), measured in turns in the same run. Goal: p99 ≤ 2 ms. Run alone with
 * `node bench/transcript-logger.ts`.
 *
 * Files live under `.crm-upload/` in the current directory, the disk the real outbox uses (a tmpfs /tmp
 * would make every fsync free).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/config.ts';
import { syncDir, writeAndRename } from '../src/fs/durable.ts';
import { TranscriptLogger, type TranscriptSession } from '../src/logger/transcript-logger.ts';

const FIXTURE = fileURLToPath(new URL('../test/fixtures/conversations/transcript-logger/transcript_session_2025-10-23T07-57-04.661114.json', import.meta.url));

/** The goal for the save's p99, ms. */
export const SAVE_P99_GOAL_MS = 2;

/** Percentiles of one series, ms. */
export interface Series {
  p50: number;
  p99: number;
  max: number;
}

/** The figures `benchTranscriptLogger` prints. */
export interface TranscriptLoggerBenchResult {
  saves: number;
  save: Series;
  walCommit: Series;
  sessionFile: Series;
}

function series(times: number[]): Series {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 };
}

/** Measure `saves` saves, bare commits and file writes, one of each in turn. */
export async function measureTranscriptLogger(saves = 400): Promise<TranscriptLoggerBenchResult> {
  const parent = join(process.cwd(), '.crm-upload');
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, 'bench-logger-'));
  const seed = JSON.parse(readFileSync(FIXTURE, 'utf8')) as TranscriptSession;
  const sessionText = JSON.stringify(seed, null, 2);
  const config = loadConfig({
    cwd: dir,
    envFile: null,
    env: {
      // Nothing listens on the discard port: the CRM is down (the save never contacts it anyway).
      CRM_API_URL: 'http://127.0.0.1:9/apis/api/public/call-data',
      CRM_OUTBOX: 'outbox.db',
      CRM_CONVERSATIONS_DIR: 'conversations',
      CRM_CAMPAIGN_ID: 'camp',
      CRM_VOICE_AGENT_ID: 'agent',
      CRM_CLIENT_ID: 'client',
      CRM_AUTO_UPLOAD: 'true',
    },
  });
  const logger = new TranscriptLogger({ config });
  const bare = new DatabaseSync(join(dir, 'bare.db'));
  bare.exec('PRAGMA journal_mode = WAL');
  bare.exec('PRAGMA synchronous = FULL');
  bare.exec('CREATE TABLE t (id TEXT PRIMARY KEY, payload TEXT NOT NULL)');
  const insert = bare.prepare('INSERT INTO t (id, payload) VALUES (?, ?)');
  const filesDir = join(dir, 'files');
  mkdirSync(filesDir);
  const save: number[] = [];
  const walCommit: number[] = [];
  const sessionFile: number[] = [];
  const session = (k: number): TranscriptSession => ({ ...seed, session_id: `session_20251023_075634_${k.toString(16).padStart(8, '0')}` });
  try {
    const warm = 30;
    for (let k = 0; k < warm + saves; k++) {
      let t0 = performance.now();
      await logger.saveConversationSession(session(k));
      const s = performance.now() - t0;
      // Its file is written now, off the save's path: let it finish before the next figures.
      await logger.flush();
      t0 = performance.now();
      insert.run(`bench-${k}`, sessionText);
      const c = performance.now() - t0;
      t0 = performance.now();
      const file = join(filesDir, `s${k}.json`);
      await writeAndRename(`${file}.partial`, file, sessionText);
      await syncDir(filesDir);
      const f = performance.now() - t0;
      if (k >= warm) {
        save.push(s);
        walCommit.push(c);
        sessionFile.push(f);
      }
    }
  } finally {
    await logger.close();
    bare.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { saves, save: series(save), walCommit: series(walCommit), sessionFile: series(sessionFile) };
}

/** Print the figures for `npm run bench`. */
export async function benchTranscriptLogger(): Promise<void> {
  const r = await measureTranscriptLogger();
  const line = (name: string, s: Series): string => `  ${name.padEnd(52)} p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms`;
  console.log(`TranscriptLogger.saveConversationSession, auto-upload on, CRM down, ${r.saves} saves (each figure in turns, same run):`);
  console.log(line('saveConversationSession (enqueue; file after)', r.save) + `  (${r.save.p99 <= SAVE_P99_GOAL_MS ? 'meets' : 'MISSES'} the p99 ≤ ${SAVE_P99_GOAL_MS} ms goal)`);
  console.log(line('bare WAL commit, synchronous=FULL, same size', r.walCommit) + '  (reference: the durability point)');
  console.log(line('durable session file (fsync, rename, dir fsync)', r.sessionFile) + '  (no longer waited for)');
  console.log(`  save p99 = ${(r.save.p99 / r.walCommit.p99).toFixed(1)}× the bare commit's p99`);
}

if (import.meta.main) await benchTranscriptLogger();
