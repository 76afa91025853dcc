/**
 * The hand-written OpenAPI document: a valid OpenAPI 3.1 structure, served as is, and in step with the
 * app: every route the server has is documented with its method, and nothing else is.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OPENAPI_DOCUMENT } from '../../src/serve/openapi.ts';
import { getJson, startRig, type ServeRig } from './harness.ts';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Every `$ref` in a value. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

describe('GET /openapi.json', () => {
  let rig: ServeRig;
  before(async () => {
    rig = await startRig({}, { worker: false });
  });
  after(async () => {
    await rig.close();
  });

  test('is the OpenAPI 3.1 document, with the basic structure every tool expects', async () => {
    const served = await getJson(rig, '/openapi.json');
    assert.equal(served.status, 200);
    assert.match(served.headers.get('content-type') ?? '', /^application\/json/);
    const doc = served.body as typeof OPENAPI_DOCUMENT & Record<string, unknown>;
    assert.deepEqual(doc, JSON.parse(JSON.stringify(OPENAPI_DOCUMENT)));
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    assert.equal(typeof doc.info.title, 'string');
    assert.equal(typeof doc.info.version, 'string');
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      assert.match(path, /^\//);
      for (const [method, op] of Object.entries(item as Record<string, Record<string, unknown>>)) {
        assert.ok(METHODS.includes(method), `${path}: ${method} is an HTTP method`);
        const id = op.operationId as string;
        assert.ok(id && !operationIds.has(id), `${method} ${path} has a unique operationId`);
        operationIds.add(id);
        const responses = op.responses as Record<string, { description?: unknown }>;
        assert.ok(Object.keys(responses).length > 0, `${method} ${path} has responses`);
        for (const [code, r] of Object.entries(responses)) {
          assert.match(code, /^[1-5]\d\d$/);
          assert.equal(typeof r.description, 'string', `${method} ${path} ${code} has a description`);
        }
        // Every path parameter is declared.
        const declared = ((op.parameters as { name: string; in: string; required?: boolean }[] | undefined) ?? []).filter((p) => p.in === 'path');
        const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        assert.deepEqual(declared.map((p) => p.name).sort(), inPath.sort(), `${method} ${path} path parameters`);
        assert.ok(declared.every((p) => p.required === true));
      }
    }
    // Every reference resolves inside the document.
    for (const ref of refs(doc)) {
      assert.match(ref, /^#\/components\/schemas\/\w+$/);
      const name = ref.split('/').pop() as string;
      assert.ok(name in doc.components.schemas, `${ref} resolves`);
    }
    assert.ok('bearer' in doc.components.securitySchemes);
  });

  test('documents every route of the app, and only those', () => {
    const routes = new Set(
      rig.server.app.routes
        .filter((r) => r.method !== 'ALL') // middleware (the token check), not routes
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
    );
    const documented = new Set(Object.entries(OPENAPI_DOCUMENT.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`)));
    assert.deepEqual([...routes].sort(), [...documented].sort());
    assert.deepEqual([...documented].sort(), ['get /healthz', 'get /openapi.json', 'get /v1/calls/{callId}', 'post /v1/calls']);
  });
});
