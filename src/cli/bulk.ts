/**
 * `crm-upload bulk <conversations-dir> [--leads D] [--recordings D] [--manifests D] [--since T]
 * [--until T] [--concurrency N] [--max-wait DUR] [--dry-run] [--json] [--no-progress]`.
 */
import type { Command } from 'commander';
import { bulkUploadFromDirectory } from '../api/bulk-upload.ts';
import type { BulkSummary } from '../bulk/summary.ts';
import { VERIFY_BEFORE_RESEND_MODES } from '../config/config.ts';
import { maskText } from '../log/mask.ts';
import { interruptExitCode, interruptedLine, onInterrupt, sayInterrupt } from './interrupt.ts';
import { createProgress } from './progress.ts';
import { maxWaitFlag } from './send.ts';
import { parseRangeFlag } from './time-range.ts';
import { CliExit, cliLogger, configFrom, EXIT, out, runAction, say, type GlobalOptions } from './context.ts';

interface BulkFlags {
  leads?: string;
  recordings?: string;
  manifests?: string;
  since?: string;
  until?: string;
  concurrency?: string;
  verifyBeforeResend?: string;
  maxWait?: string;
  dryRun?: boolean;
  json?: boolean;
  progress: boolean;
}

/** The summary for people, on stderr. */
export function printSummary(s: BulkSummary, showPii: boolean): void {
  say(
    `success ${s.success} · failed ${s.failed} · skipped ${s.skipped} · pending ${s.pending} · dead ${s.dead} · total ${s.total} · ${(s.durationMs / 1000).toFixed(1)}s`,
  );
  for (const e of s.errors) say(`  failed ${e.file}: ${showPii ? e.reason : maskText(e.reason)}`);
  for (const f of s.unmatchedLeads) say(`  unmatched lead ${f}`);
  for (const f of s.skippedFiles) say(`  skipped ${f.file}: ${f.reason}`);
  if (s.skipped > 0) say(`  ${s.skipped} call(s) were already delivered and were skipped`);
  if (s.pending > 0) say(`  ${s.pending} call(s) still queued: crm-upload worker delivers them`);
  if (s.dead > 0) say(`  ${s.dead} call(s) refused for good: crm-upload dead-letter list`);
}

/** Register the `bulk` command. */
export function registerBulk(program: Command): void {
  program
    .command('bulk')
    .description('deliver every call in the folders; calls already delivered are skipped')
    .argument('<conversations-dir>', 'folder of conversation files (walked recursively)')
    .option('--leads <dir>', 'folder of lead files (CRM_LEADS_DIR)')
    .option('--recordings <dir>', 'folder of recordings (CRM_RECORDINGS_DIR)')
    .option('--manifests <dir>', 'folder of call manifests (CRM_MANIFESTS_DIR)')
    .option('--since <time>', 'only calls starting at or after (ISO; naive = CRM_SOURCE_TIMEZONE)')
    .option('--until <time>', 'only calls starting at or before (a bare date includes the whole day)')
    .option('--concurrency <n>', 'deliveries at once (CRM_CONCURRENCY)')
    .option('--verify-before-resend <mode>', 'auto|always|never: ask the CRM whether it holds a call before re-sending it after an uncertain attempt (CRM_VERIFY_BEFORE_RESEND, default auto)')
    .option('--max-wait <duration>', 'how long to wait for retries before leaving calls to the worker', '2m')
    .option('--dry-run', 'print one payload per line (NDJSON) and send nothing')
    .option('--json', 'print the summary as JSON, as the last stdout line')
    .option('--no-progress', 'no progress output')
    .action(async (dir: string, flags: BulkFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        if (flags.concurrency !== undefined && !/^[1-9]\d*$/.test(flags.concurrency.trim())) {
          throw new CliExit(EXIT.USAGE, `error: --concurrency must be a whole number ≥ 1, got "${flags.concurrency}"`);
        }
        if (flags.verifyBeforeResend !== undefined && !(VERIFY_BEFORE_RESEND_MODES as readonly string[]).includes(flags.verifyBeforeResend.trim())) {
          throw new CliExit(EXIT.USAGE, `error: --verify-before-resend must be one of ${VERIFY_BEFORE_RESEND_MODES.join(', ')}, got "${flags.verifyBeforeResend}"`);
        }
        const maxWaitMs = maxWaitFlag(flags.maxWait);
        const config = configFrom({
          CRM_LEADS_DIR: flags.leads,
          CRM_RECORDINGS_DIR: flags.recordings,
          CRM_MANIFESTS_DIR: flags.manifests,
          CRM_CONCURRENCY: flags.concurrency?.trim(),
          CRM_VERIFY_BEFORE_RESEND: flags.verifyBeforeResend?.trim(),
        });
        const since = parseRangeFlag(flags.since, '--since', config.sourceTimezone);
        const until = parseRangeFlag(flags.until, '--until', config.sourceTimezone);
        const progress = createProgress(flags.progress && !flags.dryRun);
        const show = (text: string) => (globals.showPii ? text : maskText(text));
        // Kept until the process ends, so that a second Ctrl-C during the last commits still exits at once.
        const interrupt = onInterrupt({ onSignal: sayInterrupt(say) });
        let summary: BulkSummary;
        try {
          summary = await bulkUploadFromDirectory(dir, {
            config,
            since,
            until,
            maxWaitMs,
            dryRun: flags.dryRun,
            signal: interrupt.signal,
            logger: cliLogger(globals),
            onPayload: (p) => out(JSON.stringify(p)),
            onProgress: (p) => progress.update(p),
            onWarning: (w) => {
              if (w.code !== 'W_UNMATCHED_LEAD') say(`warning: ${show(w.message)}`);
            },
          });
        } finally {
          progress.stop();
        }
        const received = interrupt.received;
        if (flags.dryRun) {
          say(`dry run: ${summary.pending} payload(s) printed, ${summary.failed} file(s) failed, nothing sent`);
          for (const e of summary.errors) say(`  failed ${e.file}: ${show(e.reason)}`);
          if (received !== null) return interruptExitCode(received);
          return summary.failed > 0 ? EXIT.FAILED : EXIT.OK;
        }
        printSummary(summary, globals.showPii === true);
        if (received !== null) say(interruptedLine(received));
        if (flags.json) out(JSON.stringify(summary));
        if (received !== null) return interruptExitCode(received);
        return summary.failed + summary.pending + summary.dead > 0 ? EXIT.FAILED : EXIT.OK;
      });
    });
}
