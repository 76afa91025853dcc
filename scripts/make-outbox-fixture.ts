/**
 * Write an outbox file with the crm-upload of an earlier commit, for the upgrade tests
 * (test/fixtures/outbox/, see its README). The commit's `src/` is extracted with `git archive` into a
 * temporary folder (this repository's node_modules linked beside it) and that code — not today's —
 * creates the file and puts seven calls in it through its own store API: two delivered, one dead,
 * one retried once and three never tried, so every state an upgrade must carry over is present.
 *
 *   node scripts/make-outbox-fixture.ts <commit> <out.db>
 *   e.g. node scripts/make-outbox-fixture.ts b2d7f85 test/fixtures/outbox/v1.db
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const [commit, outArg] = process.argv.slice(2);
if (commit === undefined || outArg === undefined) {
  process.stderr.write('usage: node scripts/make-outbox-fixture.ts <commit> <out.db>\n');
  process.exit(2);
}
const out = resolve(outArg);
if (existsSync(out)) {
  process.stderr.write(`${out} exists; remove it first\n`);
  process.exit(2);
}

// The writer runs inside the old tree, so it may only use what every version of the store offers:
// openSqliteOutbox, enqueueMany, lease, settle, close (the API of the first schema).
const WRITER = `
import { openSqliteOutbox } from './src/outbox/sqlite-outbox-store.ts';
const [out, sample] = process.argv.slice(2);
const { sampleItem } = await import(sample);
const store = openSqliteOutbox(out);
const ids = ['CALL-20251023-075634-v0a', 'CALL-20251023-075634-v0b', 'CALL-20251023-075634-v0c', 'CALL-20251023-075634-v0d',
  'CALL-20251023-075634-v0e', 'CALL-20251023-075634-v0f', 'CALL-20251023-075634-v0g'];
await store.enqueueMany(ids.map((id, i) => sampleItem(id, { marker: 'fixture-' + i, sourceFile: '/srv/agent/conversations/' + id + '.json', startTime: new Date(Date.UTC(2025, 9, 23, 7, 56, i)).toISOString() })));
const owner = 'fixture-writer';
const leased = await store.lease({ owner, limit: 4, leaseMs: 60_000, callIds: ids.slice(0, 4) });
if (leased.length !== 4) throw new Error('leased ' + leased.length);
const past = Date.now() - 1000;
await store.settle(owner, [
  { callId: ids[0], kind: 'delivered', status: 201 },
  { callId: ids[1], kind: 'delivered', status: 201 },
  { callId: ids[2], kind: 'dead', status: 400, error: 'HTTP 400: callDetails.callerNumber invalid', countAttempt: true },
  { callId: ids[3], kind: 'retry', nextAttemptAt: past, status: 503, error: 'HTTP 503' },
]);
await store.close();
`;

const work = mkdtempSync(join(tmpdir(), 'crm-outbox-fixture-'));
try {
  execFileSync('sh', ['-c', `git -C "$1" archive "$2" src package.json | tar -x -C "$3"`, 'sh', ROOT, commit, work], { stdio: 'inherit' });
  symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'));
  writeFileSync(join(work, 'write-fixture.ts'), WRITER);
  const sample = new URL('../test/outbox/sample-item.ts', import.meta.url).href;
  execFileSync(process.execPath, [join(work, 'write-fixture.ts'), out, sample], { cwd: work, stdio: 'inherit' });
  for (const leftover of [`${out}-wal`, `${out}-shm`]) if (existsSync(leftover)) throw new Error(`${leftover} left behind: the store did not checkpoint on close`);
  // PRAGMA user_version is the big-endian 32-bit integer at offset 60 of the database header; reading it
  // there rather than through SQLite leaves no -wal/-shm files beside the fixture.
  const version = readFileSync(out).readInt32BE(60);
  process.stdout.write(`${out}: schema version ${version}, written by ${commit}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
