/**
 * Debian's command-line tools some tests drive: opus-tools (`opusenc`, `opusinfo`) and sox make real
 * recordings at test time, prometheus brings `promtool` to check `/metrics`. Where one is missing the
 * tests skip with the reason and the fix — except on CI (`CI=true`), where `.ci/run` installs them and a
 * missing one must fail (the test then fails when it runs the tool).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian package of each tool, for the skip message. */
const PACKAGE_OF: Record<string, string> = { opusenc: 'opus-tools', opusinfo: 'opus-tools', sox: 'sox', soxi: 'sox', promtool: 'prometheus' };

/** Whether `name` is an executable on the PATH. */
export function hasTool(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, name)));
}

/** Why tests needing `tools` are skipped here, or undefined when they run (always on CI). */
export function toolsSkipReason(...tools: string[]): string | undefined {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0 || process.env.CI === 'true') return undefined;
  const packages = [...new Set(missing.map((t) => PACKAGE_OF[t] ?? t))];
  return `${missing.join(', ')} not found — apt-get install ${packages.join(' ')}`;
}

/** What a finished tool run gave. */
export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a tool (no shell), feeding `input` on stdin when given; resolves once it exits. */
export function runTool(command: string, args: readonly string[], input?: string | Uint8Array): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {
      // A tool that exits before reading all of stdin: its exit code and stderr tell what happened.
    });
    child.stdin.end(input);
  });
}

/** Run a shell pipeline (`bash -c`, pipefail), failing with its stderr when any part exits non-zero. */
export async function runPipeline(script: string): Promise<string> {
  const run = await runTool('bash', ['-c', `set -eo pipefail; ${script}`]);
  if (run.code !== 0) throw new Error(`${script} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}
