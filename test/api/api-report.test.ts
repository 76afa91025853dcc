/**
 * The API report: the declarations of `crm-upload`, `crm-upload/livekit` and `crm-upload/testing` match
 * the snapshots checked in under api/, so that any change of the public surface is visible in review
 * (docs/architecture.md, "Public API"). When this fails on purpose, run `npm run api:update` and commit
 * the changed api/*.api.d.ts with the change.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { API_ENTRIES, UPDATE_COMMAND, currentReports, staleReports } from '../../scripts/api-report.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('the public API matches the checked-in report (api/*.api.d.ts)', () => {
  const current = currentReports();
  const stale = staleReports(current);
  assert.deepEqual(stale, [], `the public API changed (${stale.join(', ')}): review the difference, then run \`${UPDATE_COMMAND}\` and commit api/`);
});

test('every report is an entry point of package.json "exports", with its types', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { types?: string } | string> };
  const typesOf = Object.values(pkg.exports).flatMap((e) => (typeof e === 'object' && e.types !== undefined ? [e.types] : []));
  assert.deepEqual(
    API_ENTRIES.map((e) => `./dist/${e.entry}`).sort(),
    typesOf.sort(),
    'one report per typed entry point',
  );
});

test('the package root does not export the local CRM; crm-upload/testing does', () => {
  const reports = currentReports();
  const root = reports.get('crm-upload.api.d.ts') ?? '';
  const entry = root.slice(0, root.indexOf('\n// ----', root.indexOf('// ----') + 1));
  assert.doesNotMatch(entry, /startLocalCrm|local-crm/, 'the root entry re-exports the local CRM');
  assert.match(reports.get('testing.api.d.ts') ?? '', /export \{ startLocalCrm/);
});
