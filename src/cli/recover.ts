/**
 * `crm-upload recover [dir] [--force] [--json]`: finalise the journals (`livekit_*.jsonl.partial`)
 * that LiveKit calls left when their process died: each becomes its session file and its call is
 * enqueued (once: running it again enqueues nothing), for `worker` to deliver. A journal whose
 * process still runs is a call going on, and is left alone unless `--force`.
 */
import type { Command } from 'commander';
import { recoverPartials, type RecoverResult } from '../integrations/livekit/recover-partials.ts';
import { maskText } from '../log/mask.ts';
import { cliLogger, configFrom, EXIT, out, runAction, say, type GlobalOptions } from './context.ts';

interface RecoverFlags {
  force?: boolean;
  json?: boolean;
}

/** The `--json` form of `recover`. */
export interface RecoverJson {
  recovered: number;
  live: number;
  failed: number;
  results: RecoverResult[];
}

/** The counts and results as `recover --json` prints them. */
export function recoverJson(results: RecoverResult[]): RecoverJson {
  const count = (status: RecoverResult['status']) => results.filter((r) => r.status === status).length;
  return { recovered: count('recovered'), live: count('live'), failed: count('failed'), results };
}

/** Register the `recover` command. */
export function registerRecover(program: Command): void {
  program
    .command('recover')
    .description('finalise and enqueue the journals of LiveKit calls whose process died (.partial files)')
    .argument('[dir]', 'folder of the journals (CRM_CONVERSATIONS_DIR, else conversations)')
    .option('--force', 'finalise journals whose process seems to run too')
    .option('--json', 'print the results as one JSON object on stdout')
    .action(async (dir: string | undefined, flags: RecoverFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const config = configFrom();
        const show = (text: string) => (globals.showPii ? text : maskText(text));
        const results = await recoverPartials(dir, { config, logger: cliLogger(globals), force: flags.force === true });
        for (const r of results) {
          if (r.status === 'recovered') {
            say(`recovered ${r.journal} → ${r.callId ?? '?'} (${r.enqueued ? 'enqueued' : `already in the outbox: ${r.state ?? '?'}`})`);
          } else if (r.status === 'live') {
            say(`live ${r.journal}: its call is still going on (--force to finalise it anyway)`);
          } else {
            say(`failed ${r.journal}: ${show(r.error?.message ?? 'unknown error')}`);
          }
        }
        const summary = recoverJson(results);
        say(`recover: ${summary.recovered} recovered · ${summary.live} live · ${summary.failed} failed${summary.recovered > 0 ? ' · `crm-upload worker` delivers them' : ''}`);
        if (flags.json) out(JSON.stringify(summary));
        if (results.some((r) => r.error?.code === 'E_CONFIG')) return EXIT.USAGE;
        return summary.failed > 0 ? EXIT.FAILED : EXIT.OK;
      });
    });
}
