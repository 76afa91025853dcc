/**
 * `crm-upload watch <conversations-dir> [--leads D] [--recordings D] [--manifests D]`: enqueue each new
 * call as its files appear and deliver continuously, until SIGINT/SIGTERM: then the requests in flight
 * finish, the leases still held are released, and it exits 130/143 (src/cli/interrupt.ts). It replaces
 * the cron job that ran the old module.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { watchFolders } from '../api/watch-folders.ts';
import { parseDuration } from '../config/duration.ts';
import { maskText } from '../log/mask.ts';
import { interruptExitCode, interruptedLine, onInterrupt, sayInterrupt } from './interrupt.ts';
import { CliExit, cliLogger, configFrom, EXIT, runAction, say, type GlobalOptions } from './context.ts';

interface WatchFlags {
  leads?: string;
  recordings?: string;
  manifests?: string;
  poll?: string;
  recordingGrace?: string;
}

function durationFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === null) throw new CliExit(EXIT.USAGE, `error: ${flag} must be a duration such as 2s, got "${value}"`);
  return ms;
}

/** Register the `watch` command. */
export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description('enqueue each new call as its files appear and deliver continuously, until SIGINT/SIGTERM')
    .argument('<conversations-dir>', 'folder of conversation files (walked recursively)')
    .option('--leads <dir>', 'folder of lead files (CRM_LEADS_DIR)')
    .option('--recordings <dir>', 'folder of recordings (CRM_RECORDINGS_DIR)')
    .option('--manifests <dir>', 'folder of call manifests (CRM_MANIFESTS_DIR)')
    .option('--poll <duration>', 'rescan period', '2s')
    .option('--recording-grace <duration>', 'how long a call waits for its recording to appear', '15s')
    .action(async (dir: string, flags: WatchFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const pollMs = durationFlag(flags.poll, '--poll');
        const recordingGraceMs = durationFlag(flags.recordingGrace, '--recording-grace');
        const config = configFrom({ CRM_LEADS_DIR: flags.leads, CRM_RECORDINGS_DIR: flags.recordings, CRM_MANIFESTS_DIR: flags.manifests });
        const show = (t: string) => (globals.showPii ? t : maskText(t));
        const seen = { queued: 0, delivered: 0, dead: 0 };
        // Kept until the process ends, so that a second Ctrl-C during the stop exits at once.
        const interrupt = onInterrupt({ onSignal: sayInterrupt(say) });
        const handle = await watchFolders({
          config,
          conversationsDir: resolve(config.cwd, dir),
          pollMs,
          recordingGraceMs,
          logger: cliLogger(globals),
          onEnqueued: (e) => {
            if (e.enqueued) seen.queued += 1;
            say(`${e.enqueued ? 'queued' : 'already queued'} ${e.callId} from ${e.file}${e.recording ? ' with recording' : ''}`);
          },
          onError: (e) => say(`failed ${e.file}: ${show(e.reason)}`),
          onSettled: (s) => {
            if (s.kind === 'delivered') seen.delivered += 1;
            else if (s.kind === 'dead') seen.dead += 1;
          },
        });
        say(`watching ${resolve(config.cwd, dir)} (Ctrl-C to stop)`);
        if (!interrupt.signal.aborted) {
          await new Promise<void>((resolveStop) => interrupt.signal.addEventListener('abort', () => resolveStop(), { once: true }));
        }
        await handle.stop();
        say(`watch: queued ${seen.queued} · delivered ${seen.delivered} · dead ${seen.dead}`);
        const received = interrupt.received ?? 'SIGINT';
        say(interruptedLine(received));
        return interruptExitCode(received);
      });
    });
}
