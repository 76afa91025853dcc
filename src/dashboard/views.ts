/**
 * The dashboard's HTML, rendered on the server with hono's `html` template, which escapes every
 * interpolated value (text and attributes alike); `raw` is used only for the constant style sheet and
 * script. There is no front-end build: Node runs these .ts files as they are, and JSX would need one.
 */
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { formatDuration } from '../config/duration.ts';
import type { AttemptLogEntry } from '../outbox/outbox-store.ts';
import { CLIENT_SCRIPT, STYLE_SHEET } from './client.ts';
import type { ThroughputBucket } from './stats.ts';
import type { CallView, DeadRow, SummaryView } from './view-model.ts';

/** Rendered HTML. */
export type Html = HtmlEscapedString;

/** `html`, for values that are never promises (none of ours are): typed as the string it then is. */
function h(strings: TemplateStringsArray, ...values: unknown[]): Html {
  const out = html(strings, ...values);
  if (out instanceof Promise) throw new TypeError('asynchronous content in a dashboard template');
  return out;
}

/** What every page needs besides its content. */
export interface PageFrame {
  title: string;
  /** The CSP nonce of this response. */
  nonce: string;
  /** The JSON the page polls, and the partial it re-renders from when the JSON's changeKey moves. */
  summaryUrl: string;
  partialUrl: string;
  changeKey: string;
  refreshMs: number;
  showPii: boolean;
  /** The callId in the search box. */
  search?: string;
}

const iso = (ms: number | null): string => (ms === null ? '—' : new Date(ms).toISOString().replace('.000Z', 'Z'));
const hhmm = (ms: number): string => new Date(ms).toISOString().slice(11, 16);
const ms = (value: number | null | undefined): string => (value === null || value === undefined ? '—' : formatDuration(value));

/** A whole page: header with search and token box, the content, the polling script. */
export function page(frame: PageFrame, content: Html): Html {
  return h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${frame.title} · crm-upload</title>
<style nonce="${frame.nonce}">${raw(STYLE_SHEET)}</style>
</head>
<body>
<header>
  <a class="brand" href="/">crm-upload <span>dashboard</span></a>
  <form class="search" method="get" action="/calls" role="search">
    <input name="callId" placeholder="search by callId" aria-label="callId" value="${frame.search ?? ''}" autocomplete="off" spellcheck="false">
    <button type="submit">Find</button>
  </form>
  <div class="token">
    <form id="token-form" hidden>
      <input id="token-input" type="password" placeholder="paste the token printed at start-up" aria-label="dashboard token" autocomplete="off">
      <button type="submit">Use token</button>
    </form>
    <span id="token-set" hidden>token set for this tab · <button type="button" id="token-forget" class="link">forget</button></span>
  </div>
</header>
<p id="notice" role="status" hidden></p>
<main id="main" data-summary="${frame.summaryUrl}" data-partial="${frame.partialUrl}" data-key="${frame.changeKey}" data-refresh-ms="${frame.refreshMs}">
${content}
</main>
<footer>
  <span id="refreshed">refreshes every ${formatDuration(frame.refreshMs)}</span>
  ${frame.showPii ? h`<span class="pii">--show-pii: phone numbers and emails are NOT masked</span>` : h`<span>phone numbers and emails masked</span>`}
</footer>
<script nonce="${frame.nonce}">${raw(CLIENT_SCRIPT)}</script>
</body>
</html>`;
}

/** The overview: counts, the last hour, the dead-letter list. */
export function overviewContent(view: SummaryView): Html {
  const c = view.counts;
  const card = (state: keyof SummaryView['counts'], label: string): Html =>
    h`<div class="card ${state}"><div class="label">${label}</div><div class="value" data-count="${state}">${c[state]}</div></div>`;
  return h`<section class="counts" aria-label="counts by state">
  ${card('pending', 'pending')}${card('in_flight', 'in flight')}${card('delivered', 'delivered')}${card('dead', 'dead')}
</section>
<p class="facts">
  outbox <code>${view.outbox}</code>
  · oldest undelivered: <span data-oldest-pending="${view.oldestPendingAt ?? ''}">${view.oldestPendingAgeMs === null ? 'none' : `${ms(view.oldestPendingAgeMs)} ago`}</span>
  · next attempt: ${view.nextAttemptAt === null ? 'none' : view.nextAttemptAt <= view.generatedAt ? 'due now' : `in ${ms(view.nextAttemptAt - view.generatedAt)}`}
</p>
${view.stats.lastError === null ? '' : h`<p class="error">the outbox did not answer the last sample: ${view.stats.lastError}</p>`}
<section aria-labelledby="hour">
  <h2 id="hour">Last hour</h2>
  ${chart(view.stats.buckets)}
  ${bucketTable(view.stats.buckets)}
  <p class="hint">Calls by the time they were delivered, whenever they started (a backfill of old calls shows when it is delivered). Latency is enqueue → delivered.${view.stats.truncated ? ' More calls were delivered in the last hour than one read takes: the counts are a floor.' : ''}</p>
</section>
<section aria-labelledby="dead">
  <h2 id="dead">Dead letter <span class="n">${view.dead.total}</span>
    ${view.dead.total > 0 ? h`<button type="button" class="danger" data-replay-all>Replay all</button>` : ''}</h2>
  ${deadTable(view.dead.rows, view.dead.total)}
</section>`;
}

function chart(buckets: readonly ThroughputBucket[]): Html {
  const width = 720;
  const height = 150;
  const pad = 24;
  const slot = (width - 2 * pad) / Math.max(1, buckets.length);
  const peak = Math.max(0, ...buckets.map((b) => b.delivered));
  // The scale needs a height above 0; the label says the real peak ("0 calls" over an empty chart).
  const maxDelivered = Math.max(1, peak);
  const maxLatency = Math.max(1, ...buckets.map((b) => b.latency?.p95Ms ?? 0));
  const y = (v: number, max: number): number => height - pad - (v / max) * (height - 2 * pad);
  const bars = buckets.map((b, i) => {
    const x = pad + i * slot + slot * 0.15;
    const top = y(b.delivered, maxDelivered);
    return h`<rect class="bar" x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${(height - pad - top).toFixed(1)}"><title>${hhmm(b.start)}–${hhmm(b.end)}: ${b.delivered} delivered</title></rect>`;
  });
  const points = buckets
    .map((b, i) => (b.latency === null ? null : `${(pad + i * slot + slot / 2).toFixed(1)},${y(b.latency.p95Ms, maxLatency).toFixed(1)}`))
    .filter((p): p is string => p !== null);
  const labels = buckets.map((b, i) =>
    i % 2 === 0 ? h`<text x="${(pad + i * slot + slot / 2).toFixed(1)}" y="${height - 6}" text-anchor="middle">${hhmm(b.start)}</text>` : '',
  );
  return h`<figure class="chart">
  <svg viewBox="0 0 ${width} ${height}" role="img" aria-label="calls delivered per 5 minutes, and p95 latency">
    <text class="axis" x="${pad}" y="14" data-peak="${peak}">${peak} ${peak === 1 ? 'call' : 'calls'}</text>
    <text class="axis latency" x="${width - pad}" y="14" text-anchor="end">p95 ${ms(maxLatency)}</text>
    ${bars}
    ${points.length > 0 ? h`<polyline class="latency" points="${points.join(' ')}"></polyline>` : ''}
    ${points.map((p) => {
      const [cx, cy] = p.split(',');
      return h`<circle class="latency" cx="${cx}" cy="${cy}" r="3"></circle>`;
    })}
    ${labels}
  </svg>
  <figcaption><span class="key bar"></span> delivered per 5 minutes <span class="key latency"></span> p95 delivery latency</figcaption>
</figure>`;
}

function bucketTable(buckets: readonly ThroughputBucket[]): Html {
  const rows = buckets
    .filter((b) => b.delivered > 0 || b.latency !== null)
    .reverse()
    .map(
      (b) =>
        h`<tr data-bucket="${b.start}"><td>${hhmm(b.start)}–${hhmm(b.end)}</td><td class="num" data-delivered>${b.delivered}</td><td class="num">${ms(b.latency?.p50Ms)}</td><td class="num">${ms(b.latency?.p95Ms)}</td><td class="num">${ms(b.latency?.maxMs)}</td></tr>`,
    );
  if (rows.length === 0) return h`<p class="empty">nothing delivered in the last hour</p>`;
  return h`<details><summary>per 5 minutes</summary><table class="buckets">
  <thead><tr><th>UTC</th><th class="num">delivered</th><th class="num">p50</th><th class="num">p95</th><th class="num">max</th></tr></thead>
  <tbody>${rows}</tbody></table></details>`;
}

function deadTable(rows: readonly DeadRow[], total: number): Html {
  if (rows.length === 0) return h`<p class="empty">no dead calls</p>`;
  return h`<table class="dead">
  <thead><tr><th>callId</th><th class="num">status</th><th>reason</th><th class="num">attempts</th><th>dead since (UTC)</th><th></th></tr></thead>
  <tbody>
  ${rows.map(
    (r) => h`<tr data-dead="${r.callId}">
    <td><a href="/calls/${encodeURIComponent(r.callId)}">${r.callId}</a>${r.sourceFile === null ? '' : h`<div class="file">${r.sourceFile}</div>`}</td>
    <td class="num" data-status>${r.lastStatus ?? '—'}</td>
    <td class="reason">${r.reason || '(no message)'}</td>
    <td class="num" data-attempts>${r.attempts}</td>
    <td>${iso(r.deadAt)}</td>
    <td><button type="button" data-replay="${r.callId}">Replay</button></td>
  </tr>`,
  )}
  </tbody></table>
  ${total > rows.length ? h`<p class="hint">showing the oldest ${rows.length} of ${total}; <code>crm-upload dead-letter list</code> lists them all</p>` : ''}`;
}

/** One call: its state, its recording, and every request of every attempt. */
export function callContent(view: CallView): Html {
  const r = view.recording;
  return h`<p class="crumbs"><a href="/">overview</a> / call</p>
<h2 class="call-id">${view.callId} <span class="state ${view.state}" data-state>${view.state.replace('_', ' ')}</span>
  ${view.state === 'dead' ? h`<button type="button" data-replay="${view.callId}">Replay</button>` : ''}</h2>
<dl class="facts-grid">
  <dt>attempts</dt><dd data-attempts>${view.attempts}${view.rateLimitWaits > 0 ? ` (+${view.rateLimitWaits} rate-limited waits)` : ''}</dd>
  <dt>last status</dt><dd>${view.lastStatus ?? '—'}</dd>
  <dt>last error</dt><dd class="reason">${view.lastError ?? '—'}</dd>
  <dt>enqueued</dt><dd>${iso(view.createdAt)}</dd>
  <dt>delivered</dt><dd>${view.deliveredAt === null ? '—' : h`${iso(view.deliveredAt)} (after ${ms(view.deliveredAt - view.createdAt)})`}</dd>
  ${view.nextAttemptAt === null ? '' : h`<dt>next attempt</dt><dd>${iso(view.nextAttemptAt)}</dd>`}
  <dt>call</dt><dd>${view.startTime} → ${view.endTime} (${view.durationS} s)</dd>
  <dt>caller</dt><dd>${view.callerNumber || '—'}</dd>
  <dt>campaign / agent</dt><dd>${view.campaignId} / ${view.voiceAgentId}</dd>
  <dt>source file</dt><dd class="file">${view.sourceFile ?? '—'}</dd>
  <dt>recording</dt><dd data-recording>${
    r.file === null
      ? 'none'
      : h`${r.file}${r.url === null ? ' · not uploaded yet' : h` · uploaded: <code>${r.url}</code>`}${r.size === null ? '' : ` · ${r.size} bytes`}${r.durationS === null ? '' : ` · ${Math.round(r.durationS)} s`}`
  }${r.note === null ? '' : h`<div class="reason">sent without it: ${r.note}</div>`}</dd>
</dl>
<h2>Timeline</h2>
${timeline(view.history)}`;
}

function timeline(entries: readonly AttemptLogEntry[]): Html {
  if (entries.length === 0) return h`<p class="empty">no attempt yet</p>`;
  return h`<table class="timeline">
  <thead><tr><th>time (UTC)</th><th class="num">attempt</th><th>step</th><th class="num">HTTP status</th><th class="num">duration</th><th>outcome</th><th>error</th></tr></thead>
  <tbody>
  ${entries.map(
    (e) => h`<tr class="${e.outcome}" data-step="${e.step}"><td>${new Date(e.at).toISOString()}</td><td class="num">${e.attempt}</td><td>${e.step}</td><td class="num" data-status>${e.status ?? '—'}</td><td class="num">${ms(e.durationMs)}</td><td data-outcome>${e.outcome}</td><td class="reason">${e.error ?? ''}</td></tr>`,
  )}
  </tbody></table>`;
}

/** A call the outbox does not have. */
export function notFoundContent(callId: string): Html {
  return h`<p class="crumbs"><a href="/">overview</a> / call</p>
<p class="empty" data-not-found>no call <code>${callId}</code> in the outbox</p>`;
}

/** A plain refusal page (wrong Host and the like): no script, nothing from the outbox. */
export function refusalPage(status: number, message: string): Html {
  return h`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${status}</title></head><body><h1>${status}</h1><p>${message}</p></body></html>`;
}
