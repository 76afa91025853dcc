/**
 * The layers of src/ (docs/architecture.md, "Composition root"): which folder may import which. Every
 * import under src/ (static, re-export, dynamic) is read and resolved to the folder it lands in; a rule
 * broken names the file and the import, so the layering holds as the code changes.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');

/** Folders under src/ that a folder must not import from. */
const FORBIDDEN: Record<string, readonly string[]> = {
  outbox: ['worker', 'crm', 'delivery', 'api', 'cli'],
  metrics: ['dashboard'],
  serve: ['dashboard'],
  crm: ['outbox', 'worker'],
  payload: ['outbox', 'crm', 'worker'],
  ingest: ['match', 'payload', 'outbox'],
  pacing: ['worker', 'outbox', 'crm'],
};

/** Leaf modules: they import nothing at all (not even node: built-ins). */
const LEAVES = ['policy/retry-policy.ts'];

/** One import of one file. */
interface Import {
  file: string;
  specifier: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every module specifier of a file: `import … from`, `export … from`, `import '…'`, `import('…')`. */
export function specifiersOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of code.matchAll(/^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm)) out.push(m[1] as string);
  for (const m of code.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) out.push(m[1] as string);
  for (const m of code.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1] as string);
  return out;
}

function importsUnderSrc(): Import[] {
  return sourceFiles(SRC).flatMap((file) => specifiersOf(readFileSync(file, 'utf8')).map((specifier) => ({ file, specifier })));
}

/** The top folder under src/ a relative import lands in, or null for a package or a file at src/'s root. */
function folderOf(file: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const target = relative(SRC, resolve(dirname(file), specifier));
  const parts = target.split(sep);
  return parts.length > 1 ? (parts[0] as string) : null;
}

test('the import reader finds static, multi-line, re-export, side-effect and dynamic imports', () => {
  const text = [
    "import { a } from '../outbox/a.ts';",
    'import {',
    '  b,',
    "} from './b.ts';",
    "export { c } from '../crm/c.ts';",
    "export type { D } from '../worker/d.ts';",
    "import '../side.ts';",
    "const { e } = await import('./e.ts');",
    "// import { f } from '../dashboard/f.ts';",
    "const s = 'import x from \"nowhere\"';",
  ].join('\n');
  assert.deepEqual(specifiersOf(text).sort(), ['../crm/c.ts', '../outbox/a.ts', '../side.ts', '../worker/d.ts', './b.ts', './e.ts']);
});

test('no folder of src/ imports from a folder it must not', () => {
  const broken: string[] = [];
  for (const { file, specifier } of importsUnderSrc()) {
    const from = relative(SRC, file).split(sep)[0] as string;
    const to = folderOf(file, specifier);
    if (to !== null && to !== from && FORBIDDEN[from]?.includes(to)) broken.push(`src/${relative(SRC, file).split(sep).join('/')} imports ${specifier} (src/${from} must not import src/${to})`);
  }
  assert.deepEqual(broken, []);
});

test('the retry policy is a leaf: it imports nothing', () => {
  for (const leaf of LEAVES) assert.deepEqual(specifiersOf(readFileSync(join(SRC, leaf), 'utf8')), [], `src/${leaf} imports something`);
});
