/**
 * The `crm-upload` program: every command registered, each from its own file under `src/cli/`.
 */
import { Command, CommanderError } from 'commander';
import { applyLogOptions, CliExit, EXIT, say, type GlobalOptions } from './context.ts';
import { commands } from './commands.ts';

/** Build the program with every command registered. */
export function buildProgram(): Command {
  const program = new Command('crm-upload')
    .description('Deliver every voice-agent call to the CRM exactly once, through a durable outbox.')
    .option('--verbose', 'debug logs and stack traces')
    .option('--show-pii', 'do not mask phone numbers and emails in logs')
    .option('--log-level <level>', 'trace, debug, info, warn, error or silent (LOG_LEVEL; default info with JSON logs, else warn)')
    .option('--log-format <format>', 'auto (JSON when stderr is the systemd journal), json or text (CRM_LOG_FORMAT)')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stderr.write(s), writeErr: (s) => process.stderr.write(s) });
  // Before any command runs, so that its first message is already in the right format.
  program.hook('preAction', (_program, action) => {
    try {
      applyLogOptions(action.optsWithGlobals<GlobalOptions>());
    } catch (err) {
      if (!(err instanceof CliExit)) throw err;
      say(err.message);
      throw new CommanderError(err.exitCode, 'crm-upload.logOptions', err.message);
    }
  });
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
