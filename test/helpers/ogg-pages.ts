/**
 * The pages of an Ogg file, for tests that cut a recording where egress would leave it while writing
 * (after a given page, before its end-of-stream page).
 */
import assert from 'node:assert/strict';
import { readOggPageAt, type OggPage } from '../../src/ingest/ogg-duration.ts';

/** Every page of an Ogg file, in order (each checked by its CRC); fails the test at a broken one. */
export function oggPages(bytes: Uint8Array): OggPage[] {
  const pages: OggPage[] = [];
  for (let at = 0; at < bytes.length; ) {
    const page = readOggPageAt(bytes, at);
    assert.ok(page, `a whole page at ${at}`);
    pages.push(page);
    at += page.length;
  }
  return pages;
}

/** Offsets where each page of an Ogg file ends: a cut there leaves whole pages only. */
export function oggPageEnds(bytes: Uint8Array): number[] {
  return oggPages(bytes).map((page) => page.offset + page.length);
}
