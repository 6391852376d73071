/**
 * Reports as text for a terminal: figures beside the oracle's, the target
 * table, the timeline, the checks; and comparisons, one column per policy.
 *
 * @internal
 */
import type * as Report from "../Report.js"
import { legend as characters } from "./timeline.js"

/** The timeline's characters and what each means. @internal */
export const legend: ReadonlyArray<readonly [string, string]> = [
  [characters.served, "served"],
  [characters.slow, "served slowly"],
  [characters.partial, "some failed"],
  [characters.failed, "failed"],
  [characters.cancelled, "cancelled (timeout, lost hedge)"],
  [characters.open, "breaker open"],
  [characters.idle, "idle"]
]

const integer = (n: number) => Math.round(n).toLocaleString("en-US")
const percent = (share: number) => `${(share * 100).toFixed(2)}%`
const millis = (ms: number | null) => (ms === null ? "-" : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${integer(ms)} ms`)
const dollars = (amount: number) => `$${amount.toFixed(amount >= 100 ? 2 : 4)}`
const mark = (met: boolean | null) => (met === null ? "n/a " : met ? "MET " : "MISS")

const span = (ms: number) => {
  const minutes = ms / 60_000
  if (minutes >= 120) return `${(minutes / 60).toFixed(1)} hours`
  const rounded = Math.round(minutes * 10) / 10
  return `${rounded} ${rounded === 1 ? "minute" : "minutes"}`
}

/** Left-aligned first column, right-aligned others. */
const table = (rows: ReadonlyArray<ReadonlyArray<string>>, indent = "  "): ReadonlyArray<string> => {
  const widths: Array<number> = []
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)))
  return rows.map(
    (row) => indent + row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ").trimEnd()
  )
}

const counts = (record: Readonly<Record<string, number>>) =>
  Object.entries(record)
    .map(([key, n]) => `${key} ${integer(n)}`)
    .join(", ") || "-"

/** The router's p99 over the servable requests: "never" when it falls on one not answered. */
const servableP99 = (r: Report.Report) =>
  r.servableLatency.p99 === null && r.oracleLatency.p99 !== null ? `never (${integer(r.servableUnanswered)} unanswered)` : millis(r.servableLatency.p99)

const figures = (r: Report.Report): ReadonlyArray<string> =>
  table([
    ["", "router", "oracle"],
    ["availability", percent(r.availability), percent(r.oracleAvailability)],
    ["latency p50", millis(r.latency.p50), millis(r.oracleLatency.p50)],
    ["latency p95", millis(r.latency.p95), millis(r.oracleLatency.p95)],
    ["latency p99", millis(r.latency.p99), millis(r.oracleLatency.p99)],
    ["p99, servable requests", servableP99(r), millis(r.oracleLatency.p99)],
    ["cost", dollars(r.cost), dollars(r.oracleCost)],
    ["upstream calls", integer(r.upstreamCalls), ""],
    ["wasted calls", integer(r.wastedCalls), "0"],
    ["fallback rate", percent(r.fallbackRate), ""],
    ["failed / degraded", `${integer(r.failed)} / ${integer(r.degraded)}`, ""]
  ])

const targetTable = (r: Report.Report): ReadonlyArray<string> =>
  table([
    ["target", "calls", "served", "wasted", "opens", "cancelled", "budget", "failures", "refused"],
    ...r.targets.map((t) => [
      t.name,
      integer(t.calls),
      integer(t.served),
      integer(t.wasted),
      integer(t.breakerOpens),
      integer(t.cancelled),
      integer(t.budgetRefusals),
      ` ${counts(t.failures)}`,
      ` ${counts(t.rejected)}`
    ])
  ]).map((line) => line.replace(/\s+$/, ""))

const ruler = (count: number, minutesPerColumn: number) => {
  let ticks = ""
  for (let column = 0; column < count; column += 10) ticks += String(column * minutesPerColumn).padEnd(10)
  return ticks.slice(0, Math.max(count, 1)).trimEnd()
}

const timeline = (r: Report.Report): ReadonlyArray<string> => {
  const names = ["requests", ...r.targets.map((t) => t.name)]
  const width = Math.max(...names.map((n) => n.length))
  const unit = r.minutesPerColumn === 1 ? "minute" : `${r.minutesPerColumn} minutes`
  return [
    `Timeline (one column per ${unit}; ${legend.map(([c, what]) => `${c} ${what}`).join(", ")}):`,
    `  ${"".padEnd(width)}  ${ruler(r.timeline.length, r.minutesPerColumn)}`,
    `  ${"requests".padEnd(width)}  ${r.timeline}`,
    ...r.targets.map((t) => `  ${t.name.padEnd(width)}  ${t.timeline}`)
  ]
}

const checks = (r: Report.Report): ReadonlyArray<string> => r.checks.map((c) => `  ${mark(c.met)}  ${c.name}: ${c.detail}`)

/** One report as text. @internal */
export const report = (r: Report.Report): string =>
  [
    `Scenario ${r.scenario} under the ${r.policy} policy (seed ${r.seed})`,
    ...(r.description === undefined ? [] : [`  ${r.description}`]),
    `  ${integer(r.requests)} ${r.stream ? "streamed " : ""}requests over ${span(r.duration)} on chain ${r.chain} [${r.chainTargets.join(", ")}]`,
    "",
    ...figures(r),
    "",
    ...targetTable(r),
    "",
    ...timeline(r),
    "",
    "Targets:",
    ...checks(r)
  ].join("\n")

/** Several reports of one scenario, one column per policy. @internal */
export const comparison = (c: Report.Comparison): string => {
  const rs = c.reports
  const row = (label: string, cell: (r: Report.Report) => string) => [label, ...rs.map(cell)]
  const first = rs[0]
  const lines = table([
    ["", ...rs.map((r) => r.policy)],
    row("availability", (r) => percent(r.availability)),
    row("  oracle", (r) => percent(r.oracleAvailability)),
    row("failed / degraded", (r) => `${integer(r.failed)} / ${integer(r.degraded)}`),
    row("latency p50", (r) => millis(r.latency.p50)),
    row("latency p99", (r) => millis(r.latency.p99)),
    row("  oracle p99", (r) => millis(r.oracleLatency.p99)),
    row("upstream calls", (r) => integer(r.upstreamCalls)),
    row("wasted calls", (r) => integer(r.wastedCalls)),
    row("breaker opens", (r) => integer(r.targets.reduce((n, t) => n + t.breakerOpens, 0))),
    row("cost", (r) => dollars(r.cost)),
    row("  oracle", (r) => dollars(r.oracleCost)),
    row("fallback rate", (r) => percent(r.fallbackRate)),
    ...(first?.checks ?? []).map((check, i) => row(check.name, (r) => mark(r.checks[i]?.met ?? null).trim()))
  ])
  const header = first === undefined ? c.scenario : `Scenario ${c.scenario} (seed ${first.seed}): ${integer(first.requests)} requests over ${span(first.duration)}`
  const timelines = rs.flatMap((r) => [
    `  ${r.policy}:`,
    ...[["requests", r.timeline] as const, ...r.targets.map((t) => [t.name, t.timeline] as const)].map(
      ([name, row]) => `    ${name.padEnd(12)} ${row}`
    )
  ])
  return [header, "", ...lines, "", `Timelines (${legend.map(([ch, what]) => `${ch} ${what}`).join(", ")}):`, ...timelines].join("\n")
}
