/**
 * The README's "Run it in production" steps, run without systemd (a test machine's PID 1 is not
 * systemd, and a test must not install services on it):
 *
 * - the install commands of the README's block (`install` of the env file and the units) run for real
 *   into a temporary root, the env file coming out 0600; the steps that need systemd or the registry
 *   (`useradd`, `npm install -g`, `systemctl`, `journalctl`) are checked to be there, not run;
 * - then each service's `ExecStart=` line, parsed from its unit, runs by hand with the environment
 *   systemd would give it (the unit's `Environment=` under the installed env file, whose CRM and
 *   folders are pointed at a local CRM and temporary folders), in its `WorkingDirectory=`:
 *   the worker delivers a call, serve answers /healthz, the dashboard answers, watch delivers a file
 *   dropped into its folder; each then stops on SIGTERM, exit 0, within its `TimeoutStopSec=`.
 *
 * `/usr/local/bin/crm-upload` is the package's bin (`dist/cli/main.js`, built from `src/cli/main.ts`);
 * the test runs the same program from source, as every CLI test does.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openSqliteOutbox } from '../../src/outbox/sqlite-outbox-store.ts';
import { crmAdmin, withCrm } from '../helpers/local-crm.ts';
import { makePayload } from '../helpers/payloads.ts';
import { FIX, MAIN, removeTempDirs, ROOT, tempDir, waitFor } from '../e2e/run-cli.ts';
import { execStart, parseEnvFile, serviceEnv, serviceSection, setting, timeSpanMs } from './unit-file.ts';

const BIN = '/usr/local/bin/crm-upload';
const UNITS = ['crm-upload-worker.service', 'crm-upload-worker@.service', 'crm-upload-watch.service', 'crm-upload-serve.service', 'crm-upload-dashboard.service'];

/** The first ```sh block of the README's "Run it in production" section, as its command lines. */
function readmeSteps(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Run it in production'));
  assert.ok(section, 'README has a "Run it in production" section');
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'the section has a sh block');
  return block.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** A service started by hand, its stderr collected. */
interface Service {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startService(argv: string[], env: Record<string, string>, cwd: string): Service {
  assert.equal(argv[0], BIN, 'the unit runs the installed bin');
  const child = spawn(process.execPath, [MAIN, ...argv.slice(1)], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => stderr, exited };
}

/** SIGTERM, then the exit code; fails when the service outlives `timeoutMs` (systemd would SIGKILL). */
async function stopWithin(service: Service, timeoutMs: number, name: string): Promise<number | null> {
  service.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
  const result = await Promise.race([service.exited, late]);
  clearTimeout(timer);
  if (result === 'late') {
    service.child.kill('SIGKILL');
    assert.fail(`${name} did not stop within TimeoutStopSec (${timeoutMs} ms): ${service.stderr()}`);
  }
  return result;
}

describe('README "Run it in production", without systemd', () => {
  after(removeTempDirs);
  const root = tempDir('crm-prod-root-');

  test('the steps: user, npm install -g, env file 0600, units copied, enable --now, journalctl', () => {
    const steps = readmeSteps();
    const has = (re: RegExp) => assert.ok(steps.some((l) => re.test(l)), `a step matches ${re}`);
    has(/^sudo useradd --system .*--shell \/usr\/sbin\/nologin crm-upload$/);
    has(/^sudo npm install -g crm-upload$/);
    has(/^sudo systemctl daemon-reload$/);
    has(/^sudo systemctl enable --now crm-upload-worker\.service/);
    has(/^journalctl -u crm-upload-worker\.service/);

    // The install steps, run for real into a temporary root, with the package's files from this checkout.
    const installs = steps.filter((l) => /^sudo install /.test(l));
    assert.equal(installs.length, 3, installs.join('\n'));
    const asRoot = process.getuid?.() === 0;
    // What a systemd host already has.
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    for (const line of installs) {
      let cmd = line
        .replace(/^sudo /, '')
        .replace(/"\$\(npm root -g\)\/crm-upload\/([^"]*)"/g, (_m, rel: string) => `"${ROOT}${rel}"`)
        .replace(/"\$\(npm root -g\)"\/crm-upload\//g, `${ROOT}`)
        .replace(/ \/etc\//g, ` ${root}/etc/`);
      // Giving the file to root needs root, as the README's sudo does; CI and this machine run tests as root.
      if (!asRoot) cmd = cmd.replace(' -o root -g root', '');
      execFileSync('sh', ['-c', cmd], { stdio: 'pipe' });
    }
    const envFile = join(root, 'etc/crm-upload/crm-upload.env');
    assert.equal(statSync(envFile).mode & 0o777, 0o600, 'the env file is 0600');
    if (asRoot) assert.equal(statSync(envFile).uid, 0);
    assert.deepEqual(readdirSync(join(root, 'etc/systemd/system')).sort(), [...UNITS].sort());
    // The README's block references the files the package ships.
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    assert.ok(pkg.files.includes('deploy/systemd'), 'package.json "files" ships deploy/systemd');
  });

  test('ExecStart= by hand: worker delivers, serve and dashboard answer, watch delivers; each stops on SIGTERM in time', { timeout: 240_000 }, async () => {
    const envFile = join(root, 'etc/crm-upload/crm-upload.env');
    const state = tempDir('crm-prod-state-');
    const agent = tempDir('crm-prod-agent-');
    for (const d of ['conversations', 'leads', 'recordings']) mkdirSync(join(agent, d));
    const outbox = join(state, 'outbox.db');

    await withCrm({}, async (crm) => {
      // The installed env file, adjusted as an operator would fill it in (here: local CRM, temporary folders).
      const settings = parseEnvFile(readFileSync(envFile, 'utf8'));
      Object.assign(settings, {
        CRM_API_URL: `${crm.url}/apis/api/public/call-data`,
        CRM_OUTBOX: outbox,
        CRM_CONVERSATIONS_DIR: join(agent, 'conversations'),
        CRM_LEADS_DIR: join(agent, 'leads'),
        CRM_RECORDINGS_DIR: join(agent, 'recordings'),
        CRM_SERVE_PORT: '0',
        CRM_DASHBOARD_PORT: '0',
        CRM_SOURCE_TIMEZONE: 'UTC',
      });
      writeFileSync(envFile, Object.entries(settings).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
      assert.equal(statSync(envFile).mode & 0o777, 0o600, 'still 0600 after editing');
      const installed = parseEnvFile(readFileSync(envFile, 'utf8'));

      const queued = makePayload(7);
      const store = openSqliteOutbox(outbox);
      await store.enqueue({ callId: queued.callDetails.callId, payload: queued, recordingPath: null });
      await store.close();

      const unit = (name: string) => serviceSection(join(root, 'etc/systemd/system', name));
      // What systemd gives a service: a clean environment with its PATH, HOME of its user, then the unit's.
      const envOf = (name: string) => ({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: state, ...serviceEnv(unit(name), installed) });
      const start = (name: string) => {
        const s = unit(name);
        assert.equal(setting(s, 'WorkingDirectory'), '/var/lib/crm-upload');
        return startService(execStart(s, envOf(name)), envOf(name), state);
      };
      const stopTimeout = (name: string) => timeSpanMs(setting(unit(name), 'TimeoutStopSec') ?? '90s');
      const listening = async (svc: Service, name: string) =>
        waitFor(`${name} listening`, async () => /listening on (http:\/\/[^\s"]+)/.exec(svc.stderr())?.[1], 20_000);

      const services: [string, Service][] = [];
      try {
        const worker = start('crm-upload-worker.service');
        services.push(['crm-upload-worker.service', worker]);
        await waitFor('the worker delivered the queued call', async () => (await crmAdmin(crm.url).calls()).some((c) => c.callDetails.callId === queued.callDetails.callId), 30_000);

        const serve = start('crm-upload-serve.service');
        services.push(['crm-upload-serve.service', serve]);
        const serveUrl = await listening(serve, 'serve');
        const health = await fetch(`${serveUrl}/healthz`, { signal: AbortSignal.timeout(15_000) });
        assert.equal(health.status, 200);
        assert.deepEqual(await health.json(), { status: 'ok', worker: true });

        const dashboard = start('crm-upload-dashboard.service');
        services.push(['crm-upload-dashboard.service', dashboard]);
        const dashUrl = await listening(dashboard, 'dashboard');
        const page = await fetch(dashUrl, { signal: AbortSignal.timeout(15_000) });
        assert.equal(page.status, 200);
        assert.match(page.headers.get('content-type') ?? '', /text\/html/);

        const watch = start('crm-upload-watch.service');
        services.push(['crm-upload-watch.service', watch]);
        await waitFor('watch watching', async () => watch.stderr().includes(`watching ${join(agent, 'conversations')}`), 20_000);
        const file = 'transcript_session_2025-10-23T07-57-04.661114.json';
        copyFileSync(join(FIX, 'conversations/transcript-logger', file), join(agent, 'conversations', file));
        const callId = await waitFor('watch queued the new file', async () => /queued (CALL-\S+) from /.exec(watch.stderr())?.[1], 60_000).catch((err: Error) => {
          throw new Error(`${err.message}; watch said: ${watch.stderr()}`);
        });
        await waitFor('the watched call delivered', async () => (await crmAdmin(crm.url).calls()).some((c) => c.callDetails.callId === callId), 30_000);

        // Each call reached the CRM once, whichever process delivered it.
        const posts = (await crmAdmin(crm.url).requests()).filter((r) => r.method === 'POST' && r.callId !== null);
        assert.deepEqual(posts.map((r) => r.callId).sort(), [queued.callDetails.callId, callId].sort());

        // systemd's stop: SIGTERM, then SIGKILL after TimeoutStopSec. Each exits before that, with 0 or a
        // status its unit declares a success (SuccessExitStatus=: watch's 143, "interrupted by SIGTERM").
        for (const [name, svc] of services.splice(0).reverse()) {
          const success = [0, ...(setting(unit(name), 'SuccessExitStatus') ?? '').split(/\s+/).filter(Boolean).map(Number)];
          const code = await stopWithin(svc, stopTimeout(name), name);
          assert.ok(success.includes(code as number), `${name} exited ${code}: ${svc.stderr()}`);
        }
      } finally {
        for (const [, svc] of services) if (svc.child.exitCode === null) svc.child.kill('SIGKILL');
      }
    });
  });
});
