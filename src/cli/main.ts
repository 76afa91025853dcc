#!/usr/bin/env node
/**
 * The `crm-upload` bin. It only checks the runtime, sets the heap policy of its command and turns on
 * Node's compile cache before loading the program, so that an old Node gets a clear message (not a
 * failed import) and each start after the first skips recompiling (and, from source, re-stripping the
 * types of) some 700 modules.
 */
import module from 'node:module';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  // Every line ends with a newline, so that the shell prompt starts on its own line after it.
  process.stderr.write(
    `crm-upload needs Node.js 22.13 or newer (it keeps its outbox with node:sqlite); this is Node.js ${process.versions.node}.\n` +
      'Install Node.js 22.13+ (24 LTS recommended: https://nodejs.org, or `nvm install 24`), then run crm-upload again.\n' +
      'In a clone of the repository, `npm install` fetches the Node.js it pins: run `npm run crm-upload -- <command>` there.\n',
  );
  process.exit(2);
}
// Before anything else is loaded: a bulk run keeps a small heap (docs/architecture.md, "Throughput" → "Bulk memory").
const { useHeapPolicyOf } = await import('./heap-policy.ts');
useHeapPolicyOf(process.argv);
module.enableCompileCache?.();

const { runCli } = await import('./program.ts');
await runCli(process.argv);
