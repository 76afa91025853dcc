/**
 * The duration of an Ogg Opus or Ogg Vorbis recording read from the stream itself (docs/architecture.md
 * format 6): the granule position of the last page, which counts samples from the start of the stream,
 * less Opus's pre-skip. Only the first page (the codec's identification header) and the last page are
 * read, so a 30-minute recording costs two small reads, whatever its page size.
 *
 * Why not music-metadata: its Ogg parser stops after the 13th page unless asked to scan the whole file
 * (`duration: true`), so an `opusenc` recording longer than ~12 s (one page per second) had no duration at all;
 * and at the end of a cut-off file it takes the last granule it met as the duration, so a recording egress is
 * still writing would read as a shorter, wrong one. Here a last page without the end-of-stream flag, or bytes
 * after the last whole page, say "not finished yet" instead.
 *
 * Page layout (RFC 3533 §6): "OggS", version 0, header type (0x01 continued, 0x02 first, 0x04 last page
 * of the stream), 64-bit granule position, serial, sequence number, CRC-32, segment count, segment table,
 * then the segments. OpusHead (RFC 7845 §5.1): "OpusHead", version, channels, pre-skip (u16 LE) at byte 10.
 */

/** Largest possible Ogg page: 27-byte header, 255 lacing values, 255 segments of 255 bytes. */
export const MAX_OGG_PAGE_BYTES = 27 + 255 + 255 * 255;

/** Opus always counts granule positions at 48 kHz, whatever the input rate (RFC 7845 §4). */
const OPUS_GRANULE_RATE = 48_000;

const HEADER_BYTES = 27;
const FLAG_LAST_PAGE = 0x04;

/** One whole Ogg page found in a buffer. */
export interface OggPage {
  /** Where the page starts in the buffer. */
  offset: number;
  /** Header plus body, in bytes. */
  length: number;
  /** Header type flags (0x01 continued, 0x02 beginning of stream, 0x04 end of stream). */
  flags: number;
  /** Absolute granule position; -1n when no packet ends on this page. */
  granule: bigint;
  serial: number;
  sequence: number;
  /** The page's body (the packets' bytes). */
  body: Uint8Array;
}

/** What the first and last pages say about a recording's duration. */
export type OggDuration =
  /** The stream is complete: its duration in seconds (not rounded). */
  | { kind: 'complete'; seconds: number; codec: 'opus' | 'vorbis' }
  /** Egress has not finished the file: no end-of-stream page yet, or its last page is cut short. */
  | { kind: 'incomplete'; reason: string }
  /** Not a stream whose duration can be read this way; `reason` says why. */
  | { kind: 'unreadable'; reason: string }
  /** Another codec in Ogg (FLAC, Speex, …): left to a general reader. */
  | { kind: 'other-codec' };

const CRC_TABLE = buildCrcTable();

/** The Ogg CRC-32: polynomial 0x04c11db7, initial value 0, no bit reflection, no final XOR (RFC 3533 §6). */
function buildCrcTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let bit = 0; bit < 8; bit++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
}

/** The Ogg CRC of a page whose checksum field (bytes 22–25) is read as zero. */
export function oggCrc(page: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < page.length; i++) {
    const byte = i >= 22 && i < 26 ? 0 : (page[i] as number);
    crc = ((crc << 8) ^ (CRC_TABLE[((crc >>> 24) ^ byte) & 0xff] as number)) >>> 0;
  }
  return crc;
}

/**
 * The whole page starting at `offset`, or null when there is none: no "OggS" there, a version other than 0,
 * a page running past the end of the buffer, or a checksum that does not match (the four bytes "OggS" can
 * occur inside compressed audio; the CRC tells a real page from them).
 */
export function readOggPageAt(buf: Uint8Array, offset: number): OggPage | null {
  if (offset < 0 || offset + HEADER_BYTES > buf.length) return null;
  if (buf[offset] !== 0x4f || buf[offset + 1] !== 0x67 || buf[offset + 2] !== 0x67 || buf[offset + 3] !== 0x53) return null;
  if (buf[offset + 4] !== 0) return null;
  const view = new DataView(buf.buffer, buf.byteOffset + offset);
  const segments = view.getUint8(26);
  if (offset + HEADER_BYTES + segments > buf.length) return null;
  let bodyLength = 0;
  for (let i = 0; i < segments; i++) bodyLength += buf[offset + HEADER_BYTES + i] as number;
  const length = HEADER_BYTES + segments + bodyLength;
  if (offset + length > buf.length) return null;
  const page = buf.subarray(offset, offset + length);
  if (oggCrc(page) !== view.getUint32(22, true)) return null;
  return {
    offset,
    length,
    flags: view.getUint8(5),
    granule: view.getBigInt64(6, true),
    serial: view.getUint32(14, true),
    sequence: view.getUint32(18, true),
    body: page.subarray(HEADER_BYTES + segments),
  };
}

/** The last whole page in `buf` (searched from the end), or null when the buffer holds none. */
export function findLastOggPage(buf: Uint8Array): OggPage | null {
  for (let at = buf.length - HEADER_BYTES; at >= 0; at--) {
    if (buf[at] !== 0x4f) continue;
    const page = readOggPageAt(buf, at);
    if (page !== null) return page;
  }
  return null;
}

function startsWith(body: Uint8Array, text: string): boolean {
  if (body.length < text.length) return false;
  for (let i = 0; i < text.length; i++) if (body[i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * The duration an Ogg stream states, from its first bytes (`head`, holding at least the first page) and its
 * last bytes (`tail`, the final `tail.length` bytes of the file; 2 × MAX_OGG_PAGE_BYTES covers a whole last
 * page even behind a cut-off one). Pure: the caller reads the file.
 */
export function oggDuration(head: Uint8Array, tail: Uint8Array): OggDuration {
  const first = readOggPageAt(head, 0);
  if (first === null) return { kind: 'unreadable', reason: 'the first Ogg page is damaged' };
  let codec: 'opus' | 'vorbis';
  let rate: number;
  let preSkip = 0;
  const id = new DataView(first.body.buffer, first.body.byteOffset, first.body.byteLength);
  if (startsWith(first.body, 'OpusHead') && first.body.length >= 19) {
    codec = 'opus';
    rate = OPUS_GRANULE_RATE;
    preSkip = id.getUint16(10, true);
  } else if (startsWith(first.body, '\x01vorbis') && first.body.length >= 30) {
    codec = 'vorbis';
    rate = id.getUint32(12, true);
    if (rate === 0) return { kind: 'unreadable', reason: 'the Vorbis header gives a sample rate of 0' };
  } else {
    return { kind: 'other-codec' };
  }

  const last = findLastOggPage(tail);
  if (last === null) return { kind: 'incomplete', reason: 'no whole Ogg page at the end of the file (still being written?)' };
  if (last.offset + last.length !== tail.length) {
    return { kind: 'incomplete', reason: 'the file ends inside an Ogg page (still being written?)' };
  }
  if (last.serial !== first.serial) {
    return { kind: 'unreadable', reason: 'the last Ogg page belongs to another logical stream (chained Ogg is not read)' };
  }
  if ((last.flags & FLAG_LAST_PAGE) === 0) {
    return { kind: 'incomplete', reason: 'the last Ogg page has no end-of-stream flag (still being written?)' };
  }
  if (last.granule < 0n) return { kind: 'unreadable', reason: 'the end-of-stream page gives no granule position' };
  const samples = last.granule - BigInt(preSkip);
  if (samples < 0n) return { kind: 'unreadable', reason: 'the last granule position is before the pre-skip' };
  return { kind: 'complete', seconds: Number(samples) / rate, codec };
}
