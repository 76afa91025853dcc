/**
 * Encryption of payloads at rest (docs/architecture.md, "Stores" → "Payload encryption"; issue 15). With
 * `CRM_OUTBOX_KEY` set, both stores keep each payload as an envelope `{"v":1,"kid","iv","tag","ct"}`:
 * AES-256-GCM from `node:crypto`, a fresh 12-byte IV per record, the callId as additional authenticated
 * data (a record copied onto another item does not decrypt), and the key id — the first 8 hex digits of
 * the key's SHA-256 — so that keys rotate: the current key writes, it and `CRM_OUTBOX_OLD_KEYS` read.
 *
 * A payload stored before a key was set (plain JSON) is still read, and `crm-upload rekey` encrypts it.
 * An envelope whose key is not configured, or that fails authentication, is an `OutboxKeyError`
 * (`E_OUTBOX_KEY`, exit 2) naming the key id and the callId: never a silent skip.
 *
 * Only the payload is sealed: it holds the transcript, phones, emails and names. The rest of a record is
 * the delivery's bookkeeping (states, times, counters, the recording's path and URL) and the attempts'
 * history, whose messages are our own classifications plus at most a short quote of the CRM's answer
 * (docs/architecture.md says why that stays readable).
 *
 * Pure functions plus one `PayloadCipher` built once from the config (`payloadCipherOf`), used by both
 * stores where they serialise a payload — on the calling thread, so that no key crosses to SQLite's
 * writer thread.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ConfigError, type ErrorOptions } from '../errors.ts';
import type { CallPayload } from '../payload/call-payload.ts';

/** The code of `OutboxKeyError`. */
export const E_OUTBOX_KEY = 'E_OUTBOX_KEY';

/** A payload as stored encrypted. Every binary field is base64. */
export interface PayloadEnvelope {
  v: 1;
  /** Key id: the first 8 hex digits of SHA-256 of the key. */
  kid: string;
  /** 12 random bytes, fresh for every record. */
  iv: string;
  /** GCM's 16-byte authentication tag. */
  tag: string;
  /** The payload's JSON, encrypted. */
  ct: string;
}

/**
 * A key that does not parse, or a stored payload that cannot be opened with the keys configured (its key
 * is missing, or the record was altered or moved to another callId). A configuration problem: exit 2.
 */
export class OutboxKeyError extends ConfigError {
  /** The key id concerned (of the record, or of the key given), when known. */
  readonly kid: string | null;

  constructor(message: string, options: ErrorOptions & { kid?: string | null } = {}) {
    super(message, { variable: 'CRM_OUTBOX_KEY', ...options, code: E_OUTBOX_KEY });
    this.kid = options.kid ?? null;
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/**
 * The 32 bytes of a key written as 64 hex digits or as base64 (44 characters, with or without padding;
 * URL-safe alphabet accepted). Anything else is an OutboxKeyError naming `variable` (never the value).
 */
export function parseOutboxKey(text: string, variable = 'CRM_OUTBOX_KEY'): Buffer {
  const t = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t)) key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (key === null || key.length !== KEY_BYTES) {
    throw new OutboxKeyError(`${variable} must be 32 bytes written as 64 hex digits or base64 (openssl rand -base64 32)`, { variable });
  }
  return key;
}

/** The key id of a key: the first 8 hex digits of its SHA-256 (reveals nothing usable about the key). */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** True when a stored payload value is an encryption envelope (a plain payload never has these fields). */
export function isEnvelope(value: unknown): value is PayloadEnvelope {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return v.v === 1 && typeof v.kid === 'string' && typeof v.iv === 'string' && typeof v.tag === 'string' && typeof v.ct === 'string';
}

/** Encrypt `plaintext` under `key` (id `kid`), bound to `callId`. */
export function sealText(plaintext: string, key: Buffer, kid: string, callId: string): PayloadEnvelope {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(callId, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { v: 1, kid, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64') };
}

/**
 * Decrypt an envelope with the key its `kid` names among `keys`, checking it belongs to `callId`. An
 * unknown kid, or a record that fails authentication, is an OutboxKeyError naming the kid and the callId.
 */
export function openText(envelope: PayloadEnvelope, keys: ReadonlyMap<string, Buffer>, callId: string): string {
  const key = keys.get(envelope.kid);
  if (key === undefined) {
    throw new OutboxKeyError(
      `the payload of ${callId} is encrypted with key ${envelope.kid}, which is not configured: set CRM_OUTBOX_KEY to it, or list it in CRM_OUTBOX_OLD_KEYS` +
        (keys.size === 0 ? ' (no key is set)' : ` (configured: ${[...keys.keys()].join(', ')})`),
      { kid: envelope.kid, callId },
    );
  }
  const iv = Buffer.from(envelope.iv, 'base64');
  const tag = Buffer.from(envelope.tag, 'base64');
  try {
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('bad IV or tag length');
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(callId, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(envelope.ct, 'base64')), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new OutboxKeyError(`the payload of ${callId} (key ${envelope.kid}) fails authentication: the record was altered, or belongs to another call`, {
      kid: envelope.kid,
      callId,
      cause: err,
    });
  }
}

/** What a stored payload is, for `rekey` and `doctor`. */
export type StoredPayloadKind = 'plain' | 'current' | 'old';

/** The one object both stores serialise payloads through. */
export interface PayloadCipher {
  /** The id of the key new records are written under, or null when payloads are stored in the clear. */
  readonly writeKid: string | null;
  /** Every key id this cipher can read, the writing one first. */
  readonly readKids: readonly string[];
  /** The value to store for `payload` of `callId`: an envelope with a key, else the payload itself. */
  seal(callId: string, payload: CallPayload): CallPayload | PayloadEnvelope;
  /** The payload of a stored value: decrypted when it is an envelope (or an OutboxKeyError), else as it is. */
  open(callId: string, stored: unknown): CallPayload;
  /** Plain, under the writing key, or under another key (known or not). */
  kindOf(stored: unknown): StoredPayloadKind;
}

/** The keys of a cipher: the writing key (or none) and the keys only read. Texts as the environment has them. */
export interface CipherKeys {
  key?: string | null;
  oldKeys?: readonly string[];
}

/** Build the cipher of these keys (parsed once). Without a writing key payloads are written in the clear. */
export function createPayloadCipher(keys: CipherKeys = {}): PayloadCipher {
  const readKeys = new Map<string, Buffer>();
  let writeKey: Buffer | null = null;
  let writeKid: string | null = null;
  if (keys.key !== undefined && keys.key !== null && keys.key.trim() !== '') {
    writeKey = parseOutboxKey(keys.key, 'CRM_OUTBOX_KEY');
    writeKid = keyIdOf(writeKey);
    readKeys.set(writeKid, writeKey);
  }
  for (const text of keys.oldKeys ?? []) {
    if (text.trim() === '') continue;
    const k = parseOutboxKey(text, 'CRM_OUTBOX_OLD_KEYS');
    if (!readKeys.has(keyIdOf(k))) readKeys.set(keyIdOf(k), k);
  }
  return {
    writeKid,
    readKids: [...readKeys.keys()],
    seal(callId, payload) {
      if (writeKey === null || writeKid === null) return payload;
      return sealText(JSON.stringify(payload), writeKey, writeKid, callId);
    },
    open(callId, stored) {
      if (!isEnvelope(stored)) return stored as CallPayload;
      return JSON.parse(openText(stored, readKeys, callId)) as CallPayload;
    },
    kindOf(stored) {
      if (!isEnvelope(stored)) return 'plain';
      return stored.kid === writeKid ? 'current' : 'old';
    },
  };
}

/** The cipher that stores payloads in the clear and reads only plain ones (no key configured). */
export const PLAIN_PAYLOADS: PayloadCipher = createPayloadCipher();

/** The cipher of a configuration (`CRM_OUTBOX_KEY`, `CRM_OUTBOX_OLD_KEYS`). */
export function payloadCipherOf(config: { outboxKey?: string | null; outboxOldKeys?: readonly string[] }): PayloadCipher {
  if ((config.outboxKey ?? null) === null && (config.outboxOldKeys ?? []).length === 0) return PLAIN_PAYLOADS;
  return createPayloadCipher({ key: config.outboxKey ?? null, oldKeys: config.outboxOldKeys ?? [] });
}

/** What `rekey` found and did (`OutboxStore.rekey`). */
export interface RekeyReport {
  /** Records looked at. */
  scanned: number;
  /** Already under the writing key. */
  current: number;
  /** Rewritten under the writing key (with `dryRun`: would be). */
  rewritten: number;
  /** Of `rewritten`, those that were plain before. */
  fromPlain: number;
  /** Of `rewritten`, those under another key before, by key id. */
  fromKeys: Record<string, number>;
  /** Changed by someone else between read and write (or in flight on BullMQ): left for another run. */
  skipped: number;
}

/** Options of `OutboxStore.rekey`. */
export interface RekeyOptions {
  /** Count only; write nothing. */
  dryRun?: boolean;
  /** Records per transaction (SQLite) or per round (BullMQ); default 100. */
  batchSize?: number;
}

/** An empty report, for the stores to fill. */
export function emptyRekeyReport(): RekeyReport {
  return { scanned: 0, current: 0, rewritten: 0, fromPlain: 0, fromKeys: {}, skipped: 0 };
}

/**
 * The new stored value of one record for `rekey`, or null when it is under the writing key already;
 * counts it in `report`. Throws an OutboxKeyError for a record no configured key opens (never skipped).
 */
export function rekeyValue(cipher: PayloadCipher, callId: string, stored: unknown, report: RekeyReport): PayloadEnvelope | null {
  if (cipher.writeKid === null) throw new OutboxKeyError('rekey needs CRM_OUTBOX_KEY: the key to write every payload under');
  report.scanned += 1;
  const kind = cipher.kindOf(stored);
  // Opened even when current: a record that fails authentication is said now, not at delivery.
  const payload = cipher.open(callId, stored);
  if (kind === 'current') {
    report.current += 1;
    return null;
  }
  report.rewritten += 1;
  if (kind === 'plain') report.fromPlain += 1;
  else {
    const kid = (stored as PayloadEnvelope).kid;
    report.fromKeys[kid] = (report.fromKeys[kid] ?? 0) + 1;
  }
  return cipher.seal(callId, payload) as PayloadEnvelope;
}

/** Count a rewrite `rekeyValue` planned as skipped instead (the record changed, or is in flight, meanwhile). */
export function countSkipped(report: RekeyReport, stored: unknown): void {
  report.rewritten -= 1;
  report.skipped += 1;
  if (!isEnvelope(stored)) report.fromPlain -= 1;
  else {
    const left = (report.fromKeys[stored.kid] ?? 0) - 1;
    if (left > 0) report.fromKeys[stored.kid] = left;
    else delete report.fromKeys[stored.kid];
  }
}
