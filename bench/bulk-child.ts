/**
 * A bulk run in its own process, so that its peak RSS is its own: prints the summary and maxRSS as JSON.
 * argv: <conversations-dir> <crm call-data url> <outbox path> <concurrency>
 */
import { bulkUploadFromDirectory } from '../src/api/bulk-upload.ts';
import { loadConfig } from '../src/config/config.ts';

const [dir = '', url = '', outbox = '', concurrency = '64'] = process.argv.slice(2);
const config = loadConfig({
  envFile: null,
  env: {
    CRM_API_URL: url,
    CRM_OUTBOX: outbox,
    CRM_CAMPAIGN_ID: 'bench',
    CRM_VOICE_AGENT_ID: 'bench',
    CRM_CLIENT_ID: 'bench',
    CRM_RATE_LIMIT: '0',
    CRM_CONCURRENCY: concurrency,
  },
});
const summary = await bulkUploadFromDirectory(dir, { config, maxWaitMs: 600_000 });
console.log(JSON.stringify({ summary: { ...summary, errors: summary.errors.length, unmatchedLeads: summary.unmatchedLeads.length }, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
