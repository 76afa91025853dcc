/**
 * The journal of a call in progress: an append-only JSON-lines file, `livekit_<session id>.jsonl.partial`
 * in the conversations folder, one fsync'd line per conversation item as it happens. Its name ends in
 * `.partial`, so `watch`, `bulk` and every reader skip it; the session file is built from it when the
 * call ends (or by `recover` after a crash) and the journal is removed.
 *
 * Lines: a `header` (session id, start, metadata, writer), then `item`, `meta` (facts learnt during the
 * call: the caller's number, the recorder's file) and finally one `end` line that fixes the session
 * file's name, end time and recording before anything is written, so a finalisation cut short is
 * finished the same way, and with the same file, by whoever runs next.
 *
 * Appending is cheap and crash-safe: a line is written with one `write` and made durable with
 * `fdatasync`; a crash cuts at most the line being written, which the reader drops.
 */
import { readFile, type FileHandle } from 'node:fs/promises';
import { ensurePrivateDir, openPrivate } from '../../fs/private-files.ts';
import { dirname } from 'node:path';
import { CrmUploadError, describeError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { TranscriptItem } from '../../logger/transcript-logger.ts';
import { ownerOf, type JournalOwner } from './journal-owner.ts';

/** How every journal's name begins. */
export const JOURNAL_PREFIX = 'livekit_';
/** How every journal's name ends: `.partial`, which every reader skips. */
export const JOURNAL_SUFFIX = '.jsonl.partial';
/** The `format` of a journal header. */
export const JOURNAL_FORMAT = 'crm-upload/livekit-journal';

/** Code of a journal without a readable header: it is left where it is. */
export const E_JOURNAL_HEADER = 'E_JOURNAL_HEADER';

/** The first line. */
export interface JournalHeader {
  kind: 'header';
  format: typeof JOURNAL_FORMAT;
  version: 1;
  session_id: string;
  /** UTC ISO. */
  start_time: string;
  owner: JournalOwner;
  /** The session file's `metadata` (campaign ids, LiveKit job and room). */
  metadata: Record<string, unknown>;
  caller_number: string | null;
  /** A recording named by the agent's code (`recordingPath`). */
  recording_path: string | null;
  /** `ctx.sessionDirectory`, where the agent's own recording (`audio.ogg`) is written. */
  session_directory: string | null;
}

/** A conversation item, in the session file's shape. */
export interface JournalItemLine {
  kind: 'item';
  item: TranscriptItem;
}

/** Facts learnt during the call. */
export interface JournalMetaLine {
  kind: 'meta';
  caller_number?: string;
  /** The file the session's own recorder writes. */
  agent_recording?: string;
  metadata?: Record<string, unknown>;
}

/** The last line: what the session file will be. */
export interface JournalEndLine {
  kind: 'end';
  /** UTC ISO. */
  end_time: string;
  /** Base name of the session file in the journal's folder. */
  file: string;
  recording_path: string | null;
}

/** One line of a journal. */
export type JournalLine = JournalHeader | JournalItemLine | JournalMetaLine | JournalEndLine;

/** A journal as read (or as its writer holds it in memory). */
export interface JournalState {
  header: JournalHeader;
  /** In order of arrival; an item whose id comes again is replaced where it stands. */
  items: TranscriptItem[];
  callerNumber: string | null;
  agentRecording: string | null;
  metadata: Record<string, unknown>;
  end: JournalEndLine | null;
}

/** The journal's name for a session id (characters that have no place in a file name replaced). */
export function journalFileName(sessionId: string): string {
  return `${JOURNAL_PREFIX}${sessionId.replace(/[^A-Za-z0-9._-]/g, '_')}${JOURNAL_SUFFIX}`;
}

/** True for the name of a journal (not for the `.partial` files other writers leave). */
export function isJournalName(name: string): boolean {
  return name.startsWith(JOURNAL_PREFIX) && name.endsWith(JOURNAL_SUFFIX);
}

/** A fresh state for a header. */
export function newJournalState(header: JournalHeader): JournalState {
  return { header, items: [], callerNumber: header.caller_number, agentRecording: null, metadata: { ...header.metadata }, end: null };
}

function itemId(item: TranscriptItem): string | null {
  return typeof item.id === 'string' && item.id !== '' ? item.id : null;
}

/** Apply one line to a state: what the writer does in memory and the reader does from the file. */
export function applyJournalLine(state: JournalState, line: JournalLine): void {
  switch (line.kind) {
    case 'header':
      // A header again: the same session re-attached after its writer died; the new writer owns it.
      state.header = { ...state.header, owner: line.owner };
      return;
    case 'item': {
      const id = itemId(line.item);
      const at = id === null ? -1 : state.items.findIndex((i) => itemId(i) === id);
      if (at >= 0) state.items[at] = line.item;
      else state.items.push(line.item);
      return;
    }
    case 'meta':
      if (typeof line.caller_number === 'string' && line.caller_number !== '') state.callerNumber = line.caller_number;
      if (typeof line.agent_recording === 'string' && line.agent_recording !== '') state.agentRecording = line.agent_recording;
      if (line.metadata) state.metadata = { ...state.metadata, ...line.metadata };
      return;
    case 'end':
      // The first end line decides: a second one comes from a finalisation that raced the first.
      state.end ??= line;
      return;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A header read from a line, or null when it is not one. */
function headerOf(value: unknown): JournalHeader | null {
  if (!isObject(value) || value.kind !== 'header' || value.format !== JOURNAL_FORMAT) return null;
  const owner = ownerOf(value.owner);
  if (typeof value.session_id !== 'string' || value.session_id === '' || typeof value.start_time !== 'string' || owner === null) return null;
  const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
  return {
    kind: 'header',
    format: JOURNAL_FORMAT,
    version: 1,
    session_id: value.session_id,
    start_time: value.start_time,
    owner,
    metadata: isObject(value.metadata) ? value.metadata : {},
    caller_number: str(value.caller_number),
    recording_path: str(value.recording_path),
    session_directory: str(value.session_directory),
  };
}

/** A line other than the header, or null when it is none of them. */
function lineOf(value: unknown): JournalLine | null {
  if (!isObject(value)) return null;
  if (value.kind === 'header') return headerOf(value);
  if (value.kind === 'item' && isObject(value.item)) return { kind: 'item', item: value.item as TranscriptItem };
  if (value.kind === 'meta') {
    const meta: JournalMetaLine = { kind: 'meta' };
    if (typeof value.caller_number === 'string') meta.caller_number = value.caller_number;
    if (typeof value.agent_recording === 'string') meta.agent_recording = value.agent_recording;
    if (isObject(value.metadata)) meta.metadata = value.metadata;
    return meta;
  }
  if (value.kind === 'end' && typeof value.end_time === 'string' && typeof value.file === 'string') {
    return { kind: 'end', end_time: value.end_time, file: value.file, recording_path: typeof value.recording_path === 'string' ? value.recording_path : null };
  }
  return null;
}

/** A parsed journal. */
export interface ParsedJournal {
  state: JournalState;
  /** Lines that could not be read: a tail cut by a crash, or damage. */
  skippedLines: number;
}

/**
 * Parse a journal's text. A line cut by a crash (the last one, without its newline) or otherwise
 * unreadable is skipped and counted; only a missing header is an error (`E_JOURNAL_HEADER`).
 */
export function parseJournal(text: string, file: string): ParsedJournal {
  const lines = text.split('\n');
  let state: JournalState | null = null;
  let skippedLines = 0;
  for (const raw of lines) {
    if (raw.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      skippedLines++;
      continue;
    }
    const line = lineOf(value);
    if (line === null) {
      skippedLines++;
      continue;
    }
    if (state === null) {
      if (line.kind !== 'header') {
        skippedLines++;
        continue;
      }
      state = newJournalState(line);
      continue;
    }
    applyJournalLine(state, line);
  }
  if (state === null) throw new CrmUploadError('not a crm-upload LiveKit journal: no readable header line', { code: E_JOURNAL_HEADER, file });
  return { state, skippedLines };
}

/** Read and parse a journal file. */
export async function readJournal(file: string): Promise<ParsedJournal> {
  return parseJournal(await readFile(file, 'utf8'), file);
}

/**
 * Appends lines to a journal in the background, in order, each batch written once and fdatasync'd.
 * Never throws and never rejects: a failure is logged and the call goes on (the session file is still
 * built from memory at the end); the next line after a failed write starts on a new line, so a torn
 * fragment cannot swallow it.
 */
export class JournalWriter {
  /** Absolute path of the journal. */
  readonly path: string;
  readonly #logger: Logger;
  readonly #handle: Promise<FileHandle | null>;
  #pending: string[] = [];
  #draining: Promise<void> | null = null;
  #tornTail = false;
  #closed = false;
  /** The last write error, or null; for the attachment's result. */
  lastError: string | null = null;

  /** Create the journal (or append to one this session left) and write `header` first. */
  constructor(path: string, header: JournalHeader, logger: Logger) {
    this.path = path;
    this.#logger = logger;
    this.#pending.push(`${JSON.stringify(header)}\n`);
    this.#handle = (async () => {
      await ensurePrivateDir(dirname(path));
      return openPrivate(path, 'a');
    })().catch((err: unknown) => {
      this.lastError = describeError(err);
      logger.error({ journal: path, err: this.lastError }, 'cannot create the call journal; the transcript is kept in memory until the call ends');
      return null;
    });
    this.#kick();
  }

  /** Queue one line. */
  append(line: JournalLine): void {
    if (this.#closed) return;
    let text: string;
    try {
      text = `${JSON.stringify(line)}\n`;
    } catch (err) {
      this.#logger.error({ journal: this.path, err: describeError(err) }, 'a journal line cannot be serialised; it is left out');
      return;
    }
    this.#pending.push(text);
    this.#kick();
  }

  #kick(): void {
    if (this.#draining !== null) return;
    this.#draining = this.#drain()
      .catch((err: unknown) => {
        this.lastError = describeError(err);
        this.#logger.error({ journal: this.path, err: this.lastError }, 'the journal writer failed');
      })
      .finally(() => {
        this.#draining = null;
        if (this.#pending.length > 0) this.#kick();
      });
  }

  async #drain(): Promise<void> {
    const handle = await this.#handle;
    while (this.#pending.length > 0) {
      const chunk = this.#pending.join('');
      this.#pending = [];
      if (handle === null) continue;
      try {
        await handle.write(this.#tornTail ? `\n${chunk}` : chunk);
        this.#tornTail = false;
        await handle.datasync();
      } catch (err) {
        this.#tornTail = true;
        this.lastError = describeError(err);
        this.#logger.error({ journal: this.path, err: this.lastError }, 'a journal write failed; the line is kept in memory');
      }
    }
  }

  /** Resolves once every line queued so far is on disk (or has failed). Never rejects. */
  async flushed(): Promise<void> {
    while (this.#draining !== null) await this.#draining;
  }

  /** True when the journal file could be created. */
  async isOpen(): Promise<boolean> {
    return (await this.#handle) !== null;
  }

  /** Flush, then close the file; later appends are dropped. Never rejects. */
  async close(): Promise<void> {
    await this.flushed();
    this.#closed = true;
    const handle = await this.#handle;
    await handle?.close().catch(() => undefined);
  }
}
