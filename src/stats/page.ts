/**
 * The live status page (`GET /` on the stats listener): one self-contained
 * HTML document, no external asset, that reads /status.json every 2 s and
 * shows services, listeners, servers with their state in colour, sessions,
 * request and byte rates, failures by cause and the last transition with its
 * cause. With the token typed in (kept in the tab's sessionStorage), each
 * server gets drain / maint / ready buttons that call the admin API.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>plb status</title>
<style>
  :root { --up: #1a7f37; --down: #cf222e; --drain: #9a6700; --maint: #6e7781; --bg: #f6f8fa; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: var(--bg); color: #1f2328; }
  header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; background: #24292f; color: #fff; }
  header h1 { font-size: 1.1rem; margin: 0; }
  header input { font: inherit; padding: .2rem .4rem; width: 14rem; max-width: 60vw; }
  main { padding: .5rem 1rem 2rem; }
  section { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; margin: .8rem 0; overflow-x: auto; }
  section h2 { font-size: 1rem; margin: 0; padding: .5rem .8rem; border-bottom: 1px solid #d0d7de; }
  section h2 small { font-weight: normal; color: #57606a; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .8rem; border-bottom: 1px solid #eaeef2; white-space: nowrap; }
  th { font-weight: 600; color: #57606a; font-size: .85rem; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .state { display: inline-block; min-width: 3.5rem; text-align: center; border-radius: 1rem; padding: 0 .5rem; color: #fff; font-weight: 600; }
  .state.up { background: var(--up); } .state.down { background: var(--down); } .state.drain { background: var(--drain); } .state.maint { background: var(--maint); }
  .why { white-space: normal; color: #57606a; max-width: 30rem; }
  .check { white-space: normal; max-width: 20rem; } .check .bad { color: #cf222e; }
  button { font: inherit; font-size: .8rem; margin-right: .2rem; cursor: pointer; }
  #error { color: var(--down); }
  @media (max-width: 600px) {
    main { padding: .25rem .4rem 1rem; }
    th.wide, td.wide { display: none; }
    th, td { padding: .3rem .3rem; white-space: normal; }
    td:first-child { word-break: break-all; }
    .state { min-width: 0; }
    td.acts button { display: block; margin: 0 0 .15rem; width: 100%; }
  }
</style>
</head>
<body>
<header>
  <h1>plb</h1><span id="meta"></span><span id="error"></span>
  <label>token <input id="token" type="password" autocomplete="off" placeholder="for drain / maint / ready"></label>
</header>
<main id="services"></main>
<script>
"use strict";
const tokenBox = document.getElementById("token");
tokenBox.value = sessionStorage.getItem("plb-token") || "";
tokenBox.addEventListener("input", () => { sessionStorage.setItem("plb-token", tokenBox.value); render(); });
let last, prev, prevAt = 0;
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);
const rate = (now, before, dt) => (before === undefined || !(dt > 0) ? "–" : ((now - before) / dt).toFixed(1));
function bytes(n) { const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return n.toFixed(i ? 1 : 0) + " " + u[i]; }
function weight(s) { return s.slowstart ? '<span title="in slow start: the weight it has now, of its full weight">' + s.effective_weight + " of " + s.weight + "</span>" : String(s.weight); }
function check(c) { return c ? '<span class="' + (c.ok ? "ok" : "bad") + '" title="' + esc(new Date(c.at).toLocaleTimeString()) + '">' + esc((c.ok ? "ok" : "failed") + (c.detail ? ": " + c.detail : "") + " (" + Math.round(c.duration_seconds * 1000) + " ms)") + "</span>" : "–"; }
function causes(f) { return Object.entries(f || {}).filter(([, n]) => n > 0).map(([c, n]) => c + " " + n).join(", ") || "–"; }
async function act(backend, server, action) {
  const r = await fetch("/servers/" + encodeURIComponent(backend) + "/" + encodeURIComponent(server) + "/" + action, { method: "POST", headers: { Authorization: "Bearer " + tokenBox.value } });
  document.getElementById("error").textContent = r.ok ? "" : action + " refused: " + r.status;
  await refresh();
}
function render() {
  if (!last) return;
  const dt = prev ? (last.at - prevAt) / 1000 : 0;
  document.getElementById("meta").textContent = "v" + last.data.version + " · up " + Math.round(last.data.uptime_seconds) + " s";
  const canAct = tokenBox.value.length > 0;
  document.getElementById("services").innerHTML = last.data.services.map((svc) => {
    const p = prev && prev.services.find((s) => s.name === svc.name);
    const total = svc.responses ? sum(svc.responses) : svc.sessions_total;
    const ptotal = p ? (p.responses ? sum(p.responses) : p.sessions_total) : undefined;
    const be = last.data.backends.find((b) => b.name === svc.backend) || { name: svc.backend, servers: [] };
    const pb = prev && prev.backends.find((b) => b.name === svc.backend);
    const rows = be.servers.map((s) => {
      const ps = pb && pb.servers.find((x) => x.name === s.name);
      const lt = s.last_transition;
      const buttons = canAct ? ["drain", "maint", "ready"].map((a) => '<button data-backend="' + esc(be.name) + '" data-server="' + esc(s.name) + '" data-action="' + a + '">' + a + "</button>").join("") : "";
      return '<tr data-server="' + esc(s.name) + '" data-state="' + esc(s.state) + '"><td>' + esc(s.name) + '</td><td><span class="state ' + esc(s.state) + '">' + esc(s.state) + "</span></td>" +
        '<td class="num wide">' + weight(s) + '</td><td class="num">' + s.sessions_current + '</td><td class="num wide">' + rate(s.sessions_total, ps && ps.sessions_total, dt) + "</td>" +
        '<td class="num wide">' + bytes(s.bytes_out) + "</td><td>" + esc(causes(s.failures)) + '</td><td class="check wide">' + check(s.last_check) + '</td><td class="why wide">' + (lt ? esc(new Date(lt.at).toLocaleTimeString() + " " + lt.state + ": " + lt.cause) : "–") + '</td><td class="acts">' + buttons + "</td></tr>";
    }).join("");
    return '<section data-service="' + esc(svc.name) + '"><h2>' + esc(svc.name) + " <small>" + esc(svc.protocol) + " · " + esc(svc.listen.join(", ")) + (be.declared ? " · backend " + esc(be.name) : "") + " · " + svc.sessions_current + " open · " +
      rate(total, ptotal, dt) + " " + (svc.responses ? "req" : "sessions") + "/s · " + versions(svc.requests) + bytes(svc.bytes_out) + " out</small></h2>" +
      '<table><thead><tr><th>server</th><th>state</th><th class="wide">weight</th><th>open</th><th class="wide">per s</th><th class="wide">out</th><th>failures</th><th class="wide">last check</th><th class="wide">last change</th><th></th></tr></thead><tbody>' + rows + "</tbody></table></section>";
  }).join("") + certificates(last.data.acme);
}
function versions(r) { const seen = Object.entries(r || {}).filter(([, n]) => n > 0); return seen.length ? '<span class="versions">' + esc(seen.map(([v, n]) => v + " " + n).join(", ")) + "</span> · " : ""; }
function when(t) { return t ? esc(new Date(t).toLocaleString()) : "–"; }
function certificates(list) {
  if (!list || list.length === 0) return "";
  const rows = list.map((c) => '<tr data-name="' + esc(c.name) + '"><td>' + esc(c.name) + '</td><td><span class="state ' + (c.state === "valid" ? "up" : "drain") + '">' + esc(c.state + (c.ordering ? ", ordering" : "")) + "</span></td><td>" + when(c.valid_until) +
    '</td><td class="wide">' + esc(c.issuer || "–") + '</td><td class="wide">' + when(c.last_attempt) + '</td><td class="why">' + esc(c.last_error || "–") + '</td><td class="wide">' + when(c.next_attempt) + "</td></tr>").join("");
  return '<section id="certificates"><h2>certificates <small>ACME</small></h2><table><thead><tr><th>name</th><th>state</th><th>valid until</th><th class="wide">issuer</th><th class="wide">last attempt</th><th>last error</th><th class="wide">next attempt</th></tr></thead><tbody>' + rows + "</tbody></table></section>";
}
document.getElementById("services").addEventListener("click", (e) => {
  const b = e.target.closest("button[data-action]");
  if (b) act(b.dataset.backend, b.dataset.server, b.dataset.action);
});
async function refresh() {
  try {
    const r = await fetch("/status.json", { headers: tokenBox.value ? { Authorization: "Bearer " + tokenBox.value } : {} });
    if (!r.ok) throw new Error("status.json: " + r.status);
    const data = await r.json();
    if (last) { prev = last.data; prevAt = last.at; }
    last = { data, at: Date.now() };
    if (!document.getElementById("error").textContent.includes("refused")) document.getElementById("error").textContent = "";
    render();
  } catch (err) { document.getElementById("error").textContent = String(err.message || err); }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
