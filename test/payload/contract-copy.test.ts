/**
 * The package ships its own copy of the contract (`contract/`), which everything here validates against.
 * Where the team's reference copy sits beside the repository (`../shared/contract/`, as on CI), the two must
 * be byte-identical; a clone with nothing beside it skips this one test and says why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const reference = here('../../../shared/contract/call-data.schema.json');
const skip = existsSync(reference) ? false : 'no ../shared/contract beside this clone: the reference copy is not here to compare';

test('the shipped contract is byte-identical to ../shared/contract', { skip }, () => {
  const ours = readFileSync(here('../../contract/call-data.schema.json'));
  const shared = readFileSync(reference);
  assert.ok(shared.length > 100, 'the reference contract was read');
  assert.ok(ours.equals(shared), 'contract/call-data.schema.json differs from ../shared/contract/call-data.schema.json');
});
