/**
 * The `crm-upload` program: every command registered, each from its own file under `src/cli/`.
 */
import { Command, CommanderError } from 'commander';
import { EXIT, say } from './context.ts';
import { commands } from './commands.ts';

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

/** Run the CLI on `argv`; sets `process.exitCode` (0 ok, 1 failed, 2 usage). */
export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    } else {
      say(`error: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = EXIT.FAILED;
    }
  }
}
