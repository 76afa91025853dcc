#!/usr/bin/env node
/**
 * The `crm-upload` command line: one file per command under `src/cli/`, each a thin layer over the
 * library. Output for people goes to stderr; `--json` and `--dry-run` output goes to stdout.
 */
import { Command, CommanderError } from 'commander';
import { EXIT, say } from './context.ts';
import { commands } from './commands.ts';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  say(`crm-upload needs Node.js 22.13 or newer (node:sqlite); this is ${process.versions.node}.`);
  process.exit(EXIT.USAGE);
}

/** Build the program with every command registered. */
export function buildProgram(): Command {
  const program = new Command('crm-upload')
    .description('Deliver every voice-agent call to the CRM exactly once, through a durable outbox.')
    .option('--verbose', 'debug logs and stack traces')
    .option('--show-pii', 'do not mask phone numbers and emails in logs')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stderr.write(s), writeErr: (s) => process.stderr.write(s) });
  for (const register of commands) register(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else {
    say(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = EXIT.FAILED;
  }
}
