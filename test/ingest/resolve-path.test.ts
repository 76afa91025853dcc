import { realpathSync } from 'node:fs';
/**
 * Manifest paths resolve by base name inside the configured folders only; a symbolic link pointing
 * outside them is refused (created at run time: git symlinks are fragile).
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inspectInputFile } from '../../src/ingest/inspect-file.ts';
import { readInputFile } from '../../src/ingest/read-file.ts';
import { FolderResolver, isInsideFolders, resolveInside, resolveManifestFiles } from '../../src/ingest/resolve-path.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

const MANIFEST = join(FIXTURES, 'call_metadata/metadata_session_20251029_135057_99509edf.json');
const CONVERSATION = 'transcript_session_68ff5c0f015c_68ff5b90015c_session17617458.json';
const RECORDING = 'number-_919999900001-1761745857.ogg';
const ctx = { sourceTimezone: 'Asia/Kolkata' };

describe('resolveInside', () => {
  let root = '';
  let inside = '';
  let outside = '';
  before(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'crm-resolve-')));
    inside = join(root, 'data');
    outside = join(root, 'elsewhere');
    await mkdir(join(inside, 'conversations', 'deep', 'deeper'), { recursive: true });
    await mkdir(join(inside, 'recordings'), { recursive: true });
    await mkdir(outside, { recursive: true });
    await copyFile(join(FIXTURES, 'conversations/mongo-export', CONVERSATION), join(inside, 'conversations', 'deep', 'deeper', CONVERSATION));
    await copyFile(join(FIXTURES, 'recordings', RECORDING), join(inside, 'recordings', RECORDING));
    await writeFile(join(outside, 'secret.json'), '{"items": []}');
    await symlink(join(outside, 'secret.json'), join(inside, 'conversations', 'secret.json'));
    await symlink(outside, join(inside, 'conversations', 'linked-dir'));
    await symlink(join(inside, 'recordings', RECORDING), join(inside, 'conversations', 'alias.ogg'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('finds a file by base name, recursively, whatever folder the manifest named', async () => {
    const found = await resolveInside(`/srv/voicebot/conversations/${CONVERSATION}`, [join(inside, 'conversations')]);
    assert.equal(found, join(inside, 'conversations', 'deep', 'deeper', CONVERSATION));
    assert.equal(await resolveInside(`C:\\voicebot\\recordings\\${RECORDING}`, [inside]), join(inside, 'recordings', RECORDING));
  });

  it('never looks outside the folders: the manifest path itself is not read', async () => {
    assert.equal(await resolveInside(join(outside, 'secret.json'), [join(inside, 'recordings')]), null);
    assert.equal(await resolveInside('/etc/passwd', [inside]), null);
    assert.equal(await resolveInside('/srv/x/..', [inside]), null);
    assert.equal(await resolveInside('', [inside]), null);
  });

  it('refuses a symbolic link whose target is outside every folder', async () => {
    assert.equal(await resolveInside('/srv/voicebot/conversations/secret.json', [inside]), null);
    const located = await new FolderResolver([inside]).locate('/srv/voicebot/conversations/secret.json');
    assert.equal(located.status, 'outside');
    // …and accepts it when its target is inside a configured folder too.
    assert.equal(await resolveInside('/x/secret.json', [inside, outside]), join(outside, 'secret.json'));
  });

  it('does not follow a symbolic link to a folder', async () => {
    // `linked-dir` points at `outside`, which holds secret.json; the walk must not enter it.
    const resolver = new FolderResolver([join(inside, 'conversations')]);
    const located = await resolver.locate('secret.json');
    assert.equal(located.status, 'outside'); // only the file link is seen, and refused
  });

  it('a link to a file inside resolves to its real path', async () => {
    assert.equal(await resolveInside('alias.ogg', [inside]), join(inside, 'recordings', RECORDING));
  });

  it('isInsideFolders compares whole path segments', () => {
    assert.equal(isInsideFolders('/data/a.json', ['/data']), true);
    assert.equal(isInsideFolders('/data', ['/data']), true);
    assert.equal(isInsideFolders('/data-other/a.json', ['/data']), false);
  });

  it('the manifest fixture resolves its recording and conversation; its lead is null', async () => {
    const result = await readInputFile(MANIFEST, ctx);
    assert.ok(result.kind === 'manifest');
    const { manifest, problems, notes } = await resolveManifestFiles(result.manifest, new FolderResolver([inside]));
    assert.deepEqual(problems, []);
    assert.deepEqual(notes, []);
    assert.deepEqual(manifest.files, {
      conversation: join(inside, 'conversations', 'deep', 'deeper', CONVERSATION),
      recording: join(inside, 'recordings', RECORDING),
      lead: null,
    });
    assert.equal(manifest.rawFiles?.conversation, `/srv/voicebot/conversations/${CONVERSATION}`);
  });

  it('the manifest fixture against the shared fixtures folder', async () => {
    const report = await inspectInputFile(MANIFEST, ctx, new FolderResolver([FIXTURES]));
    assert.equal(report.ok, true);
    assert.ok(report.result?.kind === 'manifest');
    assert.equal(report.result.manifest.files.recording, join(FIXTURES, 'recordings', RECORDING));
  });

  it('a manifest whose conversation is a link to outside is refused; a missing recording is only a note', async () => {
    const file = join(inside, 'metadata_session_x.json');
    await writeFile(
      file,
      JSON.stringify({
        session_id: 'session_x',
        files: { conversation: '/srv/voicebot/conversations/secret.json', recording: '/srv/rec/number-_1-1.ogg', lead: null },
        timestamps: { call_start: '2025-10-29T13:50:57Z', call_end: '2025-10-29T13:51:29Z' },
      }),
    );
    const report = await inspectInputFile(file, ctx, new FolderResolver([inside]));
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.problems.map((p) => [p.field, p.code]),
      [['files.conversation', 'E_INPUT_OUTSIDE']],
    );
    assert.match(report.problems[0]?.message ?? '', /outside the configured folders/);
    assert.deepEqual(report.notes, ['files.recording number-_1-1.ogg not found (searched ' + inside + ')']);
  });
});
