/**
 * The OpenAPI document as served at `GET /openapi.json`, checked by an independent OpenAPI 3.1 validator
 * (`@seriousme/openapi-schema-validator`: the official OpenAPI 3.1 JSON Schema, then every `$ref` resolved),
 * as a client generator or a gateway would read it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { getJson, startRig, type ServeRig } from './harness.ts';

describe('GET /openapi.json against an independent OpenAPI 3.1 validator', () => {
  let rig: ServeRig;
  before(async () => {
    rig = await startRig({}, { worker: false });
  });
  after(async () => {
    await rig.close();
  });

  test('the served document is valid OpenAPI 3.1, every $ref resolving', async () => {
    const served = await getJson(rig, '/openapi.json');
    assert.equal(served.status, 200);
    const validator = new Validator();
    const result = await validator.validate(served.body);
    assert.deepEqual(result, { valid: true }, JSON.stringify(result.errors, null, 2));
    assert.equal(validator.version, '3.1');
  });

  test('the validator does refuse what is wrong (a dangling $ref, a response without description)', async () => {
    const doc = (await getJson(rig, '/openapi.json')).body as { paths: Record<string, Record<string, { responses: Record<string, Record<string, unknown>> }>> };
    const dangling = structuredClone(doc);
    const health = dangling.paths['/healthz']?.get?.responses['200'];
    assert.ok(health);
    health.content = { 'application/json': { schema: { $ref: '#/components/schemas/NoSuchSchema' } } };
    assert.equal((await new Validator().validate(dangling)).valid, false);

    const undescribed = structuredClone(doc);
    delete undescribed.paths['/healthz']?.get?.responses['200']?.description;
    assert.equal((await new Validator().validate(undescribed)).valid, false);
  });
});
