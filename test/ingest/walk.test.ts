import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { walkFiles } from '../../src/ingest/walk.ts';

test('walk: every file depth first in name order, links flagged, folders deeper than maxDepth left out', async (t) => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'crm-walk-')));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const f of ['b.json', 'a.json', 'sub/z.json', 'sub/deeper/x.json', 'A.json', 'c/d/e/f.json']) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), '{}');
  }
  symlinkSync(join(root, 'a.json'), join(root, 'link.json'));
  const walk = async (limits = {}) => {
    const out: string[] = [];
    for await (const e of walkFiles(root, limits)) out.push(`${relative(root, e.path)}${e.symlink ? ' (link)' : ''}`);
    return out;
  };
  assert.deepEqual(await walk(), ['A.json', 'a.json', 'b.json', 'c/d/e/f.json', 'link.json (link)', 'sub/deeper/x.json', 'sub/z.json']);
  assert.deepEqual(await walk({ maxDepth: 1 }), ['A.json', 'a.json', 'b.json', 'link.json (link)', 'sub/z.json']);
  assert.deepEqual(await walk({ maxEntries: 3 }), ['A.json', 'a.json', 'b.json']);
  await assert.rejects(async () => {
    for await (const _ of walkFiles(join(root, 'missing'))) void _;
  }, /ENOENT/);
});
