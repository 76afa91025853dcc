/**
 * The local CRM's data: calls by callId (with the Idempotency-Key and answer of the POST that created
 * them, for replays) and uploaded recordings (by file name, and by Idempotency-Key for replays). In
 * memory, or also as files under `dataDir` (`calls/*.json`, `recordings/*`, `uploads/*.json`), reloaded
 * on start. Memory is updated before any await, so two concurrent POSTs of one call cannot both create it.
 * A CRM that ignores `Idempotency-Key` (the `ignoreIdempotency` fault) holds further copies of a callId
 * (`addCopy`; files `calls/<callId>.<n>.json`), listed like any call.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CallPayload } from '../payload/call-payload.ts';

/** One stored call. */
export interface StoredCall {
  callId: string;
  payload: CallPayload;
  /** Key of the POST that created it; null for a call inserted through the admin route. */
  idempotencyKey: string | null;
  /** The answer given on creation, replayed to a retry with the same key. */
  response: { status: number; body: unknown };
  createdAt: string;
}

/** One stored recording (metadata; the bytes are read with `recordingData`). */
export interface StoredUpload {
  filename: string;
  originalName: string;
  contentType: string;
  size: number;
  idempotencyKey: string | null;
  /** The answer given on upload, replayed to a retry with the same key. */
  response: { status: number; body: unknown };
  createdAt: string;
}

/** Calls and recordings of one server. */
export class CrmStore {
  readonly dataDir: string | null;
  #calls = new Map<string, StoredCall>();
  /** Every stored call, copies included, in creation order. */
  #all: StoredCall[] = [];
  /** Copies of a callId beyond its first (the first is in `#calls`). */
  #copies = new Map<string, StoredCall[]>();
  #uploads = new Map<string, StoredUpload>();
  #uploadsByKey = new Map<string, StoredUpload>();
  #data = new Map<string, Buffer>();
  #lastStamp = 0;

  constructor(dataDir?: string) {
    this.dataDir = dataDir ?? null;
    if (this.dataDir) this.#load(this.dataDir);
  }

  /** The stored call of a callId. */
  getCall(callId: string): StoredCall | undefined {
    return this.#calls.get(callId);
  }

  /** Every stored call, copies included, in creation order. */
  calls(): StoredCall[] {
    return [...this.#all];
  }

  /** How many records the store holds of `callId` (more than 1 only with `ignoreIdempotency`). */
  copiesOf(callId: string): number {
    return this.#calls.has(callId) ? 1 + (this.#copies.get(callId)?.length ?? 0) : 0;
  }

  /** The callIds held more than once, with how many records each, in order of first creation. */
  duplicates(): { callId: string; count: number }[] {
    return [...this.#copies.entries()].map(([callId, extra]) => ({ callId, count: 1 + extra.length }));
  }

  /** Store (or replace) a call; memory first, then its file. */
  async putCall(call: StoredCall): Promise<void> {
    const old = this.#calls.get(call.callId);
    this.#calls.set(call.callId, call);
    const at = old === undefined ? -1 : this.#all.indexOf(old);
    if (at >= 0) this.#all[at] = call;
    else this.#all.push(call);
    if (this.dataDir) await writeFile(join(this.dataDir, 'calls', `${fileSafe(call.callId)}.json`), JSON.stringify(call, null, 2));
  }

  /**
   * Store one more record of a call, beside any already held (a CRM that ignores `Idempotency-Key`
   * creates a new call for every POST); the first record of a callId is stored as by `putCall`.
   */
  async addCopy(call: StoredCall): Promise<void> {
    if (!this.#calls.has(call.callId)) return this.putCall(call);
    const extra = this.#copies.get(call.callId) ?? [];
    extra.push(call);
    this.#copies.set(call.callId, extra);
    this.#all.push(call);
    if (this.dataDir) await writeFile(join(this.dataDir, 'calls', `${fileSafe(call.callId)}.${extra.length + 1}.json`), JSON.stringify(call, null, 2));
  }

  /** Remove a call and every copy of it; false when there was none. */
  async deleteCall(callId: string): Promise<boolean> {
    const had = this.#calls.delete(callId);
    const copies = this.#copies.get(callId)?.length ?? 0;
    this.#copies.delete(callId);
    if (had) this.#all = this.#all.filter((c) => c.callId !== callId);
    if (had && this.dataDir) {
      await rm(join(this.dataDir, 'calls', `${fileSafe(callId)}.json`), { force: true });
      for (let n = 2; n <= copies + 1; n++) await rm(join(this.dataDir, 'calls', `${fileSafe(callId)}.${n}.json`), { force: true });
    }
    return had;
  }

  /** The upload earlier made with this Idempotency-Key. */
  uploadByKey(key: string): StoredUpload | undefined {
    return this.#uploadsByKey.get(key);
  }

  /** Every stored upload's metadata. */
  uploads(): StoredUpload[] {
    return [...this.#uploads.values()];
  }

  /** A new unique file name `<ms><ext>` (as the real CRM names them), never reused within one store. */
  newFilename(ext: string, now: number = Date.now()): string {
    this.#lastStamp = Math.max(now, this.#lastStamp + 1);
    return `${this.#lastStamp}${ext}`;
  }

  /** Store an upload and its bytes. */
  async putUpload(upload: StoredUpload, data: Buffer): Promise<void> {
    this.#uploads.set(upload.filename, upload);
    if (upload.idempotencyKey !== null) this.#uploadsByKey.set(upload.idempotencyKey, upload);
    if (!this.dataDir) {
      this.#data.set(upload.filename, data);
      return;
    }
    await writeFile(join(this.dataDir, 'recordings', upload.filename), data);
    await writeFile(join(this.dataDir, 'uploads', `${upload.filename}.json`), JSON.stringify(upload, null, 2));
  }

  /** The bytes of a stored recording. */
  recordingData(filename: string): Buffer | undefined {
    if (!this.#uploads.has(filename)) return undefined;
    if (!this.dataDir) return this.#data.get(filename);
    return readFileSync(join(this.dataDir, 'recordings', filename));
  }

  /** Forget every call and upload (and delete their files). */
  async reset(): Promise<void> {
    this.#calls.clear();
    this.#all = [];
    this.#copies.clear();
    this.#uploads.clear();
    this.#uploadsByKey.clear();
    this.#data.clear();
    if (!this.dataDir) return;
    for (const sub of ['calls', 'recordings', 'uploads']) {
      await rm(join(this.dataDir, sub), { recursive: true, force: true });
      mkdirSync(join(this.dataDir, sub), { recursive: true });
    }
  }

  #load(dir: string): void {
    for (const sub of ['calls', 'recordings', 'uploads']) mkdirSync(join(dir, sub), { recursive: true });
    const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
    const byTime = (a: { createdAt: string }, b: { createdAt: string }): number => a.createdAt.localeCompare(b.createdAt);
    const calls = readdirSync(join(dir, 'calls'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => readJson<StoredCall>(join(dir, 'calls', f)))
      .sort(byTime);
    for (const c of calls) {
      this.#all.push(c);
      if (!this.#calls.has(c.callId)) this.#calls.set(c.callId, c);
      else this.#copies.set(c.callId, [...(this.#copies.get(c.callId) ?? []), c]);
    }
    const uploads = readdirSync(join(dir, 'uploads'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => readJson<StoredUpload>(join(dir, 'uploads', f)))
      .sort(byTime);
    for (const u of uploads) {
      this.#uploads.set(u.filename, u);
      if (u.idempotencyKey !== null) this.#uploadsByKey.set(u.idempotencyKey, u);
      const stamp = Number.parseInt(u.filename, 10);
      if (Number.isFinite(stamp)) this.#lastStamp = Math.max(this.#lastStamp, stamp);
    }
  }
}

// callIds come from clients: encoded so that none can name a path outside the folder. Dots are encoded
// too, so the `.<n>` of a copy's file name can never be part of a callId.
function fileSafe(callId: string): string {
  return encodeURIComponent(callId).replace(/\./g, '%2E');
}
