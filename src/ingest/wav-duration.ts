/**
 * The duration of a WAV recording from its header (docs/architecture.md format 6): the size of the `data`
 * chunk divided by the byte rate of the `fmt ` chunk. Chunks are walked from byte 12 (RIFF: a 4-byte id, a
 * 4-byte little-endian size, the body padded to an even length), so `LIST`, `fact` or other chunks before
 * `data` are skipped. Pure: the caller passes the first bytes of the file and its size.
 */

/** Bytes of the head read for the chunk walk: enough for `fmt ` and the usual metadata chunks before `data`. */
export const WAV_HEAD_BYTES = 64 * 1024;

/** What a WAV header says about the recording's duration. */
export type WavDuration =
  | { kind: 'complete'; seconds: number; channels: number; sampleRate: number }
  /** The writer has not finished: the `data` size is a placeholder, or runs past the end of the file. */
  | { kind: 'incomplete'; reason: string }
  | { kind: 'unreadable'; reason: string };

function idAt(buf: Uint8Array, at: number): string {
  return String.fromCharCode(...buf.subarray(at, at + 4));
}

/** The duration a WAV header states, given its first bytes and the file's size. */
export function wavDuration(head: Uint8Array, fileSize: number): WavDuration {
  if (head.length < 12 || idAt(head, 0) !== 'RIFF' || idAt(head, 8) !== 'WAVE') {
    return { kind: 'unreadable', reason: 'no RIFF/WAVE header' };
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let byteRate: number | null = null;
  let channels = 0;
  let sampleRate = 0;
  for (let at = 12; at + 8 <= head.length; ) {
    const id = idAt(head, at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      if (body + 16 > head.length || size < 16) return { kind: 'unreadable', reason: 'the fmt chunk is too short' };
      channels = view.getUint16(body + 2, true);
      sampleRate = view.getUint32(body + 4, true);
      byteRate = view.getUint32(body + 8, true);
    } else if (id === 'data') {
      if (byteRate === null) return { kind: 'unreadable', reason: 'the data chunk comes before any fmt chunk' };
      if (byteRate === 0) return { kind: 'unreadable', reason: 'the fmt chunk gives a byte rate of 0' };
      const available = fileSize - body;
      // A streaming writer puts 0 or 0xFFFFFFFF here and fixes the size when it closes the file.
      if ((size === 0 || size === 0xffffffff) && available > 0) {
        return { kind: 'incomplete', reason: 'the WAV data size is not written yet (still being written?)' };
      }
      if (size > available) return { kind: 'incomplete', reason: 'the WAV data chunk runs past the end of the file (still being written?)' };
      return { kind: 'complete', seconds: size / byteRate, channels, sampleRate };
    }
    at = body + size + (size % 2);
  }
  return { kind: 'unreadable', reason: `no data chunk in the first ${head.length} bytes` };
}
