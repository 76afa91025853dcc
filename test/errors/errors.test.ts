/**
 * Errors (docs/architecture.md, "Errors"): one constructor shape for every class,
 * `new XError(message, { code?, cause?, ...context })`, each class with its default code; the codes are
 * one union; `isCrmUploadError` narrows in a catch block; every class a caller can catch is exported by
 * the package root.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as api from '../../src/index.ts';
import { ConfigError, CrmHttpError, CrmUploadError, ERROR_CODES, InputError, PayloadValidationError, describeError, isCrmUploadError, isErrorCode } from '../../src/errors.ts';

test('every class takes (message, { code?, cause?, ...context }) and has its default code', () => {
  const cause = new Error('underneath');
  const rows: [CrmUploadError, string, string][] = [
    [new CrmUploadError('m', { cause, callId: 'c1' }), 'CrmUploadError', 'E_UNEXPECTED'],
    [new ConfigError('m', { cause, callId: 'c1' }), 'ConfigError', 'E_CONFIG'],
    [new InputError('m', { cause, callId: 'c1' }), 'InputError', 'E_INPUT'],
    [new CrmHttpError('m', { cause, callId: 'c1' }), 'CrmHttpError', 'E_CRM_HTTP'],
    [new PayloadValidationError('m', { cause, callId: 'c1', problems: [] }), 'PayloadValidationError', 'E_PAYLOAD_INVALID'],
  ];
  for (const [err, name, code] of rows) {
    assert.deepEqual(
      { name: err.name, code: err.code, message: err.message, cause: err.cause, callId: err.context.callId, hasCodeInContext: 'code' in err.context, hasCauseInContext: 'cause' in err.context },
      { name, code, message: 'm', cause, callId: 'c1', hasCodeInContext: false, hasCauseInContext: false },
      name,
    );
    assert.ok(err instanceof CrmUploadError && err instanceof Error);
  }
  assert.equal(new InputError('m', { code: 'E_INPUT_JSON' }).code, 'E_INPUT_JSON', 'a code given wins over the default');
  assert.equal(new CrmUploadError('m').cause, undefined, 'no cause: none set');
});

test('the positional form of before still builds the same error (deprecated)', () => {
  const cause = new Error('x');
  const legacy = new InputError('E_INPUT_JSON', 'not JSON', { file: 'a.json' }, { cause });
  assert.deepEqual([legacy.code, legacy.message, legacy.context, legacy.cause], ['E_INPUT_JSON', 'not JSON', { file: 'a.json' }, cause]);
  const config = new ConfigError('too new', { file: 'o.db' }, { cause, code: 'E_OUTBOX_TOO_NEW' });
  assert.deepEqual([config.code, config.context, config.cause], ['E_OUTBOX_TOO_NEW', { file: 'o.db' }, cause]);
});

test('PayloadValidationError.of names every problem and the first field', () => {
  const err = PayloadValidationError.of([{ field: '/callDetails/callId', message: 'is required' }, { field: '/lead/email', message: 'is not an email' }], { file: 'f.json' });
  assert.equal(err.message, 'payload does not match the contract: /callDetails/callId is required; /lead/email is not an email');
  assert.deepEqual(err.context, { file: 'f.json', field: '/callDetails/callId' });
  assert.equal(describeError(err), 'E_PAYLOAD_INVALID: payload does not match the contract: /callDetails/callId is required; /lead/email is not an email (file=f.json, field=/callDetails/callId)');
});

test('codes are one union of distinct E_ names; isErrorCode and isCrmUploadError narrow', () => {
  assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length, 'a code listed twice');
  for (const code of ERROR_CODES) assert.match(code, /^E_[A-Z]+(_[A-Z]+)*$/);
  assert.equal(isErrorCode('E_CONFIG'), true);
  assert.equal(isErrorCode('E_NOPE'), false);
  const err: unknown = new ConfigError('m', { variable: 'CRM_OUTBOX' });
  assert.equal(isCrmUploadError(err), true);
  assert.equal(isCrmUploadError(err, 'E_CONFIG'), true);
  assert.equal(isCrmUploadError(err, 'E_INPUT'), false);
  assert.equal(isCrmUploadError(new Error('m')), false);
});

test('the package root exports every error class a caller can catch', () => {
  for (const name of ['CrmUploadError', 'ConfigError', 'InputError', 'InputProblemsError', 'PayloadValidationError', 'CrmHttpError', 'OutboxVersionError', 'ReconcileError']) {
    const cls = (api as Record<string, unknown>)[name];
    assert.equal(typeof cls, 'function', `${name} is not exported`);
    assert.ok(cls === CrmUploadError || (cls as { prototype: unknown }).prototype instanceof CrmUploadError, `${name} is not a CrmUploadError`);
  }
});
