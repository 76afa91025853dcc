/**
 * A network of the test's own for the chaos tests: two network namespaces (the worker's and the CRM's)
 * joined by one veth pair with a 10.x /30 on it, and nothing else. No address is added to the host's
 * namespace and no traffic leaves these two. The link can be cut (`down`) and given `tc netem` delay or
 * loss on both ends where the kernel has `sch_netem` (`netemMissing` says why not; the tests then run the
 * userspace relay of test/chaos/impair-relay.ts inside the CRM's namespace instead). Everything is deleted
 * in the test's `after` hook.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';
import type { CallPayload } from '../../src/payload/call-payload.ts';
import type { CrmAdmin, FaultState, FaultsUpdate, LocalCrmStats, RequestRecord } from '../helpers/local-crm.ts';

const run = promisify(execFile);
let counter = 0;

/** Why namespaces cannot be made here, or null. */
export function netnsMissing(): string | null {
  const name = `crmchaos-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `cannot create network namespaces (ip netns add needs root and iproute2): ${(err as { stderr?: Buffer }).stderr?.toString().trim() || String(err)}`;
  }
}

/** Two namespaces and the link between them. */
export interface ChaosLink {
  /** The worker's namespace and address. */
  workerNs: string;
  workerIp: string;
  /** The CRM's namespace and address. */
  crmNs: string;
  crmIp: string;
  /** Cut the link (both directions). */
  down(): Promise<void>;
  up(): Promise<void>;
  /** `tc netem` arguments on both ends (e.g. `['delay', '200ms', '100ms']`); null removes them. */
  netem(args: string[] | null): Promise<void>;
  /**
   * Why `tc netem` cannot be used on this link (the kernel has no `sch_netem`), or null: adds `netem delay
   * 1ms` on the worker's veth and removes it. Any other failure of `tc` throws.
   */
  netemMissing(): Promise<string | null>;
  /** Spawn `argv` inside `ns`; killed (SIGKILL) in the after hook if still running. */
  spawnIn(ns: string, argv: string[], env: NodeJS.ProcessEnv): ChildProcess;
  /** Run `curl` inside `ns` (default the worker's namespace); resolves to the body. */
  curl(args: string[], ns?: string): Promise<string>;
}

/** Create the two namespaces and their link; deleted after the test whatever happens. */
export async function createLink(t: TestContext): Promise<ChaosLink> {
  const n = ++counter;
  const tag = `${process.pid % 100_000}${n}`;
  const workerNs = `crmchaos-w${tag}`;
  const crmNs = `crmchaos-c${tag}`;
  const vw = `ccw${tag}`.slice(0, 15);
  const vc = `ccc${tag}`.slice(0, 15);
  const net = `10.${randomInt(200, 250)}.${randomInt(0, 256)}`;
  const workerIp = `${net}.1`;
  const crmIp = `${net}.2`;
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    for (const ns of [workerNs, crmNs]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  });
  const ip = (...args: string[]): Promise<unknown> => run('ip', args);
  await ip('netns', 'add', workerNs);
  await ip('netns', 'add', crmNs);
  await ip('link', 'add', vw, 'type', 'veth', 'peer', 'name', vc);
  await ip('link', 'set', vw, 'netns', workerNs);
  await ip('link', 'set', vc, 'netns', crmNs);
  await ip('-n', workerNs, 'addr', 'add', `${workerIp}/30`, 'dev', vw);
  await ip('-n', crmNs, 'addr', 'add', `${crmIp}/30`, 'dev', vc);
  for (const [ns, dev] of [[workerNs, vw], [crmNs, vc], [workerNs, 'lo'], [crmNs, 'lo']] as const) await ip('-n', ns, 'link', 'set', dev, 'up');

  return {
    workerNs,
    workerIp,
    crmNs,
    crmIp,
    down: async () => {
      await ip('-n', workerNs, 'link', 'set', vw, 'down');
    },
    up: async () => {
      await ip('-n', workerNs, 'link', 'set', vw, 'up');
    },
    netem: async (args) => {
      for (const [ns, dev] of [[workerNs, vw], [crmNs, vc]] as const) {
        if (args === null) await run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', dev, 'root']).catch(() => undefined);
        else await run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', dev, 'root', 'netem', ...args]);
      }
    },
    netemMissing: async () => {
      try {
        await run('ip', ['netns', 'exec', workerNs, 'tc', 'qdisc', 'add', 'dev', vw, 'root', 'netem', 'delay', '1ms']);
      } catch (err) {
        const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
        // iproute2 says "Specified qdisc kind is unknown." when sch_netem is neither built in nor loadable.
        if (/qdisc kind is unknown|not supported|No such file or directory/i.test(stderr)) return `tc netem is not available in this kernel (sch_netem): ${stderr}`;
        throw err;
      }
      await run('ip', ['netns', 'exec', workerNs, 'tc', 'qdisc', 'del', 'dev', vw, 'root']);
      return null;
    },
    spawnIn: (ns, argv, env) => {
      const child = spawn('ip', ['netns', 'exec', ns, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    },
    curl: async (args, ns = workerNs) => (await run('ip', ['netns', 'exec', ns, 'curl', '-sS', '--max-time', '30', ...args], { maxBuffer: 64 * 1024 * 1024 })).stdout,
  };
}

/**
 * The admin routes of a CRM inside `link`'s CRM namespace, reached by curl from `ns` (default the worker's
 * namespace; the CRM's own when the CRM listens on its loopback behind the impairing relay, so that the
 * checks do not go through the faults they check).
 */
export function linkAdmin(link: ChaosLink, origin: string, ns?: string): Pick<CrmAdmin, 'calls' | 'stats' | 'requests' | 'faults'> {
  const get = async <T>(path: string): Promise<T> => JSON.parse(await link.curl([`${origin}/__admin${path}`], ns)) as T;
  return {
    requests: (since = 0) => get<RequestRecord[]>(`/requests?since=${since}`),
    calls: () => get<CallPayload[]>('/calls'),
    stats: () => get<LocalCrmStats>('/stats'),
    faults: async (body: FaultsUpdate) =>
      JSON.parse(await link.curl(['-X', 'POST', '-H', 'content-type: application/json', '--data', JSON.stringify(body), `${origin}/__admin/faults`], ns)) as FaultState,
  };
}

/** Resolve with the URL a server printed (`listening on http://…`) on stderr; reject if it exits first. */
export function listeningUrl(child: ChildProcess, label: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${label} did not start within ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      err += s;
      const m = /listening on (http:\/\/[^\s"]+)/.exec(err);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${code} before listening: ${err}`));
    });
  });
}
