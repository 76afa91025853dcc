/**
 * A small parser for Python reprs, enough to read what a MongoDB export keeps of a LiveKit chat item:
 * `id='item_…' type='message' role='assistant' content=['…'] interrupted=False
 * transcript_confidence=0.94 hash=None created_at=1761732980.6023705`.
 *
 * It understands single- and double-quoted strings with Python escapes (and `r`/`b`/`u` prefixes),
 * numbers, `None`/`True`/`False`, bare and dotted names, lists, tuples, dicts and sets, calls such as
 * `AudioContent(frame=[…], transcript='…')`, and `<…>` reprs of objects, so that newer LiveKit
 * versions' content parts do not break it. Anything else is a ReprSyntaxError with the position.
 */

/** A bare or dotted name that is not None/True/False (e.g. `ChatRole.USER`, `inf`). */
export interface PyName {
  kind: 'name';
  name: string;
}
/** A call such as `AudioContent(frame=[], transcript='hi')`. */
export interface PyCall {
  kind: 'call';
  name: string;
  args: PyValue[];
  kwargs: Record<string, PyValue>;
}
/** A dict (or a set, whose entries have null values). */
export interface PyDict {
  kind: 'dict';
  entries: [PyValue, PyValue][];
}
/** A bytes literal (`b'…'`), decoded as Latin-1 text. */
export interface PyBytes {
  kind: 'bytes';
  value: string;
}
/** An object repr in angle brackets, kept as text (`<ChatRole.USER: 'user'>`). */
export interface PyOpaque {
  kind: 'opaque';
  text: string;
}
/** Any value the parser understands. Tuples are read as lists. */
export type PyValue = string | number | boolean | null | PyValue[] | PyName | PyCall | PyDict | PyBytes | PyOpaque;

/** A repr that does not parse; `position` is the 0-based offset of the problem. */
export class ReprSyntaxError extends Error {
  readonly position: number;
  constructor(message: string, position: number) {
    super(`${message} at position ${position}`);
    this.name = 'ReprSyntaxError';
    this.position = position;
  }
}

/** Deep enough for any real repr, shallow enough that hostile nesting cannot overflow the stack. */
const MAX_DEPTH = 200;

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  r: '\r',
  t: '\t',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '\n': '',
};

const NUMBER_RE = /[-+]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?[jJ]?/y;
const NAME_RE = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y;
const PREFIX_RE = /(?:[rRbBuUfF]|[rR][bB]|[bB][rR])(?=['"])/y;
const KEYWORD_RE = /[A-Za-z_][A-Za-z0-9_]*[ \t]*=(?!=)/y;
const HEX_RE = /^[0-9a-fA-F]+$/;

class Parser {
  readonly text: string;
  pos = 0;

  constructor(text: string) {
    this.text = text;
  }

  fail(message: string, at = this.pos): never {
    throw new ReprSyntaxError(message, at);
  }

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  peek(): string {
    return this.text[this.pos] ?? '';
  }

  expect(ch: string): void {
    if (this.text[this.pos] !== ch) this.fail(`expected "${ch}"${this.pos >= this.text.length ? ' but the text ended' : ''}`);
    this.pos++;
  }

  value(depth: number): PyValue {
    if (depth > MAX_DEPTH) this.fail('nested too deeply');
    this.skipSpace();
    const c = this.peek();
    if (c === '') this.fail('expected a value but the text ended');
    if (c === "'" || c === '"') return this.string('');
    if (c === '[') return this.sequence(']', depth);
    if (c === '(') return this.sequence(')', depth);
    if (c === '{') return this.dict(depth);
    if (c === '<') return this.opaque();
    NUMBER_RE.lastIndex = this.pos;
    const num = NUMBER_RE.exec(this.text);
    if (num && num[0] !== '' && !/^[-+]$/.test(num[0])) {
      this.pos += num[0].length;
      const digits = num[0].replace(/_/g, '');
      // Complex numbers (`1j`) have no JSON counterpart; keep them as names rather than fail.
      if (/[jJ]$/.test(digits)) return { kind: 'name', name: digits };
      return Number(digits);
    }
    PREFIX_RE.lastIndex = this.pos;
    const prefix = PREFIX_RE.exec(this.text);
    if (prefix) {
      this.pos += prefix[0].length;
      return this.string(prefix[0].toLowerCase());
    }
    if (this.text.startsWith('...', this.pos)) {
      this.pos += 3;
      return { kind: 'name', name: 'Ellipsis' };
    }
    NAME_RE.lastIndex = this.pos;
    const name = NAME_RE.exec(this.text);
    if (!name) this.fail(`unexpected character ${JSON.stringify(c)}`);
    this.pos += name[0].length;
    if (this.peek() === '(') return this.call(name[0], depth);
    if (name[0] === 'None') return null;
    if (name[0] === 'True') return true;
    if (name[0] === 'False') return false;
    return { kind: 'name', name: name[0] };
  }

  string(prefix: string): string | PyBytes {
    const t = this.text;
    const quote = t[this.pos] as string;
    const start = this.pos;
    this.pos++;
    const raw = prefix.includes('r');
    let out = '';
    let chunk = this.pos;
    for (;;) {
      if (this.pos >= t.length) this.fail('unterminated string', start);
      const c = t[this.pos];
      if (c === quote) break;
      if (c === '\n') this.fail('line break inside a string', this.pos);
      if (c !== '\\') {
        this.pos++;
        continue;
      }
      out += t.slice(chunk, this.pos);
      const e = t[this.pos + 1];
      if (e === undefined) this.fail('unterminated string', start);
      if (raw) {
        // Raw strings keep the backslash; it only stops the next quote from closing the string.
        out += `\\${e}`;
        this.pos += 2;
      } else if (SIMPLE_ESCAPES[e] !== undefined) {
        out += SIMPLE_ESCAPES[e];
        this.pos += 2;
      } else if (e === 'x' || e === 'u' || e === 'U') {
        const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = t.slice(this.pos + 2, this.pos + 2 + len);
        if (hex.length !== len || !HEX_RE.test(hex)) this.fail(`bad \\${e} escape`, this.pos);
        const code = Number.parseInt(hex, 16);
        if (code > 0x10ffff) this.fail(`bad \\${e} escape`, this.pos);
        out += String.fromCodePoint(code);
        this.pos += 2 + len;
      } else if (e >= '0' && e <= '7') {
        const oct = /^[0-7]{1,3}/.exec(t.slice(this.pos + 1, this.pos + 4))?.[0] ?? e;
        out += String.fromCharCode(Number.parseInt(oct, 8));
        this.pos += 1 + oct.length;
      } else if (e === 'N' && t[this.pos + 2] === '{') {
        // Unicode names need a table we do not ship; keep the escape as written.
        const end = t.indexOf('}', this.pos);
        if (end < 0) this.fail('bad \\N escape', this.pos);
        out += t.slice(this.pos, end + 1);
        this.pos = end + 1;
      } else {
        // Python keeps unknown escapes as written (`'\d'` is backslash + d).
        out += `\\${e}`;
        this.pos += 2;
      }
      chunk = this.pos;
    }
    out += t.slice(chunk, this.pos);
    this.pos++;
    return prefix.includes('b') ? { kind: 'bytes', value: out } : out;
  }

  sequence(close: string, depth: number): PyValue[] {
    this.pos++;
    const items: PyValue[] = [];
    for (;;) {
      this.skipSpace();
      if (this.peek() === close) {
        this.pos++;
        return items;
      }
      items.push(this.value(depth + 1));
      this.skipSpace();
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== close) this.fail(`expected "," or "${close}"${this.pos >= this.text.length ? ' but the text ended' : ''}`);
    }
  }

  dict(depth: number): PyDict {
    this.pos++;
    const entries: [PyValue, PyValue][] = [];
    for (;;) {
      this.skipSpace();
      if (this.peek() === '}') {
        this.pos++;
        return { kind: 'dict', entries };
      }
      const key = this.value(depth + 1);
      this.skipSpace();
      let val: PyValue = null;
      if (this.peek() === ':') {
        this.pos++;
        val = this.value(depth + 1);
        this.skipSpace();
      }
      entries.push([key, val]);
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== '}') this.fail(`expected "," or "}"${this.pos >= this.text.length ? ' but the text ended' : ''}`);
    }
  }

  /** `<…>` up to the matching `>`, skipping quoted text inside. */
  opaque(): PyOpaque {
    const start = this.pos;
    let depth = 0;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c === "'" || c === '"') {
        this.string('');
        continue;
      }
      this.pos++;
      if (c === '<') depth++;
      else if (c === '>' && --depth === 0) return { kind: 'opaque', text: this.text.slice(start, this.pos) };
    }
    return this.fail('unterminated <…>', start);
  }

  call(name: string, depth: number): PyCall {
    this.pos++;
    const args: PyValue[] = [];
    const kwargs: Record<string, PyValue> = {};
    for (;;) {
      this.skipSpace();
      if (this.peek() === ')') {
        this.pos++;
        return { kind: 'call', name, args, kwargs };
      }
      const kw = this.keyword();
      if (kw !== null) kwargs[kw] = this.value(depth + 1);
      else args.push(this.value(depth + 1));
      this.skipSpace();
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== ')') this.fail(`expected "," or ")"${this.pos >= this.text.length ? ' but the text ended' : ''}`);
    }
  }

  /** `name=` (not `==`) at the current position: consumes it and returns the name, else null. */
  keyword(): string | null {
    KEYWORD_RE.lastIndex = this.pos;
    const found = KEYWORD_RE.exec(this.text);
    if (!found) return null;
    this.pos += found[0].length;
    return found[0].slice(0, found[0].search(/[ \t=]/));
  }
}

/** Parse one Python value (`['a', 'b']`, `None`, `ChatMessage(role='user')`). */
export function parsePyValue(text: string): PyValue {
  const p = new Parser(text);
  const v = p.value(0);
  p.skipSpace();
  if (p.pos < text.length) p.fail('unexpected text after the value');
  return v;
}

/**
 * Parse the `key=value key=value …` repr of a pydantic model (what `str(item)` gives), or a full
 * `Name(key=value, …)` repr; returns the fields by name. Separators may be spaces or commas.
 */
export function parseReprFields(text: string): Record<string, PyValue> {
  const p = new Parser(text);
  p.skipSpace();
  const head = /[A-Za-z_][A-Za-z0-9_.]*\(/y;
  head.lastIndex = p.pos;
  if (head.exec(text)) {
    const v = p.value(0);
    p.skipSpace();
    if (p.pos >= text.length && typeof v === 'object' && v !== null && !Array.isArray(v) && v.kind === 'call') return v.kwargs;
    p.pos = 0;
  }
  const fields: Record<string, PyValue> = {};
  for (;;) {
    p.skipSpace();
    while (p.peek() === ',') {
      p.pos++;
      p.skipSpace();
    }
    if (p.pos >= text.length) return fields;
    const key = p.keyword();
    if (key === null) return p.fail('expected name=value');
    fields[key] = p.value(0);
  }
}
