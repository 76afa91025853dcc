/**
 * The service units of deploy/systemd/ pass `systemd-analyze verify` and score an overall exposure of at
 * most 2.0 in `systemd-analyze security`, offline (PID 1 need not be systemd: CI containers and this
 * machine run without it).
 *
 * `verify` checks that each ExecStart= binary exists and is executable, and that every unit the service
 * depends on (sysinit.target, network-online.target, …) can be loaded. The units point at
 * /usr/local/bin/crm-upload, where `npm install -g` puts the bin, which the test machine need not have;
 * so the test builds a temporary root (`--root=`) holding the units, a stub executable at that path and a
 * copy of the host's own unit folder (for the targets), rather than touching the host. The stub is
 * never run: verify only looks at it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { serviceSection, setting, timeSpanMs } from './unit-file.ts';

const ANALYZE = '/usr/bin/systemd-analyze';
const UNITS_DIR = fileURLToPath(new URL('../../deploy/systemd/', import.meta.url));
const HOST_UNITS = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(d));
// Skipped with the reason where systemd is not installed, except on CI (CI=true), where .ci/run installs it
// and a missing one must fail.
const missing = !existsSync(ANALYZE) ? `${ANALYZE} is not installed (Debian: apt-get install systemd)` : HOST_UNITS === undefined ? 'no systemd unit folder on this host' : undefined;
const skip = missing !== undefined && process.env.CI !== 'true' ? missing : false;

/** The units shipped, and the name each is verified under (a template needs an instance). */
const UNITS = ['crm-upload-worker.service', 'crm-upload-worker@.service', 'crm-upload-watch.service', 'crm-upload-serve.service', 'crm-upload-dashboard.service'];
const instanceOf = (unit: string): string => unit.replace('@.service', '@1.service');

/** The drain time of the worker (`graceMs` of startWorker) that TimeoutStopSec= must exceed. */
const WORKER_GRACE_MS = 10_000;

describe('deploy/systemd units', { skip }, () => {
  let root = '';
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'crm-systemd-root-'));
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync(HOST_UNITS as string, join(root, 'usr/lib/systemd/system'), { recursive: true, dereference: false, verbatimSymlinks: true });
    for (const unit of UNITS) copyFileSync(join(UNITS_DIR, unit), join(root, 'etc/systemd/system', unit));
    const stub = join(root, 'usr/local/bin/crm-upload');
    writeFileSync(stub, '#!/bin/sh\nexit 0\n');
    chmodSync(stub, 0o755);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('the folder ships exactly the units and the example environment file', () => {
    assert.deepEqual(readdirSync(UNITS_DIR).sort(), [...UNITS, 'crm-upload.env.example'].sort());
  });

  for (const unit of UNITS) {
    describe(unit, () => {
      test('systemd-analyze verify: no error and no warning', () => {
        const r = spawnSync(ANALYZE, ['verify', `--root=${root}`, instanceOf(unit)], { encoding: 'utf8' });
        // verify exits 0 on an unknown or misspelt setting and only warns on stderr: both must be clean.
        assert.equal(r.stderr, '', r.stderr);
        assert.equal(r.status, 0);
      });

      test('systemd-analyze security --offline=yes: overall exposure at most 2.0', () => {
        const r = spawnSync(ANALYZE, ['security', '--offline=yes', `--root=${root}`, '--threshold=20', '--no-pager', instanceOf(unit)], { encoding: 'utf8' });
        const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
        assert.ok(m, `no overall exposure in:\n${r.stdout}\n${r.stderr}`);
        assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} > 2.0:\n${r.stdout}`);
        assert.equal(r.status, 0, r.stderr);
      });

      test('runs unprivileged, writes only its state folder, reads the env file, restarts and stops in time', () => {
        const s = serviceSection(join(UNITS_DIR, unit));
        assert.equal(setting(s, 'User'), 'crm-upload');
        assert.equal(setting(s, 'StateDirectory'), 'crm-upload');
        assert.equal(setting(s, 'ProtectSystem'), 'strict');
        assert.equal(s.get('ReadWritePaths'), undefined, 'no writable path besides the state folder');
        assert.ok((s.get('Environment') ?? []).includes('CRM_OUTBOX=/var/lib/crm-upload/outbox.db'));
        assert.equal(setting(s, 'EnvironmentFile'), '/etc/crm-upload/crm-upload.env');
        assert.equal(setting(s, 'Restart'), 'on-failure');
        assert.ok(timeSpanMs(setting(s, 'RestartSec') ?? '0') > 0);
        assert.equal(setting(s, 'KillSignal'), 'SIGTERM');
        assert.ok(timeSpanMs(setting(s, 'TimeoutStopSec') ?? '0') > WORKER_GRACE_MS, 'TimeoutStopSec above the worker grace');
        assert.match(setting(s, 'ExecStart') ?? '', /^\/usr\/local\/bin\/crm-upload (worker|watch|serve|dashboard)\b/);
        assert.equal(setting(s, 'MemoryDenyWriteExecute'), undefined, 'V8 needs W+X memory');
        for (const key of ['ProtectHome', 'PrivateTmp', 'NoNewPrivileges', 'PrivateDevices', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'LockPersonality']) {
          assert.equal(setting(s, key), 'yes', key);
        }
        assert.equal(setting(s, 'CapabilityBoundingSet'), '');
        assert.equal(setting(s, 'RestrictAddressFamilies'), 'AF_INET AF_INET6 AF_UNIX');
        assert.equal(s.get('SystemCallFilter')?.[0], '@system-service');
      });
    });
  }

  test('this systemd accepts every key (RestartSteps= only from 254 on, so it stays a comment)', () => {
    const version = Number(/systemd (\d+)/.exec(execFileSync(ANALYZE, ['--version'], { encoding: 'utf8' }))?.[1]);
    assert.ok(version > 0);
    for (const unit of UNITS) {
      const s = serviceSection(join(UNITS_DIR, unit));
      if (version < 254) assert.equal(s.get('RestartSteps'), undefined, unit);
    }
  });
});
