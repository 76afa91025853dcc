/**
 * `crm-upload rekey [--dry-run] [--json]` (README, "Security" → "Rotate the outbox key"): rewrite every payload
 * of the outbox (SQLite or BullMQ) under the current `CRM_OUTBOX_KEY` — plain ones written before a key
 * was set, and those under the keys listed in `CRM_OUTBOX_OLD_KEYS` — in small batches, safe while a
 * worker delivers. A record no configured key opens stops it (exit 2, E_OUTBOX_KEY naming the key id).
 */
import type { Command } from 'commander';
import { payloadCipherOf, OutboxKeyError, type RekeyReport } from '../outbox/payload-cipher.ts';
import { rekeyOutbox } from '../outbox/rekey-outbox.ts';
import { CliExit, configFrom, EXIT, out, runAction, say, withOutbox, type GlobalOptions } from './context.ts';

/** `scanned 40 · already under 1a2b3c4d 10 · rewritten 30 (plain 20, 9f8e7d6c 10) · skipped 0`. */
export function describeRekey(report: RekeyReport, kid: string, dryRun: boolean): string {
  const from = [...(report.fromPlain > 0 ? [`plain ${report.fromPlain}`] : []), ...Object.entries(report.fromKeys).map(([k, n]) => `${k} ${n}`)];
  return (
    `scanned ${report.scanned} · already under ${kid} ${report.current} · ${dryRun ? 'to rewrite' : 'rewritten'} ${report.rewritten}` +
    `${from.length > 0 ? ` (${from.join(', ')})` : ''} · skipped ${report.skipped}`
  );
}

/** Register the `rekey` command. */
export function registerRekey(program: Command): void {
  program
    .command('rekey')
    .description('rewrite every outbox payload under the current CRM_OUTBOX_KEY (plain ones and those under CRM_OUTBOX_OLD_KEYS), in small batches, safe while a worker runs')
    .option('--dry-run', 'count what would be rewritten; write nothing')
    .option('--batch <n>', 'records per transaction (SQLite) or per round (BullMQ)', '100')
    .option('--json', 'print the counts as one JSON object on stdout')
    .action(async (flags: { dryRun?: boolean; batch: string; json?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const config = configFrom();
        const cipher = payloadCipherOf(config);
        if (cipher.writeKid === null) throw new OutboxKeyError('rekey needs CRM_OUTBOX_KEY: the key to write every payload under');
        const batchSize = Number(flags.batch);
        if (!Number.isInteger(batchSize) || batchSize < 1) throw new CliExit(EXIT.USAGE, `error: --batch must be a whole number ≥ 1, got "${flags.batch}"`);
        const dryRun = flags.dryRun === true;
        const report = await withOutbox((store) => rekeyOutbox(store, cipher, { dryRun, batchSize }), config);
        say(`${dryRun ? 'dry run: ' : ''}${describeRekey(report, cipher.writeKid, dryRun)}`);
        if (report.skipped > 0) say(`${report.skipped} record(s) changed or in flight meanwhile: run rekey again once they are settled`);
        if (flags.json) out(JSON.stringify({ kid: cipher.writeKid, dryRun, ...report }));
        return EXIT.OK;
      });
    });
}
