/**
 * Debian's chromium for the browser tests (CONTRIBUTING.md, "Tests"), driven by playwright-core: nothing downloads
 * a browser of its own. Where chromium is missing the tests skip with the reason and the fix — except
 * on CI (`CI=true`), where `.ci/run` installs it and a missing one must fail.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless chromium in a container or CI: no sandbox, GPU or first-run work (a fresh profile is given by `launchBrowser`). */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/** Why the browser tests are skipped here, or undefined when they run (always on CI). */
export function chromiumSkipReason(): string | undefined {
  if (existsSync(CHROMIUM) || process.env.CI === 'true') return undefined;
  return `chromium not found at ${CHROMIUM} — apt-get install chromium`;
}

/** A running browser with a fresh profile; `close()` removes the profile. */
export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Launch chromium headless with a fresh `--user-data-dir` (a persistent context is how playwright takes
 * one). `hostRules` are `--host-resolver-rules` (e.g. `MAP evil.test 127.0.0.1`), to reach a local
 * server under a foreign name as a DNS-rebinding page would.
 */
export async function launchBrowser(options: { hostRules?: string } = {}): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`CI=true and chromium is missing at ${CHROMIUM}: .ci/run installs it (apt-get install -y chromium)`);
  const profile = mkdtempSync(join(tmpdir(), 'crm-chromium-'));
  const args = [...CHROMIUM_ARGS, ...(options.hostRules ? [`--host-resolver-rules=${options.hostRules}`] : [])];
  try {
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args, viewport: { width: 1200, height: 900 } });
    return {
      context,
      close: async () => {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}

/** The folder a test's output (screenshots) goes to: `$TEST_OUTPUT_DIR`, else a fresh temporary one. */
export function testOutputDir(name: string): string {
  const base = process.env.TEST_OUTPUT_DIR;
  if (base !== undefined && base !== '') {
    mkdirSync(base, { recursive: true });
    return mkdtempSync(join(base, `${name}-`));
  }
  return mkdtempSync(join(tmpdir(), `crm-upload-${name}-`));
}
