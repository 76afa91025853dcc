/**
 * The `crm-upload` program: every command registered, each from its own file under `src/cli/`.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { exitQuietlyOnClosedPipe } from './closed-pipe.ts';
import { applyLogOptions, CliExit, EXIT, out, say, type GlobalOptions } from './context.ts';
import { commands } from './commands.ts';

/** The package's version, read from its package.json (two levels up from src/cli and from dist/cli). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

/** Build the program with every command registered. */
export function buildProgram(): Command {
  const program = new Command('crm-upload')
    .description('Deliver every voice-agent call to the CRM exactly once, through a durable outbox.')
    .option('--verbose', 'debug logs and stack traces')
    .option('--show-pii', 'do not mask phone numbers and emails in logs')
    .option('--log-level <level>', 'trace, debug, info, warn, error or silent (LOG_LEVEL; default info with JSON logs, else warn)')
    .option('--log-format <format>', 'auto (JSON lines when stderr is not a terminal), json or text (CRM_LOG_FORMAT)')
    // Not commander's .version(): that prints through writeOut, which goes to stderr here (help is for
    // people), while a version is output a script reads, on stdout as git, npm and gh print it.
    .option('-V, --version', 'print the version and exit')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stderr.write(s), writeErr: (s) => process.stderr.write(s) });
  program.on('option:version', () => {
    out(packageVersion());
    throw new CommanderError(EXIT.OK, 'crm-upload.version', packageVersion());
  });
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
  exitQuietlyOnClosedPipe();
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
