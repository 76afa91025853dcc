/**
 * The check of `crm-upload doctor` on `CRM_OUTBOX_KEY` (docs/architecture.md, "Stores" → "Payload encryption"):
 * the keys parse, every stored payload is under a key configured, the newest one opens, and payloads
 * still plain or under an old key are pointed at `crm-upload rekey`. Pure: it reads the probe's facts.
 */
import type { CheckResult } from './check.ts';

/** What the probe found about the outbox's keys and payloads. */
export interface OutboxKeyFacts {
  /** Why CRM_OUTBOX_KEY or CRM_OUTBOX_OLD_KEYS does not parse (names the variable, never the value); null when they do. */
  keyError: string | null;
  /** The id of the writing key, or null when none is set. */
  writeKid: string | null;
  /** Every key id configured (writing one first). */
  readKids: readonly string[];
  /** Stored payloads by key id (`plain` for those in the clear); null when the outbox could not be read. */
  byKid: Readonly<Record<string, number>> | null;
  /** Of how many payloads `byKid` tells: all of them (SQLite), or the newest ones (Redis). */
  scope: 'all' | 'newest';
  /** The call whose payload was opened as a sample (the newest), or null when there is none. */
  sampleCallId: string | null;
  /** Why the sample did not open; null when it did or none was tried. */
  sampleError: string | null;
}

/** The outbox key parses and opens what is stored. */
export function checkOutboxKey(f: OutboxKeyFacts): CheckResult {
  const id = 'outbox.key';
  const title = 'outbox key';
  const fixKey = 'set CRM_OUTBOX_KEY to 32 random bytes (openssl rand -base64 32), and list earlier keys in CRM_OUTBOX_OLD_KEYS (README, "Security")';
  if (f.keyError !== null) return { id, title, status: 'fail', detail: f.keyError, fix: fixKey };
  const counts = f.byKid ?? {};
  const of = f.scope === 'all' ? '' : ' (of the newest)';
  const unknown = Object.entries(counts).filter(([kid]) => kid !== 'plain' && !f.readKids.includes(kid));
  if (unknown.length > 0) {
    const list = unknown.map(([kid, n]) => `${n} under key ${kid}`).join(', ');
    return { id, title, status: 'fail', detail: `${list}${of}, which is not configured: they cannot be read or delivered`, fix: 'set that key in CRM_OUTBOX_KEY or CRM_OUTBOX_OLD_KEYS' };
  }
  if (f.sampleError !== null) return { id, title, status: 'fail', detail: `the payload of ${f.sampleCallId ?? 'the newest call'} does not open: ${f.sampleError}`, fix: 'restore the outbox from a backup, or replay that call from its source file' };
  if (f.writeKid === null) {
    if (f.readKids.length > 0) return { id, title, status: 'warn', detail: `only old keys are set (${f.readKids.join(', ')}): new payloads are stored in the clear`, fix: 'set CRM_OUTBOX_KEY' };
    return { id, title, status: 'skip', detail: 'CRM_OUTBOX_KEY is not set: payloads are stored in the clear (README, "Security")' };
  }
  const plain = counts.plain ?? 0;
  const old = Object.entries(counts).filter(([kid]) => kid !== 'plain' && kid !== f.writeKid);
  const sample = f.sampleCallId === null ? 'nothing stored yet' : `the newest payload (${f.sampleCallId}) opens`;
  if (plain > 0) return { id, title, status: 'warn', detail: `key ${f.writeKid} parses and ${sample}, but ${plain} payload(s)${of} are stored in the clear (written before the key was set)`, fix: 'run crm-upload rekey' };
  const oldText = old.length === 0 ? '' : `; ${old.map(([kid, n]) => `${n} under old key ${kid}`).join(', ')}${of}: run crm-upload rekey, then remove it from CRM_OUTBOX_OLD_KEYS`;
  return { id, title, status: 'ok', detail: `key ${f.writeKid} parses and ${sample}${oldText}` };
}
