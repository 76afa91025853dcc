/**
 * The design document and the code stay in step: every section a comment cites
 * (`docs/architecture.md, "Delivery" → "Outcomes"`, `format 6`, `step 4`, a quoted phrase) exists in
 * docs/architecture.md, so renaming a section without its citations fails here; and nothing in the
 * repository points at a document or a path outside it, so a clone stands on its own.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC_PATH = 'docs/architecture.md';
const DOC = readFileSync(join(ROOT, DOC_PATH), 'utf8');

/** A Markdown heading of the document. */
interface Heading {
  level: number;
  text: string;
}

/** The headings of a Markdown text, in order, outside fenced code blocks. */
function headingsOf(markdown: string): Heading[] {
  const out: Heading[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^(#{1,6})\s+(.+?)\s*#*\s*$/.exec(line);
    if (m) out.push({ level: (m[1] as string).length, text: m[2] as string });
  }
  return out;
}

/** True when `heading` answers to `name`: its whole text, or its short name before a colon (`Format 6: recording`). */
function answersTo(heading: Heading, name: string): boolean {
  return heading.text === name || heading.text.startsWith(`${name}: `);
}

/** True when the document has a section `name`, inside section `parent` when given. */
function hasSection(headings: readonly Heading[], name: string, parent: string | null): boolean {
  if (parent === null) return headings.some((h) => answersTo(h, name));
  return headings.some((p, i) => {
    if (!answersTo(p, parent)) return false;
    for (const h of headings.slice(i + 1)) {
      if (h.level <= p.level) return false;
      if (answersTo(h, name)) return true;
    }
    return false;
  });
}

/** One section a citation names, with the section it must lie in (`"Delivery" → "Outcomes"`). */
interface CitedSection {
  name: string;
  parent: string | null;
}

/** What one citation names: sections, and phrases it quotes from the document. */
interface Citation {
  sections: CitedSection[];
  quotes: string[];
}

/**
 * Parse what follows `docs/architecture.md` in a citation. Sections are quoted after a comma, a space
 * or an opening parenthesis (`, "Matching"`, ` "Session ids"`, ` ("Delivery", leases)`), chained by `→` (a subsection; an unquoted capitalised word
 * counts too: `→ Queue`) and listed with `,` or `and` (siblings). A quoted phrase after a colon
 * (`: "up to 10 minutes"`) is a quotation from the document.
 */
function parseCitation(tail: string): Citation {
  const sections: CitedSection[] = [];
  const quotes: string[] = [];
  let rest = tail;
  if (/^(?:,\s*|\s+\(?)"/.test(rest)) {
    rest = rest.replace(/^,?\s*\(?/, '');
    let parent: string | null = null;
    for (;;) {
      const q = /^"([^"]+)"/.exec(rest);
      if (!q) break;
      const name = q[1] as string;
      sections.push({ name, parent });
      rest = rest.slice(q[0].length);
      const arrow = /^\s*→\s*/.exec(rest);
      if (arrow) {
        parent ??= name;
        rest = rest.slice(arrow[0].length);
        const bare = /^([A-Z]\w*)/.exec(rest);
        if (bare) {
          sections.push({ name: bare[1] as string, parent });
          rest = rest.slice(bare[0].length);
          break;
        }
        continue;
      }
      const listed = /^\s*(?:,|and)\s*(?=")/.exec(rest);
      if (!listed) break;
      rest = rest.slice(listed[0].length);
    }
  }
  const quote = /^\s*:\s*"([^"]+)"/.exec(rest);
  if (quote) quotes.push(quote[1] as string);
  return { sections, quotes };
}

/** Comment lines joined into one line each, so a citation broken across lines reads whole. */
function joinCommentLines(text: string): string {
  return text.replace(/[ \t]*\r?\n[ \t]*(?:\*(?!\/)|\/\/+)?[ \t]*/g, ' ');
}

/** Every file under `dir` (relative to the root), skipping node_modules. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string): void => {
    let entries;
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name === 'node_modules') continue;
      const path = join(abs, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile()) out.push(path);
    }
  };
  walk(join(ROOT, dir));
  return out.sort();
}

/** A file's text, or null for a binary file (audio, a database). */
function textOf(path: string): string | null {
  const bytes = readFileSync(path);
  return bytes.includes(0) ? null : bytes.toString('utf8');
}

/** Path relative to the repository, with `/`. */
const rel = (path: string): string => relative(ROOT, path).split(sep).join('/');

const CITING_EXTENSIONS = new Set(['.ts', '.js', '.mjs', '.cjs', '.md']);
/** This file: its examples of citations are not citations. */
const SELF = fileURLToPath(import.meta.url);
const MARKER = DOC_PATH;

/** Every citation of the document in src/, test/ and bench/, with where it is. */
function citations(): { file: string; text: string; citation: Citation }[] {
  const out: { file: string; text: string; citation: Citation }[] = [];
  for (const dir of ['src', 'test', 'bench']) {
    for (const file of filesUnder(dir)) {
      if (!CITING_EXTENSIONS.has(extname(file)) || file === SELF) continue;
      const raw = textOf(file);
      if (raw === null || !raw.includes(MARKER)) continue;
      const text = joinCommentLines(raw);
      let at = text.indexOf(MARKER);
      while (at >= 0) {
        const tail = text.slice(at + MARKER.length, at + MARKER.length + 400);
        out.push({ file: rel(file), text: text.slice(at, at + 120), citation: parseCitation(tail) });
        at = text.indexOf(MARKER, at + 1);
      }
    }
  }
  return out;
}

test('parseCitation reads sections, subsections, lists and quotations', () => {
  const rows: [string, Citation][] = [
    [', "Matching").', { sections: [{ name: 'Matching', parent: null }], quotes: [] }],
    [' "Session ids").', { sections: [{ name: 'Session ids', parent: null }], quotes: [] }],
    [', "Delivery" → "Outcomes"). Pure', { sections: [{ name: 'Delivery', parent: null }, { name: 'Outcomes', parent: 'Delivery' }], quotes: [] }],
    [
      ', "Delivery" → "Outbox", "Throughput", "Durability") on',
      {
        sections: [
          { name: 'Delivery', parent: null },
          { name: 'Outbox', parent: 'Delivery' },
          { name: 'Throughput', parent: 'Delivery' },
          { name: 'Durability', parent: 'Delivery' },
        ],
        quotes: [],
      },
    ],
    [', "Configuration" → Queue): a', { sections: [{ name: 'Configuration', parent: null }, { name: 'Queue', parent: 'Configuration' }], quotes: [] }],
    [', "Library API" and "In the call"): save', { sections: [{ name: 'Library API', parent: null }, { name: 'In the call', parent: null }], quotes: [] }],
    [', "Rate limit": "with BullMQ it is global"). x', { sections: [{ name: 'Rate limit', parent: null }], quotes: ['with BullMQ it is global'] }],
    [': "up to 10 minutes"). */', { sections: [], quotes: ['up to 10 minutes'] }],
    [', "Delivery"; issue 7): any', { sections: [{ name: 'Delivery', parent: null }], quotes: [] }],
    [' ("Delivery", leases) wants', { sections: [{ name: 'Delivery', parent: null }], quotes: [] }],
    ["'s schedule with jitter", { sections: [], quotes: [] }],
    [', top): the', { sections: [], quotes: [] }],
  ];
  for (const [tail, expected] of rows) assert.deepEqual(parseCitation(tail), expected, tail);
});

test('joinCommentLines reads a citation broken across JSDoc and line comments', () => {
  assert.equal(joinCommentLines(' * (docs/architecture.md, "Payload: the\n * contract"). No'), ' * (docs/architecture.md, "Payload: the contract"). No');
  assert.equal(joinCommentLines('  // (docs/architecture.md,\n  // "Session ids"), so'), '  // (docs/architecture.md, "Session ids"), so');
});

test('hasSection finds a section by its name or short name, and a subsection only inside its parent', () => {
  const headings = headingsOf('# Top\n## Delivery\n### Outcomes\n## Inputs\n### Format 6: recording\n```\n## Not a heading\n```\n');
  assert.equal(hasSection(headings, 'Delivery', null), true);
  assert.equal(hasSection(headings, 'Outcomes', 'Delivery'), true);
  assert.equal(hasSection(headings, 'Outcomes', 'Inputs'), false);
  assert.equal(hasSection(headings, 'Format 6', null), true);
  assert.equal(hasSection(headings, 'Format', null), false);
  assert.equal(hasSection(headings, 'Not a heading', null), false);
  assert.equal(hasSection(headings, 'Renamed', null), false);
});

test('every section cited in src/, test/ and bench/ is a heading of docs/architecture.md', () => {
  const headings = headingsOf(DOC);
  const all = citations();
  const sections = all.flatMap((c) => c.citation.sections.map((s) => ({ ...s, file: c.file, text: c.text })));
  // The code cites the document in dozens of places; a parser that found none would prove nothing.
  assert.ok(all.length >= 50, `only ${all.length} citations found`);
  assert.ok(sections.length >= 40, `only ${sections.length} cited sections found`);
  const missing = sections
    .filter((s) => !hasSection(headings, s.name, s.parent))
    .map((s) => `${s.file}: ${s.parent === null ? '' : `"${s.parent}" → `}"${s.name}" (${s.text})`);
  assert.deepEqual(missing, []);
});

test('every phrase quoted from docs/architecture.md is in it', () => {
  const flat = DOC.replace(/\s+/g, ' ').toLowerCase();
  const quotes = citations().flatMap((c) => c.citation.quotes.map((q) => ({ q, file: c.file })));
  assert.ok(quotes.length >= 1, `only ${quotes.length} quotations found`);
  const missing = quotes.filter(({ q }) => !flat.includes(q.replace(/\s+/g, ' ').toLowerCase())).map(({ q, file }) => `${file}: "${q}"`);
  assert.deepEqual(missing, []);
});

test('every format, step and the CLI table cited by number or name exist', () => {
  const headings = headingsOf(DOC);
  const formats = new Set<string>();
  const steps = new Set<string>();
  let cliTable = 0;
  for (const { text } of citations()) {
    const numbers = /^docs\/architecture\.md,?\s+(?:formats?|input)\s+(\d+(?:(?:,\s*|\s+and\s+)\d+)*)/.exec(text);
    if (numbers) for (const n of (numbers[1] as string).match(/\d+/g) ?? []) formats.add(n);
    const step = /^docs\/architecture\.md,?\s+step\s+(\d+)/.exec(text);
    if (step) steps.add(step[1] as string);
    if (/^docs\/architecture\.md,?\s+CLI table/.test(text)) cliTable++;
  }
  assert.ok(formats.size >= 4, `only formats ${[...formats].join(', ')} cited`);
  for (const n of formats) assert.ok(hasSection(headings, `Format ${n}`, 'Inputs seen in real deployments'), `format ${n}`);
  for (const n of steps) assert.ok(hasSection(headings, `Step ${n}`, 'Matching'), `step ${n}`);
  // The eight formats are numbered 1–8, as the readers' comments call them.
  for (let n = 1; n <= 8; n++) assert.ok(hasSection(headings, `Format ${n}`, 'Inputs seen in real deployments'), `format ${n}`);
  if (cliTable > 0) {
    const at = DOC.indexOf('\n## Command-line interface\n');
    assert.ok(at >= 0, 'the CLI table is cited but there is no "Command-line interface" section');
    assert.match(DOC.slice(at, DOC.indexOf('\n## ', at + 1)), /^\| command \| what it does \|$/m);
  }
});

// Built from parts so that this file does not match its own patterns.
// The team's documents beside the repository (its design, toolchain and style notes) are not shipped.
const TEAM_DOCS = [['DES', 'IGN'], ['TOOL', 'CHAIN'], ['STY', 'LE']].map((parts) => parts.join(''));
const OUTSIDE_DOC = new RegExp(`\\b(?:${TEAM_DOCS.join('|')})\\.md\\b|\\b${TEAM_DOCS[0]}\\b`);
const SHARED_DIR = ['..', 'shared'].join('/');
const ABSOLUTE_WORK = new RegExp('(?<![\\w.~-])/' + 'work/');
/** The one file allowed to name the team's shared folder: it compares the shipped contract with it where it exists. */
const SHARED_ALLOWED = new Set(['test/payload/contract-copy.test.ts']);

test('nothing in the repository names a document or a path outside it', () => {
  const files = [
    ...['src', 'test', 'bench', 'scripts', 'docs', 'examples'].flatMap(filesUnder),
    ...['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md'].map((f) => join(ROOT, f)).filter((f) => textOrNull(f) !== null),
  ];
  assert.ok(files.length > 100, `only ${files.length} files scanned`);
  const problems: string[] = [];
  for (const file of files) {
    const text = textOf(file);
    if (text === null) continue;
    const name = rel(file);
    text.split('\n').forEach((line, i) => {
      if (OUTSIDE_DOC.test(line)) problems.push(`${name}:${i + 1}: names a document outside the repository`);
      if (line.includes(SHARED_DIR) && !SHARED_ALLOWED.has(name)) problems.push(`${name}:${i + 1}: names ${SHARED_DIR}`);
      if (ABSOLUTE_WORK.test(line)) problems.push(`${name}:${i + 1}: names an absolute path`);
    });
  }
  assert.deepEqual(problems, []);
});

/** A file's text, or null when it does not exist or is binary. */
function textOrNull(path: string): string | null {
  try {
    return textOf(path);
  } catch {
    return null;
  }
}
