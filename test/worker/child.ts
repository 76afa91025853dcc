/**
 * Running the worker's child processes from tests: the delivery fixture and the real CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Absolute path of the CLI entry point. */
export const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** Absolute path of the delivery fixture. */
export const DELIVER_CHILD = fileURLToPath(new URL('./fixtures/deliver-child.ts', import.meta.url));

/** A spawned child with its output gathered and its end awaitable. */
export interface Child {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when stdout has a line matching `pattern` (rejects if the child exits first). */
  waitFor(pattern: RegExp): Promise<void>;
}

/** Spawn `node <script> …args` with extra env. */
export function spawnNode(script: string, args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(out)) {
            child.stdout?.off('data', check);
            resolve();
          }
        };
        child.stdout?.on('data', check);
        check();
        exited.then(
          () => (pattern.test(out) ? resolve() : reject(new Error(`child exited before ${pattern}: ${err}`))),
          reject,
        );
      });
    },
  };
}

/** Run the CLI to the end; resolves to its exit code and output. */
export async function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = spawnNode(CLI_MAIN, args, env);
  const { code } = await c.exited;
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** The environment that points the CLI at an outbox and a CRM. */
export function cliEnv(dbPath: string, crmOrigin: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CRM_OUTBOX: dbPath,
    CRM_API_URL: `${crmOrigin}/apis/api/public/call-data`,
    CRM_UPLOAD_URL: `${crmOrigin}/apis/api/public/upload`,
    CRM_RATE_LIMIT: '0',
    CRM_TIMEOUT_MS: '2s',
    CRM_RETRY_SCHEDULE: '20ms,50ms,100ms',
    ...extra,
  };
}
