/**
 * `crm-upload local-crm`: the local CRM server with fault injection, until SIGINT or SIGTERM. A test
 * server (no authentication, calls kept in memory): it binds loopback unless `--host` says otherwise, and
 * says so in its help and its start line.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { userCwd } from '../config/config.ts';
import { FaultSettingError, type LocalCrmOptions } from '../local-crm/options.ts';
import { parseStrangeAnswerFlag, STRANGE_ANSWER_KINDS } from '../local-crm/strange-answers.ts';
import { CliExit, EXIT, runAction, say, type GlobalOptions } from './context.ts';

interface LocalCrmFlags {
  host?: string;
  port?: string;
  latencyMs?: string;
  failRate?: string;
  hangRate?: string;
  resetRate?: string;
  rateLimitPerMin?: string;
  rateLimitWindowMs?: string;
  dataDir?: string;
  seed?: string;
  strangeAnswer?: string[];
  ignoreIdempotency?: boolean;
  lostAnswerRate?: string;
}

/** Register the `local-crm` command. */
export function registerLocalCrm(program: Command): void {
  program
    .command('local-crm')
    .description('run a local TEST CRM (call-data, upload, list) with fault injection, for tests and demos; not a real CRM: no authentication, calls kept in memory; admin routes under /__admin')
    .option('--host <host>', 'address to bind (loopback unless you mean it: anyone who reaches it reads every call)', '127.0.0.1')
    .option('--port <n>', 'port to listen on; 0 picks a free one', '0')
    .option('--latency-ms <n>', 'delay before every answer')
    .option('--fail-rate <r>', 'share (0-1) of requests answered 500/502/503')
    .option('--hang-rate <r>', 'share (0-1) of requests never answered')
    .option('--reset-rate <r>', 'share (0-1) of requests whose connection is reset')
    .option('--rate-limit-per-min <n>', 'requests allowed per minute (0 = no limit)')
    .option('--rate-limit-window-ms <n>', 'sliding window of the rate limit', '60000')
    .option('--ignore-idempotency', 'store every call-data POST as a new call (no replay, no 409), as a CRM that ignores Idempotency-Key')
    .option('--lost-answer-rate <r>', 'share (0-1) of call-data POSTs stored and then answered by a cut connection')
    .option('--data-dir <dir>', 'keep calls and recordings as files in this folder')
    .option('--seed <n>', 'seed of the fault PRNG, for reproducible faults')
    .option(
      '--strange-answer <kind[:count][@upload]>',
      `answer call-data POSTs (or uploads) strangely: ${STRANGE_ANSWER_KINDS.join(', ')}; repeatable`,
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .action(async (flags: LocalCrmFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const options = parseFlags(flags);
        let crm;
        try {
          // Loaded here, not at the top: every other command would load the HTTP stack for nothing.
          const { startLocalCrm } = await import('../local-crm/server.ts');
          crm = await startLocalCrm(options);
        } catch (err) {
          if (err instanceof FaultSettingError) throw new CliExit(EXIT.USAGE, `error: ${err.message}`);
          throw err;
        }
        say(`listening on ${crm.url} (a test server: no authentication, not a real CRM)`);
        await new Promise<void>((done) => {
          process.once('SIGINT', () => done());
          process.once('SIGTERM', () => done());
        });
        await crm.close();
        return EXIT.OK;
      });
    });
}

/** Turn the flags into options; a bad value exits 2 naming its flag. */
function parseFlags(flags: LocalCrmFlags): LocalCrmOptions {
  const whole = (flag: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new CliExit(EXIT.USAGE, `error: ${flag} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, got "${value}"`);
    }
    return n;
  };
  const rate = (flag: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new CliExit(EXIT.USAGE, `error: ${flag} must be a number from 0 to 1, got "${value}"`);
    return n;
  };
  const options: LocalCrmOptions = {
    host: flags.host?.trim() || '127.0.0.1',
    port: whole('--port', flags.port, 0, 65535),
    latencyMs: whole('--latency-ms', flags.latencyMs, 0),
    failRate: rate('--fail-rate', flags.failRate),
    hangRate: rate('--hang-rate', flags.hangRate),
    resetRate: rate('--reset-rate', flags.resetRate),
    rateLimitPerMin: whole('--rate-limit-per-min', flags.rateLimitPerMin, 0),
    rateLimitWindowMs: whole('--rate-limit-window-ms', flags.rateLimitWindowMs, 1),
    seed: whole('--seed', flags.seed, 0, 2 ** 32 - 1),
    ignoreIdempotency: flags.ignoreIdempotency === true ? true : undefined,
    lostAnswerRate: rate('--lost-answer-rate', flags.lostAnswerRate),
    dataDir: flags.dataDir === undefined ? undefined : resolve(userCwd(), flags.dataDir),
    strangeAnswer: (flags.strangeAnswer ?? []).map((spec) => {
      try {
        return parseStrangeAnswerFlag(spec);
      } catch (err) {
        throw new CliExit(EXIT.USAGE, `error: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  };
  if ((options.failRate ?? 0) + (options.hangRate ?? 0) + (options.resetRate ?? 0) > 1) {
    throw new CliExit(EXIT.USAGE, 'error: --fail-rate + --hang-rate + --reset-rate must not exceed 1');
  }
  return options;
}
