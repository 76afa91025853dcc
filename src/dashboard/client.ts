/**
 * The dashboard's style sheet and its one small script, inlined in every page under a per-response CSP
 * nonce (no other script can run). The script:
 *
 * - takes the token from the URL fragment (`/#token=…`, which browsers never send to the server, so it
 *   is in no request line or log), or from the operator pasting it into the token box, keeps it in
 *   `sessionStorage` (this tab only, gone when the tab closes), and removes the fragment from the
 *   address bar and history at once;
 * - polls the page's JSON endpoint and, when its `changeKey` moved, swaps in the server-rendered
 *   partial of the same page (one renderer, on the server);
 * - sends the Replay mutations as JSON with `Authorization: Bearer <token>`.
 */

/** The CSS of every page. */
export const STYLE_SHEET = `
:root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f7f8fa; --card:#fff; --pending:#b54708; --flight:#175cd3; --ok:#067647; --dead:#b42318; --accent:#344054; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; gap:16px; align-items:center; flex-wrap:wrap; padding:10px 20px; background:#101828; color:#fff; }
header .brand { color:#fff; font-weight:600; text-decoration:none; font-size:16px; }
header .brand span { font-weight:400; opacity:.7; }
header form { display:flex; gap:6px; margin:0; }
header input { padding:5px 8px; border-radius:6px; border:1px solid #475467; background:#1d2939; color:#fff; min-width:260px; }
header .token { margin-left:auto; font-size:13px; opacity:.9; }
button { font:inherit; padding:4px 10px; border-radius:6px; border:1px solid #98a2b3; background:#fff; color:var(--accent); cursor:pointer; }
button:hover { background:#f2f4f7; }
button:disabled { opacity:.5; cursor:default; }
button.danger { border-color:#fda29b; color:var(--dead); font-size:12px; margin-left:8px; vertical-align:middle; }
button.link { border:0; background:none; color:inherit; text-decoration:underline; padding:0; }
main { max-width:1100px; margin:0 auto; padding:16px 20px 8px; }
h2 { font-size:16px; margin:22px 0 8px; }
h2 .n { color:var(--muted); font-weight:400; }
.counts { display:grid; grid-template-columns:repeat(4, minmax(120px, 1fr)); gap:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; border-top:4px solid var(--accent); }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .value { font-size:28px; font-weight:600; font-variant-numeric:tabular-nums; }
.card.pending { border-top-color:var(--pending); } .card.in_flight { border-top-color:var(--flight); }
.card.delivered { border-top-color:var(--ok); } .card.dead { border-top-color:var(--dead); }
.card.dead .value { color:var(--dead); }
.facts { color:var(--muted); margin:10px 0 0; }
.error, .pii { color:var(--dead); font-weight:600; }
.hint, .empty { color:var(--muted); font-size:13px; }
table { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:8px; overflow:hidden; }
th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line); vertical-align:top; white-space:nowrap; }
td a { font-family:ui-monospace, monospace; font-size:13px; }
th { background:#f2f4f7; font-weight:600; font-size:12px; color:var(--muted); }
td.num, th.num { font-variant-numeric:tabular-nums; text-align:right; }
td.reason, .reason { color:#7a271a; max-width:460px; word-break:break-word; white-space:normal; }
.file { color:var(--muted); font-size:12px; word-break:break-all; }
.chart { margin:0; background:var(--card); border:1px solid var(--line); border-radius:8px; padding:8px; }
.chart svg { width:100%; height:auto; display:block; }
.chart text { font-size:10px; fill:var(--muted); }
.chart rect.bar { fill:#12b76a; }
.chart polyline.latency { fill:none; stroke:#7a5af8; stroke-width:2; }
.chart circle.latency { fill:#7a5af8; }
.chart figcaption { color:var(--muted); font-size:12px; padding:4px 8px 0; }
.key { display:inline-block; width:10px; height:10px; border-radius:2px; margin:0 4px 0 12px; vertical-align:-1px; }
.key.bar { background:#12b76a; } .key.latency { background:#7a5af8; }
details { margin-top:8px; } summary { cursor:pointer; color:var(--muted); }
.state { font-size:12px; padding:2px 8px; border-radius:10px; vertical-align:middle; background:#eaecf0; font-weight:500; }
.state.delivered { background:#dcfae6; color:var(--ok); } .state.dead { background:#fee4e2; color:var(--dead); }
.state.pending { background:#fef0c7; color:var(--pending); } .state.in_flight { background:#d1e9ff; color:var(--flight); }
.facts-grid { display:grid; grid-template-columns:160px 1fr; gap:4px 12px; background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px; }
.facts-grid dt { color:var(--muted); } .facts-grid dd { margin:0; }
tr.dead td, tr.skipped td { background:#fffbfa; } tr.delivered td, tr.uploaded td { background:#f6fef9; }
.crumbs { color:var(--muted); margin:0; } .call-id { font-family:ui-monospace, monospace; font-size:15px; }
#notice { max-width:1100px; margin:10px auto 0; padding:8px 12px; border-radius:8px; background:#eff8ff; color:#175cd3; }
footer { max-width:1100px; margin:0 auto; padding:8px 20px 24px; color:var(--muted); font-size:12px; display:flex; gap:16px; }
code { font-family:ui-monospace, monospace; font-size:12px; }
`;

/** The script of every page (see the module comment). Plain ES2020, no build. */
export const CLIENT_SCRIPT = `
(() => {
  'use strict';
  const KEY = 'crm-upload-dashboard-token';
  const main = document.getElementById('main');
  const notice = document.getElementById('notice');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const refreshMs = Number(main.dataset.refreshMs) || 5000;

  const fragment = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (fragment) {
    try {
      if (fragment[1]) sessionStorage.setItem(KEY, decodeURIComponent(fragment[1]));
    } catch (err) {
      // A mangled fragment: the token box asks for it instead.
    }
    history.replaceState(null, '', location.pathname + location.search);
  }
  const token = () => sessionStorage.getItem(KEY);
  const showToken = () => {
    form.hidden = token() !== null;
    document.getElementById('token-set').hidden = token() === null;
  };
  showToken();
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const value = input.value.trim();
    input.value = '';
    if (value) sessionStorage.setItem(KEY, value);
    showToken();
  });
  document.getElementById('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    showToken();
  });

  let noticeTimer = 0;
  const say = (text) => {
    notice.textContent = text;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { notice.hidden = true; }, 8000);
  };
  const fmt = (ms) => ms < 1000 ? Math.round(ms) + 'ms' : ms < 60000 ? (+(ms / 1000).toFixed(1)) + 's'
    : ms < 3600000 ? (+(ms / 60000).toFixed(1)) + 'm' : (+(ms / 3600000).toFixed(1)) + 'h';
  const tickAges = () => {
    for (const el of document.querySelectorAll('[data-oldest-pending]')) {
      const at = Number(el.dataset.oldestPending);
      el.textContent = at ? fmt(Math.max(0, Date.now() - at)) + ' ago' : 'none';
    }
  };

  let busy = false;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try {
      const res = await fetch(main.dataset.summary, { headers: { accept: 'application/json' }, cache: 'no-store' });
      if (!res.ok && res.status !== 404) throw new Error('HTTP ' + res.status);
      const data = await res.json();
      if (data.changeKey !== main.dataset.key) {
        const part = await fetch(main.dataset.partial, { cache: 'no-store' });
        if (part.ok || part.status === 404) {
          main.innerHTML = await part.text();
          main.dataset.key = part.headers.get('x-change-key') || data.changeKey;
        }
      }
      document.getElementById('refreshed').textContent = 'updated ' + new Date().toLocaleTimeString() + ' · refreshes every ' + fmt(refreshMs);
    } catch (err) {
      document.getElementById('refreshed').textContent = 'cannot reach the dashboard server (' + err.message + '); retrying';
    } finally {
      busy = false;
      tickAges();
    }
  };
  const loop = async () => {
    await refresh();
    setTimeout(loop, refreshMs);
  };
  setTimeout(loop, refreshMs);
  setInterval(tickAges, 1000);

  document.addEventListener('click', async (e) => {
    const button = e.target.closest('button[data-replay], button[data-replay-all]');
    if (!button) return;
    const all = button.hasAttribute('data-replay-all');
    if (token() === null) {
      say('Paste the token printed at start-up (token: …) into the box at the top right first.');
      input.focus();
      return;
    }
    if (all && !confirm('Put every dead call back to pending? The worker then sends each once more.')) return;
    button.disabled = true;
    try {
      const res = await fetch('/api/dead-letter/replay', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer ' + token() },
        body: JSON.stringify(all ? { all: true } : { callIds: [button.dataset.replay] }),
      });
      const data = await res.json().catch(() => ({}));
      if (res.status === 401) {
        sessionStorage.removeItem(KEY);
        showToken();
        say('The token was refused: paste the one printed at start-up.');
      } else if (!res.ok) {
        say('Replay failed: ' + (data.message || 'HTTP ' + res.status));
      } else {
        say('Replayed ' + data.replayed + ' call' + (data.replayed === 1 ? '' : 's') + ': back to pending; the worker sends ' + (data.replayed === 1 ? 'it' : 'them') + ' again.');
      }
      await refresh();
    } finally {
      button.disabled = false;
    }
  });
})();
`;
