/**
 * The package as users get it (issue 12): `npm pack`, then `npm install <tgz>` in an empty folder; the
 * installed bin answers `--version` and runs `demo` on the samples it ships; `crm-upload` and
 * `crm-upload/livekit` resolve with their types for a TypeScript consumer; publint and
 * @arethetypeswrong/cli find nothing wrong with the tarball. Takes about a minute (pack builds dist/);
 * everything it makes lives in one temporary folder, removed at the end.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
/** The repo's own bins (tsc, publint, attw). */
const BIN = join(ROOT, 'node_modules/.bin');
/**
 * The Node the repository pins, first on PATH: the installed bin runs under the consumer's `node`, and
 * the system's may be too old. Only this folder (it holds nothing but `node`), not the repo's other bins.
 */
const NODE_DIR = join(ROOT, 'node_modules/node/bin');

let work: string;
let consumer: string;
let tarball: string;
let packedFiles: string[];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command in `cwd` with the pinned Node first on PATH and every temporary file kept in `work`. */
function run(command: string, args: string[], cwd: string, timeoutMs = 180_000): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${NODE_DIR}${delimiter}${process.env.PATH ?? ''}`,
    TMPDIR: join(work, 'tmp'),
    NODE_COMPILE_CACHE: join(work, 'compile-cache'),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_logs_max: '0',
  };
  // What `npm run`/`npm test` put in the env of this process must not steer the child npm.
  for (const k of Object.keys(env)) if (k.startsWith('npm_package_') || k === 'npm_lifecycle_event' || k === 'npm_lifecycle_script' || k === 'INIT_CWD') delete env[k];
  for (const k of Object.keys(env)) if (k.startsWith('CRM_')) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

describe('the packed package, installed in an empty folder', { timeout: 600_000 }, () => {
  before(async () => {
    try {
      await setUp();
    } catch (err) {
      // A failed hook only cancels the tests; say why.
      console.error('setting up the packed package failed:', err);
      throw err;
    }
  });

  async function setUp(): Promise<void> {
    work = realpathSync(mkdtempSync(join(tmpdir(), 'crm-upload-pack-')));
    for (const d of ['tmp', 'pack', 'consumer']) mkdirSync(join(work, d));
    consumer = join(work, 'consumer');
    // `prepack` builds dist/ first, so the tarball holds what the sources say now.
    const packed = ok(await run('npm', ['pack', '--json', '--pack-destination', join(work, 'pack')], ROOT), 'npm pack');
    const info = (JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[])[0];
    assert.ok(info, packed.stdout);
    tarball = join(work, 'pack', info.filename);
    packedFiles = info.files.map((f) => f.path);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
    // The npm cache holds the dependencies: no network needed when it is warm.
    ok(await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], consumer), 'npm install <tgz>');
  }

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the tarball holds the built code with its types, the contract and the samples; no sources or tests', () => {
    for (const f of ['dist/cli/main.js', 'dist/index.js', 'dist/index.d.ts', 'dist/integrations/livekit/index.js', 'dist/integrations/livekit/index.d.ts', 'contract/call-data.schema.json', 'package.json']) {
      assert.ok(packedFiles.includes(f), `${f} is packed`);
    }
    const samples = packedFiles.filter((f) => f.startsWith('samples/'));
    const inRepo = (dir: string): string[] => readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(ROOT.length));
    assert.deepEqual(samples.sort(), inRepo('samples').sort(), 'every sample file ships');
    assert.deepEqual(packedFiles.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('bench/') || f.startsWith('node_modules/')), []);
  });

  test('npx crm-upload --version prints the package version', async () => {
    const r = ok(await run('npx', ['--no', '--', 'crm-upload', '--version'], consumer), 'npx crm-upload --version');
    assert.equal(r.stdout, `${PKG.version}\n`);
  });

  test('npx crm-upload demo delivers the shipped samples to a local CRM', async () => {
    const r = ok(await run('npx', ['--no', '--', 'crm-upload', 'demo', '--no-progress'], consumer), 'npx crm-upload demo');
    const m = /success (\d+) · failed 0 · skipped 0 · pending 0 · dead 0 · total (\d+)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.ok(Number(m[1]) > 0 && m[1] === m[2], r.stderr);
    assert.match(r.stderr, new RegExp(`the CRM now holds ${m[1]} call\\(s\\)`));
    assert.deepEqual(readdirSync(join(work, 'tmp')).filter((f) => f.startsWith('crm-upload-demo-')), [], 'the demo removed its folder');
  });

  test("import { bulkUploadFromDirectory } from 'crm-upload' and { attachCrmUpload } from 'crm-upload/livekit' resolve with their types", async () => {
    writeFileSync(
      join(consumer, 'consumer.ts'),
      [
        "import { bulkUploadFromDirectory } from 'crm-upload';",
        "import { attachCrmUpload } from 'crm-upload/livekit';",
        '',
        'type Summary = Awaited<ReturnType<typeof bulkUploadFromDirectory>>;',
        'export const success = (s: Summary): number => s.success + s.pending;',
        'export const attach: typeof attachCrmUpload = attachCrmUpload;',
        '// Real types, not any: a folder is a string, and a summary has no field "nope".',
        '// @ts-expect-error',
        'bulkUploadFromDirectory(42, { config: {} as never });',
        '// @ts-expect-error',
        'export const nope = (s: Summary) => s.nope;',
        '',
      ].join('\n'),
    );
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2024', '--typeRoots', join(ROOT, 'node_modules/@types'), '--types', 'node', 'consumer.ts'];
    ok(await run(join(BIN, 'tsc'), args, consumer), 'tsc on the consumer');
    // Resolved at run time too, by the consumer's Node.
    const r = ok(await run('node', ['--input-type=module', '-e', "const a = await import('crm-upload'); const b = await import('crm-upload/livekit'); console.log(typeof a.bulkUploadFromDirectory, typeof b.attachCrmUpload)"], consumer), 'import at run time');
    assert.equal(r.stdout, 'function function\n');
  });

  test('publint finds nothing to report in the tarball (warnings count as errors)', async () => {
    const r = ok(await run(join(BIN, 'publint'), ['run', tarball, '--strict'], ROOT), 'publint');
    assert.match(r.stdout, /All good!/);
  });

  test('@arethetypeswrong/cli finds no problem for an ESM-only package', async () => {
    ok(await run(join(BIN, 'attw'), [tarball, '--profile', 'esm-only'], ROOT), 'attw');
  });
});
