/**
 * The status page's HTML: one self-contained document (inline style and
 * script, no external asset), every text escaped.
 *
 * @internal
 */
import type { Snapshot, TargetHealth } from "../HealthSnapshot.js"

/** Escapes text for HTML content and quoted attribute values. @internal */
export const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"))

/**
 * `850 ms`, `1.2 s`, `12 s`, `2 min 5 s`: rounded to what is shown first,
 * so 999.6 ms is `1.0 s` and 119.6 s is `2 min`.
 *
 * @internal
 */
export const duration = (millis: number): string => {
  const ms = Math.round(millis)
  if (ms < 1_000) return `${ms} ms`
  const tenths = Math.round(millis / 100)
  if (tenths < 100) return `${(tenths / 10).toFixed(1)} s`
  const seconds = Math.round(millis / 1_000)
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  const rest = seconds % 60
  return rest === 0 ? `${minutes} min` : `${minutes} min ${rest} s`
}

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`

const time = (at: number) => new Date(at).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")

const cell = (text: string, className?: string) =>
  className === undefined ? `<td>${escape(text)}</td>` : `<td class="${className}">${escape(text)}</td>`

const badge = (kind: string, value: string) =>
  `<span class="badge ${kind}-${escape(value)}" data-${kind}="${escape(value)}">${escape(value)}</span>`

const errorsText = (errors: TargetHealth["errors"]) => {
  const entries = Object.entries(errors).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
  return entries.length === 0 ? "none" : entries.map(([cls, n]) => `${cls} ×${n}`).join(", ")
}

const targetRow = (t: TargetHealth) =>
  [
    `<tr class="row-${escape(t.state)}" data-target="${escape(t.name)}" data-state="${escape(t.state)}" data-breaker="${escape(t.breaker.state)}">`,
    `<th scope="row">${escape(t.name)}</th>`,
    cell(`${t.provider} / ${t.model}`, "muted"),
    `<td>${badge("state", t.state)}</td>`,
    `<td>${badge("breaker", t.breaker.state)}</td>`,
    cell(t.breaker.retryInMillis === null ? (t.breaker.state === "isolated" ? "until reset" : "–") : duration(t.breaker.retryInMillis), "num"),
    cell(String(t.calls), "num"),
    cell(t.successRate === null ? "–" : percent(t.successRate), "num"),
    cell(t.latencyMillis === null ? "–" : duration(t.latencyMillis.p50), "num"),
    cell(t.latencyMillis === null ? "–" : duration(t.latencyMillis.p95), "num"),
    cell(errorsText(t.errors), "errors"),
    "</tr>"
  ].join("")

const fallbackRow = (f: Snapshot["recentFallbacks"][number]) =>
  `<tr>${cell(time(f.at), "muted")}${cell(f.chain)}${cell(`${f.from} → ${f.to}`)}${cell(f.reason)}${cell(String(f.requestId), "num")}</tr>`

const alertLine = (a: Snapshot["alerts"][number]) =>
  `<p class="alert" role="alert">${escape(
    `Alert ${a.alert}: ${percent(a.rate)} of ${a.requests} requests fell back (threshold ${percent(a.threshold)}), raised at ${time(a.since)}`
  )}</p>`

const summary = (snapshot: Snapshot) => {
  const count = (state: string) => snapshot.targets.filter((t) => t.state === state).length
  return `${count("healthy")} healthy · ${count("degraded")} degraded · ${count("down")} down — updated ${time(snapshot.at)}`
}

const style = `
:root { color-scheme: light; --green: #1a7f37; --amber: #bf8700; --red: #cf222e; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f6f8fa; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.summary, .muted { color: var(--muted); }
.summary { margin: 0 0 16px; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: middle; }
thead th { background: #eef1f4; font-size: 13px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.errors { font-size: 13px; }
tbody tr { border-left: 6px solid transparent; }
tr.row-healthy { border-left-color: var(--green); }
tr.row-degraded { border-left-color: var(--amber); }
tr.row-down { border-left-color: var(--red); }
.badge { display: inline-block; min-width: 76px; text-align: center; padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: 13px; color: #fff; white-space: nowrap; }
.state-healthy, .breaker-closed { background: var(--green); }
.state-degraded, .breaker-half-open { background: var(--amber); color: var(--ink); }
.state-down, .breaker-open, .breaker-isolated { background: var(--red); }
.alert { margin: 0 0 16px; padding: 10px 14px; border-radius: 6px; background: #ffebe9; border: 1px solid var(--red); color: #82071e; font-weight: 600; }
.empty { color: var(--muted); font-style: italic; }
body.stale main::before { content: "Connection lost: showing the last known state"; display: block; margin-bottom: 12px; padding: 8px 12px; background: #fff8c5; border: 1px solid var(--amber); border-radius: 6px; }
`

const script = (refreshMillis: number) => `
(() => {
  const every = ${refreshMillis};
  const tick = async () => {
    try {
      const res = await fetch(location.href, { cache: "no-store", headers: { accept: "text/html" } });
      if (!res.ok) throw new Error(String(res.status));
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const next = doc.getElementById("status");
      const current = document.getElementById("status");
      if (next !== null && current !== null) current.replaceWith(document.importNode(next, true));
      document.title = doc.title;
      document.body.classList.remove("stale");
    } catch (e) {
      document.body.classList.add("stale");
    }
    setTimeout(tick, every);
  };
  setTimeout(tick, every);
})();
`

/** The whole page. @internal */
export const page = (snapshot: Snapshot, title: string, refreshSeconds: number): string => {
  const down = snapshot.targets.filter((t) => t.state === "down").length
  const fullTitle = `${down > 0 ? `(${down} down) ` : ""}${title}`
  const targets = snapshot.targets.length === 0
    ? `<tr><td colspan="10" class="empty">No targets.</td></tr>`
    : snapshot.targets.map(targetRow).join("\n")
  const fallbacks = snapshot.recentFallbacks.length === 0
    ? `<tr><td colspan="5" class="empty">No fallback yet.</td></tr>`
    : snapshot.recentFallbacks.map(fallbackRow).join("\n")
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(fullTitle)}</title>
<noscript><meta http-equiv="refresh" content="${refreshSeconds}"></noscript>
<style>${style}</style>
</head>
<body>
<main id="status" data-at="${snapshot.at}">
<h1>${escape(title)}</h1>
<p class="summary">${escape(summary(snapshot))}</p>
${snapshot.alerts.map(alertLine).join("\n")}
<table class="targets">
<thead><tr><th>Target</th><th>Provider / model</th><th>State</th><th>Breaker</th><th>Retries in</th><th>Calls</th><th>Success</th><th>p50</th><th>p95</th><th>Errors (${escape(duration(snapshot.windowMillis))})</th></tr></thead>
<tbody>
${targets}
</tbody>
</table>
<h2>Recent fallbacks</h2>
<table class="fallbacks">
<thead><tr><th>When</th><th>Chain</th><th>From → to</th><th>Reason</th><th>Request</th></tr></thead>
<tbody>
${fallbacks}
</tbody>
</table>
</main>
<script>${script(refreshSeconds * 1000)}</script>
</body>
</html>
`
}
