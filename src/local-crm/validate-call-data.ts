/**
 * Contract validation on the local CRM's side: the same `contract/call-data.schema.json` the project
 * sends against, so a test against the local CRM catches what the real CRM would reject.
 */
import { readFileSync } from 'node:fs';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/** One contract violation: a dotted field path (`callDetails.startTime`) and what is wrong. */
export interface FieldError {
  field: string;
  message: string;
}

let compiled: ValidateFunction | null = null;

// Compiled on first use; `../../contract` is the package root from src/local-crm and dist/local-crm alike.
function validator(): ValidateFunction {
  if (compiled) return compiled;
  const schema = JSON.parse(readFileSync(new URL('../../contract/call-data.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormatsModule.default(ajv);
  compiled = ajv.compile(schema);
  return compiled;
}

/** Validate a call-data payload; an empty list means valid. */
export function validateCallData(payload: unknown): FieldError[] {
  const validate = validator();
  if (validate(payload)) return [];
  return toFieldErrors(validate.errors ?? []);
}

function toFieldErrors(errors: ErrorObject[]): FieldError[] {
  // `transcription` and `lead` are "{} or the full object": ajv also reports the failed "{}" branch and
  // the anyOf itself, which only hide the real problem. Kept only when nothing else is reported.
  const noise = (e: ErrorObject): boolean => e.keyword === 'anyOf' || e.schemaPath.startsWith('#/$defs/empty');
  const useful = errors.filter((e) => !noise(e));
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of useful.length > 0 ? useful : errors) {
    const parts = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const params = e.params as { missingProperty?: unknown; additionalProperty?: unknown };
    if (typeof params.missingProperty === 'string') parts.push(params.missingProperty);
    if (typeof params.additionalProperty === 'string') parts.push(params.additionalProperty);
    const field = parts.length > 0 ? parts.join('.') : '(body)';
    const message = e.keyword === 'additionalProperties' ? 'is not allowed' : (e.message ?? 'is invalid');
    const id = `${field}\u0000${message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ field, message });
  }
  return out;
}
