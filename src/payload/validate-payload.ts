/**
 * Contract validation: every payload is checked against `contract/call-data.schema.json` (the package's
 * byte-identical copy of the shared contract) before it is enqueued or sent. An invalid payload is never
 * sent, and the error names the field.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { PayloadValidationError, type ErrorContext } from '../errors.ts';
import type { CallPayload } from './call-payload.ts';

/** Path of the shipped contract; `../../contract` is the package root from both src/payload and dist/payload. */
export const CALL_DATA_SCHEMA_URL = new URL('../../contract/call-data.schema.json', import.meta.url);

let compiled: ValidateFunction | null = null;

/** The compiled contract validator (compiled once, on first use). */
export function callDataValidator(): ValidateFunction {
  if (compiled === null) {
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    addFormatsModule.default(ajv);
    compiled = ajv.compile(JSON.parse(readFileSync(CALL_DATA_SCHEMA_URL, 'utf8')) as object);
  }
  return compiled;
}

/** The contract violations of a value, each with its field (JSON pointer, `/` for the root) and message. */
export function payloadProblems(value: unknown): { field: string; message: string }[] {
  const validate = callDataValidator();
  if (validate(value)) return [];
  const problems = (validate.errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : '';
    return { field: e.instancePath || '/', message: `${e.message ?? 'is invalid'}${extra}` };
  });
  // anyOf branches report every branch; the most specific (deepest) fields come first for a useful message.
  problems.sort((a, b) => b.field.split('/').length - a.field.split('/').length);
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.field} ${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Throw a PayloadValidationError naming the field unless the value is a contract-valid payload. */
export function assertValidPayload(value: unknown, context: ErrorContext = {}): asserts value is CallPayload {
  const problems = payloadProblems(value);
  if (problems.length > 0) throw PayloadValidationError.of(problems, context);
}
