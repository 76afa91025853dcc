/**
 * The plan file's record of a run's calls (src/bulk/plan-store.ts): which callIds the run prepared, which
 * it enqueued to deliver and which its worker reported settled, so that a bulk run keeps none of them in
 * memory (docs/architecture.md, "Throughput" → "Bulk memory").
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlanStore } from '../../src/bulk/plan-store.ts';

const work = mkdtempSync(join(tmpdir(), 'crm-plan-store-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('a run notes its calls to deliver and their settlements once each; the rest are listed in chunks, in order', () => {
  const store = new PlanStore(join(work, 'plans'));
  const ids = Array.from({ length: 12 }, (_, i) => `CALL-20250101-0000${String(i).padStart(2, '0')}-0000abcd`);
  for (const id of ids) assert.equal(store.addCallId(id), true);
  assert.equal(store.addCallId(ids[0]!), false, 'a second file with the same callId is a duplicate');

  // Only prepared calls can be marked, each once (a call already delivered before the run is not marked).
  assert.equal(store.markToDeliver(ids.slice(0, 10)), 10);
  assert.equal(store.markToDeliver([ids[3]!, 'CALL-NOT-IN-THE-RUN']), 0);
  assert.equal(store.markToDeliver([]), 0);

  // A settlement counts once, and only for a call the run enqueued (not another process's, not ids[11]).
  assert.equal(store.markSettled(ids[2]!), true);
  assert.equal(store.markSettled(ids[2]!), false);
  assert.equal(store.markSettled(ids[11]!), false);
  assert.equal(store.markSettled('CALL-SOMEONE-ELSES'), false);
  assert.equal(store.markSettled(ids[7]!), true);

  const chunks = [...store.unsettled(3)];
  assert.deepEqual(chunks.map((c) => c.length), [3, 3, 2]);
  assert.deepEqual(chunks.flat(), ids.slice(0, 10).filter((_, i) => i !== 2 && i !== 7));
  store.close();
  assert.deepEqual(readdirSync(join(work, 'plans')), []);
});
