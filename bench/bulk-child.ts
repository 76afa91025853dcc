/**
 * A bulk run in its own process, so that its peak RSS is its own: prints the summary and maxRSS as JSON.
 * argv: <conversations-dir> <crm call-data url> <outbox path> <concurrency> [<leads-dir>]
 * With BENCH_PHASES=1 it also prints, on stderr, the time and memory (rss, heapUsed, external,
 * arrayBuffers) at each phase boundary of the run; with BENCH_SNAPSHOT=<file> it writes a heap snapshot
 * (after a full GC: what is live) when the scan ends.
 */
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { bulkUploadFromDirectory, type BulkProgress } from '../src/api/bulk-upload.ts';
import { loadConfig } from '../src/config/config.ts';

const [dir = '', url = '', outbox = '', concurrency = '64', leads] = process.argv.slice(2);
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
    ...(leads ? { CRM_LEADS_DIR: leads } : {}),
  },
});

const verbose = process.env.BENCH_PHASES === '1';
const t0 = performance.now();
const mb = (n: number) => `${(n / 1048576).toFixed(0)}`;
function mark(label: string): void {
  if (!verbose) return;
  const m = process.memoryUsage();
  const maxRss = process.resourceUsage().maxRSS * 1024;
  process.stderr.write(
    `  [${((performance.now() - t0) / 1000).toFixed(2)}s] ${label}: rss ${mb(m.rss)} MB (peak ${mb(maxRss)}), heapUsed ${mb(m.heapUsed)}, heapTotal ${mb(m.heapTotal)}, external ${mb(m.external)}, arrayBuffers ${mb(m.arrayBuffers)}\n`,
  );
  if (process.env.BENCH_SMAPS === '1') {
    const spaces = getHeapSpaceStatistics().filter((s) => s.physical_space_size > 1048576);
    process.stderr.write(`      heap spaces: ${spaces.map((s) => `${s.space_name} ${mb(s.physical_space_size)}`).join(', ')}\n      mappings: ${smaps()}\n`);
  }
}
/** RSS by mapping (Linux only): the node binary, anonymous memory, the malloc heap, … */
function smaps(): string {
  let text: string;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return 'n/a';
  }
  const groups = new Map<string, number>();
  let name = '';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = (head[1] || '[anon]').split('/').pop()!;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) groups.set(name, (groups.get(name) ?? 0) + Number(rss[1]) * 1024);
  }
  return [...groups].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${k} ${mb(v)}`).join(', ');
}
let phase: BulkProgress['phase'] | null = null;
const onProgress = (p: BulkProgress) => {
  if (p.phase !== phase) {
    if (process.env.BENCH_SNAPSHOT && p.phase === 'enqueue') process.stderr.write(`snapshot ${writeHeapSnapshot(process.env.BENCH_SNAPSHOT)}\n`);
    mark(`${phase ?? 'start'} → ${p.phase}`);
    phase = p.phase;
  }
};
const summary = await bulkUploadFromDirectory(dir, { config, maxWaitMs: 600_000, onProgress });
mark('end');
console.log(JSON.stringify({ summary: { ...summary, errors: summary.errors.length, unmatchedLeads: summary.unmatchedLeads.length }, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
