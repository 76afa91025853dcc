/**
 * Test helpers around the local CRM: an in-process server, a typed client of its admin routes, and a
 * separate server process for tests that need one (crash tests, CLI end-to-end tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startLocalCrm, type LocalCrm, type LocalCrmOptions } from '../../src/local-crm/server.ts';

export type { LocalCrm, LocalCrmOptions } from '../../src/local-crm/server.ts';
export type { LocalCrmStats, RequestRecord } from '../../src/local-crm/request-log.ts';
export type { FaultState } from '../../src/local-crm/faults.ts';
export type { FaultsUpdate } from '../../src/local-crm/options.ts';

/** Start an in-process local CRM on a free port. Close it in an `after`/`t.after` hook. */
export function startTestCrm(options: LocalCrmOptions = {}): Promise<LocalCrm> {
  return startLocalCrm({ ...options, port: 0 });
}

/** Run `fn` with an in-process local CRM, closed afterwards whatever happens. */
export async function withCrm<T>(options: LocalCrmOptions, fn: (crm: LocalCrm) => Promise<T>): Promise<T> {
  const crm = await startTestCrm(options);
  try {
    return await fn(crm);
  } finally {
    await crm.close();
  }
}

export { crmAdmin, type CrmAdmin } from '../../src/testing/crm-admin.ts';

/** A server running in a child process (a local CRM, `crm-upload serve`, …). */
export interface ListeningProcess {
  url: string;
  child: ChildProcess;
  /** SIGTERM, then wait for the exit; resolves to the exit code. */
  stop(): Promise<number | null>;
}

/** A local CRM running in a child process. */
export type LocalCrmProcess = ListeningProcess;

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/**
 * Spawn `node …argv` and resolve once it prints `listening on http://…` on stderr, as every server
 * command does. Rejects if the process exits first or prints nothing within `timeoutMs`; `label` names
 * it in those errors.
 */
export function spawnListening(argv: string[], options: { env?: NodeJS.ProcessEnv; label: string; timeoutMs?: number }): Promise<ListeningProcess> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const child = spawn(process.execPath, argv, { env: options.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise<ListeningProcess>((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.label} did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
      const m = /listening on (http:\/\/[^\s"]+)/.exec(stderr);
      if (!m?.[1]) return;
      clearTimeout(timer);
      resolve({
        url: m[1],
        child,
        stop: () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          return exited;
        },
      });
    });
    exited.then(
      (code) => {
        clearTimeout(timer);
        reject(new Error(`${options.label} exited with ${code} before listening: ${stderr}`));
      },
      (err: unknown) => reject(err),
    );
  });
}

/**
 * Spawn `node src/cli/main.ts local-crm --port 0 …args` and resolve once it prints its URL. Rejects if
 * the process exits first or prints nothing within `timeoutMs` (default 15 s).
 */
export function spawnLocalCrmProcess(args: string[] = [], timeoutMs = 15_000): Promise<LocalCrmProcess> {
  return spawnListening([MAIN, 'local-crm', '--port', '0', ...args], { label: 'local-crm', timeoutMs });
}
