/**
 * Run the real CLI (`node src/cli/main.ts …`) as a child process, for the end-to-end tests: no mocks,
 * the same entry point a user runs. Also the shared paths of the fixtures and the env of a test run.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURES } from '../helpers/fixtures.ts';

/** The repository root (where `src/cli/main.ts` is). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The CLI entry point. */
export const MAIN = join(ROOT, 'src/cli/main.ts');
/** The fixtures folder (`test/fixtures/`), by its real path. */
export const FIX = FIXTURES;
/** The bad-input corpus of the project. */
export const BAD = join(ROOT, 'test/fixtures/bad');

export const LOGGER_FIXTURE = join(FIX, 'conversations/transcript-logger/transcript_session_2025-10-23T07-57-04.661114.json');
export const OGG = join(FIX, 'recordings/number-_919999900001-1761745857.ogg');
export const OGG_SIZE = 143_347;

/** What a finished CLI run gave. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time of the run, ms. */
  ms: number;
}

const madeDirs: string[] = [];

/** A fresh temporary folder, removed by `removeTempDirs` (call it in an `after` hook). */
export function tempDir(prefix = 'crm-e2e-'): string {
  // Real path too: the temp folder may sit behind a link (macOS /var → /private/var).
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  madeDirs.push(dir);
  return dir;
}

/** Remove the folders `tempDir` made (kept when CRM_E2E_KEEP_TMP=1, to look at after a failure). */
export function removeTempDirs(): void {
  if (process.env.CRM_E2E_KEEP_TMP === '1') return;
  for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * The env of a test run against `callDataUrl`, with a fresh outbox in its own temp folder unless one is
 * given. Every value can be overridden; `undefined` removes a variable.
 */
export function cliEnv(callDataUrl: string, overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    CRM_API_URL: callDataUrl,
    CRM_OUTBOX: join(tempDir(), 'outbox.db'),
    CRM_CAMPAIGN_ID: 'camp',
    CRM_VOICE_AGENT_ID: 'agent',
    CRM_CLIENT_ID: 'client',
    CRM_RATE_LIMIT: '0',
    CRM_RETRY_SCHEDULE: '50ms,100ms',
    CRM_SOURCE_TIMEZONE: 'Asia/Kolkata',
    LOG_LEVEL: 'warn',
    ...overrides,
  };
}

// Node's on-disk compile cache (type stripping and bytecode) cuts about a third of each CLI start's CPU
// time; the suite starts the CLI some 30 times. It only speeds up loading, never changes behaviour.
const COMPILE_CACHE = join(tmpdir(), 'crm-upload-e2e-compile-cache');

/** The child's env: the parent's, minus the CRM_* variables it may carry, text messages, plus `env`. */
function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { NODE_COMPILE_CACHE: COMPILE_CACHE };
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CRM_') && k !== 'INIT_CWD') base[k] = v;
  // The tests read the messages for people, which a piped stderr carries as JSON lines by default
  // (README, "Run it in production" → Logs); the JSON lines have their own tests, which ask for them.
  base.CRM_LOG_FORMAT = 'text';
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base;
}

/** Start the CLI; the caller owns the child (see `finished`). */
export function startCli(args: string[], env: Record<string, string | undefined>): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: childEnv(env) });
}

/** Collect a started child's output until it exits. */
export function finished(child: ChildProcessWithoutNullStreams, started = Date.now()): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (stdout += d));
    child.stderr.on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started }));
  });
}

/**
 * Run the CLI to the end. A run longer than `timeoutMs` (default 60 s) is killed and rejected, so a
 * hang fails the test instead of stalling the suite.
 */
export async function runCli(args: string[], env: Record<string, string | undefined>, timeoutMs = 60_000): Promise<CliResult> {
  const started = Date.now();
  const child = startCli(args, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const result = await finished(child, started);
    if (result.signal === 'SIGKILL' && result.ms >= timeoutMs) {
      throw new Error(`crm-upload ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${result.stderr}`);
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** Non-empty stdout lines. */
export function stdoutLines(r: CliResult): string[] {
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

/** The last stdout line, parsed as JSON (the `--json` summary or result). */
export function lastJson<T>(r: CliResult): T {
  const last = stdoutLines(r).at(-1);
  if (last === undefined) throw new Error(`no stdout; stderr: ${r.stderr}`);
  return JSON.parse(last) as T;
}

export { waitFor } from '../helpers/wait-for.ts';

/** A stack-trace line (`    at fn (file:…)`). */
export const STACK_LINE = /^\s+at .+[(:]/m;
