/**
 * Format detection by content (docs/architecture.md, "Inputs seen in real deployments"): file names vary between
 * deployments, the shapes do not. Pure: the caller reads the bytes.
 */
import type { FormatName } from './call-record.ts';
import { isObject } from './fields.ts';
import { LEAD_MARKER_FIELDS } from './read-lead.ts';

/** The formats that arrive as JSON documents. */
export type JsonFormatName = Exclude<FormatName, 'recording' | 'event-log'>;

/** Audio containers recognised by their first bytes. */
export type AudioContainer = 'ogg' | 'wav' | 'mp3' | 'flac' | 'mp4' | 'webm';

/** Extensions under which recordings occur (egress writes `.ogg`; `.wav` also occurs). */
export const AUDIO_EXTENSIONS: ReadonlySet<string> = new Set(['.ogg', '.oga', '.opus', '.wav', '.mp3', '.flac', '.m4a', '.mp4', '.webm']);

/** Extensions of line-delimited JSON: an event log when its lines are events. */
export const JSON_LINES_EXTENSIONS: ReadonlySet<string> = new Set(['.jsonl', '.ndjson']);

/** How many bytes `sniffAudio` needs. */
export const AUDIO_HEAD_BYTES = 12;

function ascii(head: Uint8Array, from: number, text: string): boolean {
  if (head.length < from + text.length) return false;
  for (let i = 0; i < text.length; i++) if (head[from + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The audio container the first bytes announce (`OggS`, `RIFF…WAVE`, `ID3`, `fLaC`, `…ftyp`, EBML), or null. */
export function sniffAudio(head: Uint8Array): AudioContainer | null {
  if (ascii(head, 0, 'OggS')) return 'ogg';
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return 'wav';
  if (ascii(head, 0, 'fLaC')) return 'flac';
  if (ascii(head, 0, 'ID3')) return 'mp3';
  const b0 = head[0];
  const b1 = head[1];
  if (b0 === 0xff && b1 !== undefined && (b1 & 0xe0) === 0xe0) return 'mp3';
  if (ascii(head, 4, 'ftyp')) return 'mp4';
  if (b0 === 0x1a && b1 === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return 'webm';
  return null;
}

/** The lower-case extension of a name, with its dot (`.ogg`), or `""`. */
export function extensionOf(name: string): string {
  const slash = Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\'));
  const dot = name.lastIndexOf('.');
  return dot > slash + 1 ? name.slice(dot).toLowerCase() : '';
}

/** True when a name has a recording's extension. */
export function hasAudioExtension(name: string): boolean {
  return AUDIO_EXTENSIONS.has(extensionOf(name));
}

/** True when a list holds an item with a `raw` Python repr (the MongoDB exporter's mark). */
function hasRawItems(items: unknown): boolean {
  if (!Array.isArray(items)) return false;
  for (const item of items) if (isObject(item) && typeof item.raw === 'string') return true;
  return false;
}

/**
 * The format of a parsed JSON document, or null when it is none of them.
 *
 * - `files` with `timestamps`, `dialed_number` or `session_id`: a manifest.
 * - `items` with `session_id`/`start_time`/`end_time`: a session; a MongoDB export when an item has a
 *   `raw` repr, else a transcript-logger session (whatever type `items` has: the reader says what is
 *   wrong with it).
 * - `items` alone: a LiveKit history.
 * - `conversation`: a legacy conversation.
 * - any lead field (name, email, phone, company, interest, …): a lead.
 */
export function detectJsonFormat(doc: unknown): JsonFormatName | null {
  if (!isObject(doc)) return null;
  if ('files' in doc && ('timestamps' in doc || 'dialed_number' in doc || 'session_id' in doc)) return 'manifest';
  if ('items' in doc) {
    if ('session_id' in doc || 'start_time' in doc || 'end_time' in doc) {
      return hasRawItems(doc.items) ? 'mongo-export' : 'transcript-logger';
    }
    return 'livekit-history';
  }
  if ('conversation' in doc) return 'legacy-conversation';
  for (const key of LEAD_MARKER_FIELDS) if (key in doc) return 'lead';
  return null;
}

/**
 * True when the text is JSON lines, one object per line, none of them a whole call (an event log
 * holds one event per line, across many calls). Blank lines are allowed.
 */
export function looksLikeEventLog(text: string, minLines = 1): boolean {
  let count = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') continue;
    if (line[0] !== '{') return false;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      return false;
    }
    if (!isObject(event) || 'items' in event || 'conversation' in event) return false;
    count++;
  }
  return count >= minLines;
}

/** What detection can be given about a file: its first bytes, its parsed JSON, or its text. */
export interface DetectInput {
  head?: Uint8Array;
  json?: unknown;
  text?: string;
}

/**
 * The format of a file from its name and content, or null when unknown. Audio is recognised by its
 * first bytes or its extension (a non-audio file named `.ogg` is still reported as a recording, so the
 * problem said about it is that its content is not audio).
 */
export function detectFormat(name: string, input: DetectInput): FormatName | null {
  if (input.head !== undefined && sniffAudio(input.head) !== null) return 'recording';
  if (hasAudioExtension(name)) return 'recording';
  if (input.json !== undefined) return detectJsonFormat(input.json);
  if (input.text !== undefined) {
    const lines = JSON_LINES_EXTENSIONS.has(extensionOf(name)) ? 1 : 2;
    if (looksLikeEventLog(input.text, lines)) return 'event-log';
  }
  return null;
}

/** Extensions a folder walk considers as possible inputs (besides audio); content decides the format. */
const INPUT_EXTENSIONS: ReadonlySet<string> = new Set(['.json', '.jsonl', '.ndjson', '']);

/**
 * True when a file met while walking a folder may be an input: JSON, JSON lines, audio, or no
 * extension. Hidden files (`.DS_Store`) and documents (`README.md`) are passed over rather than
 * reported as malformed JSON; a file named explicitly is always read.
 */
export function isInputCandidate(name: string): boolean {
  if (name.startsWith('.')) return false;
  const ext = extensionOf(name);
  return INPUT_EXTENSIONS.has(ext) || AUDIO_EXTENSIONS.has(ext) || name.endsWith('.partial');
}
