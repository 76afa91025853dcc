/**
 * `crm-upload backup FILE` and `crm-upload restore FILE [--force]` (README, "Backups"): a consistent
 * copy of the live SQLite outbox (`CRM_OUTBOX`), and putting one back after checking it. A BullMQ
 * outbox lives in Redis, whose own persistence and backups cover it: both commands refuse it (exit 2).
 */
import type { Command } from 'commander';
import { isRedisTarget } from '../outbox/create-outbox.ts';
import type { OutboxFileReport } from '../outbox/sqlite-file-check.ts';
import { backupSqliteOutbox } from '../outbox/sqlite-backup.ts';
import { restoreSqliteOutbox } from '../outbox/sqlite-restore.ts';
import { CliExit, configFrom, EXIT, out, runAction, say, type GlobalOptions } from './context.ts';

/** Why a BullMQ outbox has no `backup`/`restore`, for the operator. */
export const REDIS_BACKUP_MESSAGE =
  'error: CRM_OUTBOX is a Redis (BullMQ) outbox, which backup/restore do not copy: its calls live in Redis, ' +
  'so Redis persistence (AOF with appendfsync everysec or always, plus RDB snapshots) and copies of its dump.rdb/appendonly files back it up. See README, "Backups".';

/** The SQLite outbox path of the configuration, or exit 2 for a Redis one. */
function sqliteOutbox(): string {
  const config = configFrom();
  if (isRedisTarget(config.outbox)) throw new CliExit(EXIT.USAGE, REDIS_BACKUP_MESSAGE);
  return config.outbox;
}

/** `pending 3 · in flight 0 · delivered 40 · dead 1`. */
function describeCounts(r: OutboxFileReport): string {
  const c = r.counts;
  return `schema v${r.schemaVersion} · pending ${c.pending} · in flight ${c.in_flight} · delivered ${c.delivered} · dead ${c.dead} · ${(r.bytes / 1024).toFixed(0)} KiB`;
}

/** Register the `backup` and `restore` commands. */
export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description('copy the live SQLite outbox to FILE, consistently, while workers deliver (SQLite online backup)')
    .argument('<file>', 'the backup to write (must not exist)')
    .option('--json', 'print what was written as JSON on stdout')
    .action(async (file: string, flags: { json?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const result = await backupSqliteOutbox(sqliteOutbox(), file);
        say(`backed up to ${result.file}: ${describeCounts(result)}`);
        if (flags.json) out(JSON.stringify(result));
        return EXIT.OK;
      });
    });
  program
    .command('restore')
    .description('check a backup and put it in place of the SQLite outbox (the outbox replaced is kept aside); stop every crm-upload process first')
    .argument('<file>', 'a file written by `crm-upload backup`')
    .option('--force', 'restore even though another process has the outbox open')
    .option('--json', 'print what was restored as JSON on stdout')
    .action(async (file: string, flags: { force?: boolean; json?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const result = await restoreSqliteOutbox(file, sqliteOutbox(), { force: flags.force === true });
        if (result.forced) say('warning: the outbox was open in another process: stop it now, it still writes to the replaced file');
        say(`restored ${result.outbox}: ${describeCounts(result)}`);
        if (result.replacedBy !== null) say(`the outbox it replaced is kept as ${result.replacedBy}`);
        if (result.counts.in_flight > 0) say(`${result.counts.in_flight} call(s) were in flight at the backup: they are sent again (same Idempotency-Key) once their leases expire`);
        if (flags.json) out(JSON.stringify(result));
        return EXIT.OK;
      });
    });
}
