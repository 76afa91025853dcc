/**
 * `crm-upload demo` (`npm run demo`): start a local CRM on a free port, copy the sample calls (real,
 * anonymised files of every format) to a temporary folder, bulk-upload them with the progress bar,
 * print the summary and what the CRM holds, then stop everything. Nothing external is needed.
 */
import type { Command } from 'commander';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bulkUploadFromDirectory } from '../api/bulk-upload.ts';
import { crmClientFor } from '../delivery/open-delivery.ts';
import { loadConfig } from '../config/config.ts';
import { maskText } from '../log/mask.ts';
import type { CallPayload } from '../payload/call-payload.ts';
import { printSummary } from './bulk.ts';
import { createProgress } from './progress.ts';
import { cliLogger, EXIT, runAction, say, type GlobalOptions } from './context.ts';

/** The sample calls shipped with the package (`samples/` at the package root, from src/cli or dist/cli). */
export const SAMPLES_DIR = fileURLToPath(new URL('../../samples/', import.meta.url));

/** Register the `demo` command. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('start a local CRM, bulk-upload the sample calls to it, show the result')
    .option('--no-progress', 'no progress bar')
    .action(async (flags: { progress: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      await runAction(globals.verbose, async () => {
        const work = await mkdtemp(join(tmpdir(), 'crm-upload-demo-'));
        const { startLocalCrm } = await import('../local-crm/server.ts');
        const crm = await startLocalCrm({ port: 0 });
        try {
          await cp(SAMPLES_DIR, join(work, 'data'), { recursive: true });
          const data = (d: string) => join(work, 'data', d);
          const config = loadConfig({
            cwd: work,
            envFile: null,
            env: {
              CRM_API_URL: crm.callDataUrl,
              CRM_UPLOAD_URL: crm.uploadUrl,
              CRM_OUTBOX: join(work, 'outbox.db'),
              CRM_CAMPAIGN_ID: process.env.CRM_CAMPAIGN_ID ?? 'demo-campaign',
              CRM_VOICE_AGENT_ID: process.env.CRM_VOICE_AGENT_ID ?? 'demo-agent',
              CRM_CLIENT_ID: process.env.CRM_CLIENT_ID ?? 'demo-client',
              // The sample deployments ran in India: their naive times are IST.
              CRM_SOURCE_TIMEZONE: 'Asia/Kolkata',
              CRM_RATE_LIMIT: '0',
              CRM_RETRY_SCHEDULE: '100ms,500ms,1s',
            },
          });
          say(`local CRM listening on ${crm.url}`);
          say(`sample calls in ${join(work, 'data')}`);
          const progress = createProgress(flags.progress);
          const summary = await bulkUploadFromDirectory(data('conversations'), {
            config,
            leadsDir: data('leads'),
            recordingsDir: data('recordings'),
            manifestsDir: data('call_metadata'),
            maxWaitMs: 30_000,
            logger: cliLogger(globals),
            onProgress: (p) => progress.update(p),
            onWarning: (w) => say(`warning: ${maskText(w.message)}`),
          });
          progress.stop();
          printSummary(summary, globals.showPii === true);

          const client = crmClientFor(config);
          const listed = await client.listCallData({ limit: 100 });
          await client.close();
          const body = listed.kind === 'response' ? (listed.body as { data?: CallPayload[]; pagination?: { total: number } }) : {};
          say(`\nthe CRM now holds ${body.pagination?.total ?? 0} call(s) (GET call-data):`);
          for (const p of body.data ?? []) {
            const t = p.transcription as { total_items?: number };
            const lead = p.lead as { name?: string };
            say(
              `  ${p.callDetails.callId}  ${p.callDetails.startTime}  ${String(p.callDetails.duration).padStart(4)}s  ` +
                `${String(t.total_items ?? 0).padStart(2)} items  caller ${maskText(p.caller.phoneNumber) || '-'}  ` +
                `lead ${lead.name ? maskText(lead.name) : '-'}  recording ${p.callDetails.recordingUrl ? 'yes' : 'no'}`,
            );
          }
          return summary.failed + summary.pending + summary.dead > 0 ? EXIT.FAILED : EXIT.OK;
        } finally {
          await crm.close();
          await rm(work, { recursive: true, force: true });
        }
      });
    });
}
