/**
 * Reading one input file of any format: the I/O around the pure readers. Refuses what must not be
 * read (directories, JSON over the size limit), skips what is not a call (`.partial` files being
 * written, the event log), detects the format by content and hands the parsed document to its reader.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CallRecord, FormatName, LeadRecord, ManifestRecord, RecordingFacts } from './call-record.ts';
import { isIncompleteAudio, readHead } from './audio.ts';
import { parseRecordingName, readRecording } from './read-recording.ts';
import { detectJsonFormat, extensionOf, hasAudioExtension, JSON_LINES_EXTENSIONS, looksLikeEventLog, sniffAudio } from './detect-format.ts';
import { isObject } from './fields.ts';
import { inputProblem, InputProblemsError } from './problems.ts';
import type { ReadContext } from './read-context.ts';
import { readLead } from './read-lead.ts';
import { readLegacyConversation } from './read-legacy-conversation.ts';
import { readLivekitHistory } from './read-livekit-history.ts';
import { readManifest } from './read-manifest.ts';
import { readMongoExport } from './read-mongo-export.ts';
import { readTranscriptLogger } from './read-transcript-logger.ts';
import { baseName } from './timestamps.ts';

/** JSON inputs above this size are refused (docs/architecture.md: 50 MB); recordings have no limit. */
export const MAX_JSON_BYTES = 50 * 1024 * 1024;

/** Why the event log is not read as a call. */
export const EVENT_LOG_REASON = 'event log: items of many calls without a session id, not a call';
/** Why a `.partial` file is not read. */
export const PARTIAL_REASON = 'being written (.partial)';

/** Code of a path where no file exists. */
export const E_INPUT_MISSING = 'E_INPUT_MISSING';
/** Code of a path that is a directory or another non-regular file. */
export const E_INPUT_NOT_FILE = 'E_INPUT_NOT_FILE';
/** Code of a file the system would not let us read. */
export const E_INPUT_READ = 'E_INPUT_READ';
/** Code of a JSON input over the size limit. */
export const E_INPUT_TOO_LARGE = 'E_INPUT_TOO_LARGE';
/** Code of malformed (or empty) JSON. */
export const E_INPUT_JSON = 'E_INPUT_JSON';
/** Code of a document that is none of the input formats. */
export const E_INPUT_FORMAT = 'E_INPUT_FORMAT';

/** Extensions that announce JSON: such files are never sniffed for audio. */
const JSON_NAMES: ReadonlySet<string> = new Set(['.json', '.jsonl', '.ndjson']);

/** Context of `readInputFile`. */
export interface IngestContext extends ReadContext {
  /** Size limit of JSON inputs in bytes; default MAX_JSON_BYTES (injectable so tests need not write 50 MB). */
  maxJsonBytes?: number;
}

/** What one input file is. Records keep the absolute path of the file they came from. */
export type IngestResult =
  | { kind: 'call'; format: FormatName; call: CallRecord }
  | { kind: 'lead'; format: 'lead'; lead: LeadRecord }
  | { kind: 'recording'; format: 'recording'; recording: RecordingFacts }
  /** The manifest's `files` are not resolved yet (all null); `rawFiles` holds the paths as written. */
  | { kind: 'manifest'; format: 'manifest'; manifest: ManifestRecord }
  | { kind: 'skipped'; format: FormatName | null; file: string; reason: string };

/**
 * Hand a parsed JSON document of a known format to its reader (pure). Recordings are not JSON and
 * are read by `readRecording`; the event log is skipped.
 */
export function readParsed(format: Exclude<FormatName, 'recording'>, doc: unknown, file: string, ctx: ReadContext): IngestResult {
  switch (format) {
    case 'transcript-logger':
      return { kind: 'call', format, call: readTranscriptLogger(doc, file, ctx) };
    case 'livekit-history':
      return { kind: 'call', format, call: readLivekitHistory(doc, file, ctx) };
    case 'mongo-export':
      return { kind: 'call', format, call: readMongoExport(doc, file, ctx) };
    case 'legacy-conversation':
      return { kind: 'call', format, call: readLegacyConversation(doc, file, ctx) };
    case 'lead':
      return { kind: 'lead', format, lead: readLead(doc, file, ctx) };
    case 'manifest':
      return { kind: 'manifest', format, manifest: readManifest(doc, file, ctx) };
    case 'event-log':
      return { kind: 'skipped', format, file, reason: EVENT_LOG_REASON };
  }
}

/** Line and column (1-based) of a character offset. */
function lineColumn(text: string, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < position && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: position - lineStart + 1 };
}

/** The InputError of malformed JSON, naming the file and where the text breaks. */
function jsonError(file: string, text: string, err: Error): InputProblemsError {
  if (text.trim() === '') return inputProblem(file, null, E_INPUT_JSON, '', 'the file is empty: expected a JSON object');
  const m = /position (\d+)/.exec(err.message);
  const position = m ? Number(m[1]) : /end of JSON input/i.test(err.message) ? text.length : null;
  const reason = err.message.replace(/ in JSON at position \d+.*$/, '').replace(/^Unexpected end of JSON input$/, 'the JSON ends early (truncated?)');
  if (position === null) return inputProblem(file, null, E_INPUT_JSON, '', `malformed JSON: ${reason}`);
  const { line, column } = lineColumn(text, position);
  return inputProblem(file, null, E_INPUT_JSON, '', `malformed JSON at line ${line} column ${column} (position ${position}): ${reason}`);
}

/** The text of a JSON file: UTF-8 without a byte-order mark (some Windows editors add one). */
function decode(bytes: Uint8Array): string {
  const text = new TextDecoder('utf-8').decode(bytes);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The InputError of a path that cannot be stat'ed. */
function statProblem(file: string, err: unknown): InputProblemsError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return inputProblem(file, null, E_INPUT_MISSING, '', 'no such file');
  return inputProblem(file, null, E_INPUT_READ, '', `cannot read the file: ${(err as Error).message}`);
}

/** Refuse what is not a regular file. */
function checkRegular(file: string, info: Stats): void {
  if (info.isDirectory()) throw inputProblem(file, null, E_INPUT_NOT_FILE, '', 'is a directory, not a file');
  if (!info.isFile()) throw inputProblem(file, null, E_INPUT_NOT_FILE, '', 'is not a regular file');
}

/** Refuse JSON over the size limit. */
function checkJsonSize(file: string, info: Pick<Stats, 'size'>, ctx: IngestContext): void {
  const limit = ctx.maxJsonBytes ?? MAX_JSON_BYTES;
  if (info.size > limit) {
    throw inputProblem(file, null, E_INPUT_TOO_LARGE, '', `the file is ${info.size} bytes, over the ${limit}-byte limit of JSON inputs`);
  }
}

/** Detect the format of a JSON (or JSON lines) text and read it. */
function readJsonText(file: string, name: string, text: string, info: Pick<Stats, 'mtimeMs'>, ctx: IngestContext): IngestResult {
  const readCtx: ReadContext = { ...ctx, mtimeMs: ctx.mtimeMs ?? info.mtimeMs };

  if (JSON_LINES_EXTENSIONS.has(extensionOf(name)) && looksLikeEventLog(text, 1)) {
    return { kind: 'skipped', format: 'event-log', file, reason: EVENT_LOG_REASON };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    if (looksLikeEventLog(text, 2)) return { kind: 'skipped', format: 'event-log', file, reason: EVENT_LOG_REASON };
    throw jsonError(file, text, err as Error);
  }
  const format = detectJsonFormat(doc);
  if (format === null) {
    if (Array.isArray(doc)) throw inputProblem(file, null, E_INPUT_FORMAT, '', 'expected a JSON object, got a list (no input format is a top-level list)');
    if (!isObject(doc)) throw inputProblem(file, null, E_INPUT_FORMAT, '', `expected a JSON object, got ${doc === null ? 'null' : typeof doc}`);
    const keys = Object.keys(doc).slice(0, 8).join(', ');
    throw inputProblem(file, null, E_INPUT_FORMAT, '', `unknown format: not a session, LiveKit history, legacy conversation, lead or manifest (keys: ${keys || 'none'})`);
  }
  return readParsed(format, doc, file, readCtx);
}

/**
 * A recording's facts, or, for one egress is still writing (`E_INPUT_AUDIO_INCOMPLETE`), the facts its name
 * and the size seen give, marked `stillWriting`. Such a file is no bad input: its call is matched by the
 * name's epoch and number, and the worker waits for the file to be finished (CRM_RECORDING_WAIT_MS) and
 * reads its size and duration then — never a part's duration. Refused, the call would be sent without it.
 * (`readRecording` itself still throws: serve reports a still-written recordingPath on its own.)
 */
async function readScannedRecording(file: string, info: Pick<Stats, 'size'>): Promise<RecordingFacts> {
  try {
    return await readRecording(file);
  } catch (err) {
    if (!isIncompleteAudio(err)) throw err;
    return { file, ...parseRecordingName(file), size: info.size, durationSec: null, stillWriting: true };
  }
}

/**
 * Read one input file. Throws an InputProblemsError (an InputError: code, message, `context.file`,
 * `context.field`, `context.format`, and `problems` listing every problem) for a file that cannot be
 * used: missing, a directory, JSON over the size limit, malformed JSON, an unknown format, wrong
 * fields, or a recording that is empty or not audio (one still being written is read as `stillWriting`,
 * see `readScannedRecording`). The mtime is read here and given to the
 * readers as their last resort for a call's time.
 */
export async function readInputFile(path: string, ctx: IngestContext): Promise<IngestResult> {
  const file = resolve(path);
  const name = baseName(file);
  if (name.endsWith('.partial')) return { kind: 'skipped', format: null, file, reason: PARTIAL_REASON };

  let info;
  try {
    info = await stat(file);
  } catch (err) {
    throw statProblem(file, err);
  }
  checkRegular(file, info);

  // Recordings are streamed by whoever uploads them: no size limit, and never loaded whole here.
  // Audio is recognised by its extension, or by its first bytes when the name says nothing of JSON.
  if (hasAudioExtension(name)) return { kind: 'recording', format: 'recording', recording: await readScannedRecording(file, info) };
  if (!JSON_NAMES.has(extensionOf(name)) && info.size > 0 && sniffAudio(await readHead(file)) !== null) {
    return { kind: 'recording', format: 'recording', recording: await readScannedRecording(file, info) };
  }

  checkJsonSize(file, info, ctx);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw inputProblem(file, null, E_INPUT_READ, '', `cannot read the file: ${(err as Error).message}`);
  }
  return readJsonText(file, name, decode(bytes), info, ctx);
}

/**
 * Read a JSON input given as text, for a file about to be written with it (TranscriptLogger enqueues a
 * session before its file is on disk, docs/architecture.md "Durability"): the same size limit, format
 * detection and readers as `readInputFile`, with `ctx.mtimeMs` standing for the file's mtime.
 */
export function readInputText(path: string, text: string, ctx: IngestContext & { mtimeMs: number }): IngestResult {
  const file = resolve(path);
  checkJsonSize(file, { size: Buffer.byteLength(text, 'utf8') }, ctx);
  return readJsonText(file, baseName(file), text, { mtimeMs: ctx.mtimeMs }, ctx);
}

/** Files up to this size can be read by `readInputFileSync`. */
export const SYNC_READ_MAX_BYTES = 1024 * 1024;

// One buffer for every synchronous read: the text is decoded out of it at once, so a scan of many small
// files allocates no Buffer per file (Buffers live outside the JS heap and fragment the malloc heap).
let readBuffer = Buffer.allocUnsafeSlow(64 * 1024);

/** Open flags of `readInputFileSync`: non-blocking, so that opening a FIFO (refused below) cannot hang. */
const SYNC_OPEN_FLAGS = constants.O_NONBLOCK === undefined ? null : constants.O_RDONLY | constants.O_NONBLOCK;

/** The whole content of a small file, in `readBuffer` (valid until the next read), or null when it outgrew the limit. */
function readSmallFileSync(fd: number, size: number): Uint8Array | null {
  if (readBuffer.length <= size) readBuffer = Buffer.allocUnsafeSlow(Math.min(SYNC_READ_MAX_BYTES + 1, Math.max(size + 1, 2 * readBuffer.length)));
  let total = 0;
  for (;;) {
    if (total === readBuffer.length) {
      // The file grew since it was stat'ed: leave it to the asynchronous reader.
      if (total > SYNC_READ_MAX_BYTES) return null;
      const bigger = Buffer.allocUnsafeSlow(Math.min(SYNC_READ_MAX_BYTES + 1, 2 * readBuffer.length));
      readBuffer.copy(bigger, 0, 0, total);
      readBuffer = bigger;
    }
    const n = readSync(fd, readBuffer, total, readBuffer.length - total, total);
    if (n === 0) return readBuffer.subarray(0, total);
    total += n;
  }
}

/**
 * `readInputFile` with synchronous I/O, for a scan of many small files where nothing else waits on
 * the event loop (one file costs a few tens of microseconds instead of several thread-pool round
 * trips). Same results and errors as `readInputFile`; returns null for what it leaves to that
 * function: recordings, names that do not announce JSON (their content may be audio), and files over
 * SYNC_READ_MAX_BYTES.
 */
export function readInputFileSync(path: string, ctx: IngestContext): IngestResult | null {
  const file = resolve(path);
  const name = baseName(file);
  if (name.endsWith('.partial')) return { kind: 'skipped', format: null, file, reason: PARTIAL_REASON };
  if (SYNC_OPEN_FLAGS === null || hasAudioExtension(name) || !JSON_NAMES.has(extensionOf(name))) return null;

  // Open, then stat what was opened: one path lookup instead of two.
  let fd: number;
  try {
    fd = openSync(file, SYNC_OPEN_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw statProblem(file, err);
    return null; // e.g. no permission: the asynchronous reader reports it, after the checks that come first
  }
  try {
    let info;
    try {
      info = fstatSync(fd);
    } catch (err) {
      throw statProblem(file, err);
    }
    checkRegular(file, info);
    checkJsonSize(file, info, ctx);
    if (info.size > SYNC_READ_MAX_BYTES) return null;
    let bytes: Uint8Array | null;
    try {
      bytes = readSmallFileSync(fd, info.size);
    } catch (err) {
      throw inputProblem(file, null, E_INPUT_READ, '', `cannot read the file: ${(err as Error).message}`);
    }
    if (bytes === null) return null;
    return readJsonText(file, name, decode(bytes), info, ctx);
  } finally {
    closeSync(fd);
  }
}
