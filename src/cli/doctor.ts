/**
 * `crm-upload doctor [--json]`: check the configuration, the CRM, the outbox, the folders and the
 * tokens, one line per check (✓, ! to change, ✗ with the fix, - not applicable) on stdout, or one JSON
 * object with `--json`. Exit 0 when nothing failed, 1 when a check failed, 2 for a usage error.
 */
import type { Command } from 'commander';
import { readEnv, userCwd } from '../config/config.ts';
import { doctorExitCode, doctorJson, formatCheck } from '../doctor/check.ts';
import { runDoctor } from '../doctor/run-doctor.ts';
import { out, runAction, type GlobalOptions } from './context.ts';

/** Register the `doctor` command. */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the configuration, the CRM, the outbox, the folders and the tokens; each problem with its fix')
    .option('--json', 'print the checks as one JSON object on stdout')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const cwd = userCwd();
        const results = await runDoctor({ vars: readEnv({ cwd }), cwd });
        if (flags.json) out(JSON.stringify(doctorJson(results)));
        else for (const r of results) out(formatCheck(r));
        return doctorExitCode(results);
      });
    });
}
