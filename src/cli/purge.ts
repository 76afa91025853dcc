/**
 * `crm-upload purge [--delivered-older-than AGE] [--dead] [--dry-run] [--json]`: remove delivered calls older
 * than AGE (default `CRM_RETENTION`) with their history and the recordings `serve` kept for them, and with
 * `--dead` every dead call too (docs/architecture.md, "Stores" → "Retention"). Pending and in-flight calls are
 * never touched. `--dry-run` only counts. Exit 0, or 2 for a bad age or nothing to purge by.
 */
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.ts';
import { defaultUploadsDir } from '../config/recording-folders.ts';
import { purgeOutbox } from '../retention/purge-outbox.ts';
import { formatRetention } from '../retention/retention-setting.ts';
import { CliExit, configFrom, EXIT, out, runAction, say, type GlobalOptions, withOutbox } from './context.ts';

interface PurgeFlags {
  deliveredOlderThan?: string;
  dead?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** What `purge --json` prints. */
export interface PurgeLine {
  dryRun: boolean;
  /** The age delivered calls had to pass (`7d`), or null when none went by age. */
  deliveredOlderThan: string | null;
  /** Calls delivered before this time went (ISO), or null. */
  deliveredBefore: string | null;
  delivered: number;
  dead: number;
  /** Recordings kept by `serve` deleted (not counted by a dry run). */
  recordings: number;
}

/** Register `purge`. */
export function registerPurge(program: Command): void {
  program
    .command('purge')
    .description('remove delivered calls older than CRM_RETENTION (or --delivered-older-than) and, with --dead, dead ones')
    .option('--delivered-older-than <age>', 'remove calls delivered longer ago than this (7d, 12h; 0: every delivered call); default CRM_RETENTION')
    .option('--dead', 'remove every dead call too (they otherwise stay until replayed)')
    .option('--dry-run', 'count what would be removed, remove nothing')
    .option('--json', 'print the counts as one JSON line on stdout')
    .action(async (flags: PurgeFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        let olderThanMs: number | null;
        if (flags.deliveredOlderThan !== undefined) {
          olderThanMs = parseDuration(flags.deliveredOlderThan);
          if (olderThanMs === null) throw new CliExit(EXIT.USAGE, `error: --delivered-older-than must be a duration such as 7d or 12h, got "${flags.deliveredOlderThan}"`);
        } else {
          olderThanMs = configFrom().retentionMs;
        }
        const dead = flags.dead === true;
        if (olderThanMs === null && !dead) {
          throw new CliExit(EXIT.USAGE, 'error: CRM_RETENTION is off, so nothing goes by age: give --delivered-older-than AGE, or --dead');
        }
        const config = configFrom();
        const result = await withOutbox((store) => purgeOutbox(store, { olderThanMs, dead, dryRun: flags.dryRun === true, uploadsDir: defaultUploadsDir(config) }), config);
        const line: PurgeLine = {
          dryRun: flags.dryRun === true,
          deliveredOlderThan: olderThanMs === null ? null : formatRetention(olderThanMs),
          deliveredBefore: result.deliveredBefore === null ? null : new Date(result.deliveredBefore).toISOString(),
          delivered: result.delivered,
          dead: result.dead,
          recordings: result.recordings,
        };
        if (flags.json) out(JSON.stringify(line));
        const verb = line.dryRun ? 'would remove' : 'removed';
        const age = line.deliveredOlderThan === null ? '' : ` (delivered more than ${line.deliveredOlderThan} ago, before ${line.deliveredBefore})`;
        say(`${verb} ${line.delivered} delivered call${line.delivered === 1 ? '' : 's'}${age}${dead ? `, ${line.dead} dead` : ''}${line.dryRun ? '' : `, ${line.recordings} kept recording${line.recordings === 1 ? '' : 's'}`}`);
        return EXIT.OK;
      });
    });
}
