/**
 * A throwaway redis-server for the chaos tests: its own free port on 127.0.0.1 and its own temporary
 * folder (never the shared Redis of the other tests), started with the persistence the test asks for,
 * killed and restarted on the same port and folder at will.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from '../helpers/wait-for.ts';

/** Why redis-server cannot run here, or null when it can. */
export function redisServerMissing(): string | null {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? null : 'redis-server is not installed (apt-get install redis-server)';
}

/** A free TCP port on 127.0.0.1 (closed again at once; the server binds it next). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A redis-server of a test's own. */
export interface ChaosRedis {
  port: number;
  dir: string;
  /** `redis://127.0.0.1:PORT` */
  url: string;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** Start again on the same port and folder (after `kill`); resolves once it answers PING. */
  start(): Promise<void>;
  /** Run one command on it. */
  command(...args: string[]): Promise<unknown>;
  /** Kill it and remove its folder. */
  destroy(): Promise<void>;
}

/** Start a redis-server with `config` (`['appendonly', 'yes', …]` pairs as command-line options). */
export async function startChaosRedis(config: string[]): Promise<ChaosRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'crm-chaos-redis-'));
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--protected-mode', 'yes', ...config.map((c, i) => (i % 2 === 0 ? `--${c}` : c))];
  const url = `redis://127.0.0.1:${port}`;

  const command = async (...cmd: string[]): Promise<unknown> => {
    const r = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    r.on('error', () => undefined);
    try {
      await r.connect();
      return await r.call(cmd[0] as string, ...cmd.slice(1));
    } finally {
      r.disconnect();
    }
  };
  const start = async (): Promise<void> => {
    let out = '';
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout?.setEncoding('utf8').on('data', (s: string) => (out = (out + s).slice(-4000)));
    c.stderr?.setEncoding('utf8').on('data', (s: string) => (out = (out + s).slice(-4000)));
    child = c;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    await waitFor(`redis-server on ${port} to answer: ${out}`, async () => (await command('PING').catch(() => null)) === 'PONG', 15_000, 50);
  };
  await start();
  return {
    port,
    dir,
    url,
    command,
    start,
    async kill() {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async destroy() {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
