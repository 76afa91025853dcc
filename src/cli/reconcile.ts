/**
 * `crm-upload reconcile [--since T] [--until T] [--requeue] [--json]`: compare what the outbox delivered
 * with what the CRM lists for the same call start times, and which calls the CRM holds more than once.
 * Exit 0 when both agree, 1 when there are differences or duplicates (or the CRM could not be listed),
 * 2 for a usage or configuration error.
 */
import type { Command } from 'commander';
import { openDelivery } from '../delivery/open-delivery.ts';
import { reconcile, reconciled, DEFAULT_PAGE_SIZE, type ReconcileReport } from '../reconcile/reconcile.ts';
import { CliExit, cliLogger, configFrom, EXIT, out, runAction, say, type GlobalOptions } from './context.ts';
import { parseRangeFlag } from './time-range.ts';

interface ReconcileFlags {
  since?: string;
  until?: string;
  requeue?: boolean;
  json?: boolean;
  pageSize?: string;
}

/** Register the `reconcile` command. */
export function registerReconcile(program: Command): void {
  program
    .command('reconcile')
    .description('compare what the outbox delivered with what the CRM lists; --requeue sends the missing ones again')
    .option('--since <time>', 'calls that started at or after this (ISO date or date-time; naive values in CRM_SOURCE_TIMEZONE)')
    .option('--until <time>', 'calls that started at or before this (a bare date covers the whole day)')
    .option('--requeue', 'put the calls missing in the CRM back to pending, for the worker')
    .option('--json', 'print the report as one JSON object on stdout')
    .option('--page-size <n>', `calls per GET page (default ${DEFAULT_PAGE_SIZE})`)
    .action(async (flags: ReconcileFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const pageText = flags.pageSize?.trim();
        if (pageText !== undefined && (!/^[1-9]\d*$/.test(pageText) || Number(pageText) > 1000)) {
          throw new CliExit(EXIT.USAGE, `error: --page-size must be a whole number from 1 to 1000, got "${flags.pageSize}"`);
        }
        const config = configFrom();
        const since = parseRangeFlag(flags.since, '--since', config.sourceTimezone);
        const until = parseRangeFlag(flags.until, '--until', config.sourceTimezone);
        if (since !== null && until !== null && since > until) throw new CliExit(EXIT.USAGE, 'error: --since is after --until');
        const session = await openDelivery(config, { logger: cliLogger(globals) });
        try {
          const report = await reconcile({
            store: session.store,
            client: session.client,
            since,
            until,
            campaignId: config.campaignId,
            voiceAgentId: config.voiceAgentId,
            requeue: flags.requeue === true,
            ...(pageText === undefined ? {} : { pageSize: Number(pageText) }),
          });
          if (flags.json) out(JSON.stringify(report));
          else printReport(report, flags.requeue === true);
          return reconciled(report) ? EXIT.OK : EXIT.FAILED;
        } finally {
          await session.close();
        }
      });
    });
}

function printReport(r: ReconcileReport, requeue: boolean): void {
  const range = `${r.since ?? 'the beginning'} … ${r.until ?? 'now'}`;
  const ids = [r.campaignId === null ? null : `campaign ${r.campaignId}`, r.voiceAgentId === null ? null : `agent ${r.voiceAgentId}`].filter((x) => x !== null);
  say(`reconcile ${range}${ids.length > 0 ? ` (${ids.join(', ')})` : ''}: ${r.outbox} delivered here, ${r.crm} in the CRM, ${r.matched} identical`);
  const list = (title: string, lines: string[]): void => {
    if (lines.length === 0) return;
    say(`${title} (${lines.length}):`);
    for (const l of lines) say(`  ${l}`);
  };
  list('delivered here, missing in the CRM', r.missingInCrm.map((m) => `${m.callId}  started ${m.startTime ?? '?'}`));
  list(
    'in the CRM, not delivered from here',
    r.unknownHere.map((u) => `${u.callId}  started ${u.startTime ?? '?'}  ${u.state === null ? '(not in the outbox)' : `(${u.state} in the outbox)`}`),
  );
  list('in both, with a different payload', r.hashMismatch.map((m) => `${m.callId}  outbox sha256 ${m.outboxHash.slice(0, 12)}…  CRM sha256 ${m.crmHash.slice(0, 12)}…`));
  list('held more than once by the CRM (duplicates to remove there)', r.duplicates.map((d) => `${d.callId}  started ${d.startTime ?? '?'}  ×${d.count}`));
  if (requeue && r.requeued > 0) say(`requeued ${r.requeued} call${r.requeued === 1 ? '' : 's'}: \`crm-upload worker\` sends ${r.requeued === 1 ? 'it' : 'them'} again`);
  else if (r.missingInCrm.length > 0) say('send the missing ones again with: crm-upload reconcile --requeue (same range), then crm-upload worker');
  if (reconciled(r)) say('the CRM holds exactly what was delivered');
}
