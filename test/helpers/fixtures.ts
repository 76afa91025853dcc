/**
 * Where the tests' fixtures live: `test/fixtures/`, the anonymised real inputs of every format (see its
 * README) plus the project's own bad-input files. Resolved by real path, because the tools report files by
 * their real paths and a test compares against what they report.
 */
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The fixtures folder, with a trailing slash. */
export const FIXTURES = realpathSync(fileURLToPath(new URL('../fixtures/', import.meta.url))) + '/';

/** A fixture's absolute path from its path inside `test/fixtures/`. */
export const fixture = (rel: string): string => join(FIXTURES, rel);

/** The Ogg Opus egress recording of the fixtures (a caller number and a start epoch in its name). */
export const OGG_RECORDING = fixture('recordings/number-_919999900001-1761745857.ogg');
