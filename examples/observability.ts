/**
 * Fallback invisible to users, very visible to operators.
 *
 *   npm run example -- observability
 *
 * Pattern: the usual advice, "log every fallback, count by model, alert when the
 * fallback rate passes 5%, export to Prometheus, show a health dashboard,
 * track what fallbacks cost".
 *
 * The premium primary is down (HTTP 503) from minute 2 to minute 8 of twenty
 * minutes of traffic (a request every 10 seconds, virtual time). Every user
 * gets an answer; `Observability.attach` meanwhile logs each fallback and
 * breaker transition, counts everything as Effect metrics (printed here as
 * the Prometheus text `GET /metrics` serves), raises the fallback-rate alert
 * once when the rate crosses 5% and resolves it once after the recovery,
 * keeps the health dashboard (`GET /status`), and adds up what fallbacks
 * cost (`GET /v1/usage`). (The alert decides only once its 5-minute window
 * holds 20 requests, so it rises a little after the outage starts.)
 */
import { Chunk, Console, Duration, Effect, Logger, LogLevel, Option, Queue, Random } from "effect"
import { Chat } from "../src/llm/index.js"
import type { Alerts, CostReport, HealthSnapshot } from "../src/observability/index.js"
import { Observability } from "../src/observability/index.js"
import { Simulated } from "../src/providers/index.js"
import { Router } from "../src/router/index.js"
import { check, clock, runVirtual, usd, usdDelta } from "./internal/show.js"

const EVERY = Duration.seconds(10)
const REQUESTS = 120 // twenty minutes

const pct = (rate: number | null) => (rate === null ? "-" : `${(rate * 100).toFixed(1)}%`)
const millis = (q: { readonly p50: number; readonly p95: number } | null, which: "p50" | "p95") =>
  q === null ? "-" : `${Math.round(q[which])} ms`

/** The dashboard's table, as `GET /status` shows it in colour. */
const healthTable = (snapshot: HealthSnapshot.Snapshot, epoch: number): ReadonlyArray<string> => [
  `  at ${clock(snapshot.at, epoch)}`,
  `  ${"target".padEnd(8)} ${"state".padEnd(9)} ${"breaker".padEnd(10)} ${"retry in".padStart(9)} ${"calls".padStart(5)} ${
    "success".padStart(7)
  } ${"p50".padStart(7)} ${"p95".padStart(7)}  errors (5 min)`,
  ...snapshot.targets.map((t) =>
    [
      `  ${t.name.padEnd(8)}`,
      t.state.padEnd(9),
      t.breaker.state.padEnd(10),
      (t.breaker.retryInMillis === null ? "-" : `${Math.round(t.breaker.retryInMillis / 1000)} s`).padStart(9),
      String(t.calls).padStart(5),
      pct(t.successRate).padStart(7),
      millis(t.latencyMillis, "p50").padStart(7),
      millis(t.latencyMillis, "p95").padStart(7),
      ` ${Object.entries(t.errors).map(([cls, n]) => `${cls} x${n}`).join(", ") || "none"}`
    ].join(" ")
  )
]

const alertLine = (event: Alerts.AlertEvent, epoch: number) =>
  event._tag === "AlertRaised"
    ? `  [${clock(event.at, epoch)}] RAISED   ${event.alert}: ${pct(event.rate)} of ${event.requests} requests fell back (threshold ${pct(event.threshold)})`
    : `  [${clock(event.at, epoch)}] RESOLVED ${event.alert}: ${pct(event.rate)} of ${event.requests} requests (below ${pct(event.resolveBelow)}), raised at ${clock(event.raisedAt, epoch)}`

const costLines = (report: CostReport.Report): ReadonlyArray<string> => [
  `  ${"model".padEnd(28)} ${"requests".padStart(8)} ${"tokens in/out".padStart(14)} ${"cost".padStart(10)} ${"fallback extra".padStart(15)}`,
  ...report.byModel.map((m) =>
    `  ${`${m.provider}/${m.model}`.padEnd(28)} ${String(m.requests).padStart(8)} ${
      `${m.inputTokens}/${m.outputTokens}`.padStart(14)
    } ${usd(m.cost).padStart(10)} ${usdDelta(m.fallbackExtraCost).padStart(15)}`
  ),
  `  ${"total".padEnd(28)} ${String(report.totals.requests).padStart(8)} ${
    `${report.totals.inputTokens}/${report.totals.outputTokens}`.padStart(14)
  } ${usd(report.totals.cost).padStart(10)} ${usdDelta(report.totals.fallbackExtraCost).padStart(15)}`,
  `  shadow calls (never served): ${report.shadow.totals.calls}, ${usd(report.shadow.totals.cost)}`
]

/** The lines of the Prometheus text worth showing here. */
const excerpt = (text: string) =>
  text
    .split("\n")
    .filter((line) =>
      /^llm_(requests_total|fallbacks_total|circuit_breaker_state|cost_usd_total|fallback_extra_cost_usd_total|attempts_total|alert_active|fallback_rate)\{/
        .test(line)
    )
    .map((line) => `  ${line}`)

/** The log lines (warnings and above), kept to print a few: all of them would drown the output. */
const logLines: Array<string> = []
const logCapture = Logger.replace(
  Logger.defaultLogger,
  Logger.map(Logger.logfmtLogger, (line) => {
    logLines.push(line)
  }).pipe(Logger.filterLogLevel(LogLevel.greaterThanEqual(LogLevel.Warning)))
)

const program = Effect.gen(function* () {
  const premium = yield* Simulated.make({
    provider: "anthropic",
    model: "claude-sonnet-4-5",
    latency: "800 millis",
    info: { price: { input: 3, output: 15 } },
    faults: [{ from: "2 minutes", to: "8 minutes", status: 503 }]
  })
  const fast = yield* Simulated.make({
    provider: "openai",
    model: "gpt-4.1-mini",
    latency: "400 millis",
    info: { price: { input: 0.4, output: 1.6 } }
  })
  const router = yield* Router.make({
    targets: { sonnet: { model: premium }, mini: { model: fast } },
    chains: { default: ["sonnet", "mini"] },
    policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 3, openDuration: { base: "30 seconds" } } },
    shadowRate: 0.05
  })
  const epoch = yield* Effect.clockWith((c) => c.currentTimeMillis)
  const observability = yield* Observability.attach(router, { labels: { router: "example" } })

  // subscribed before the traffic starts, so no alert event can be missed
  const alertEvents = yield* Option.getOrThrow(observability.alert).subscribe

  let served = 0
  let spent = 0
  let midOutage: HealthSnapshot.Snapshot | undefined
  for (let i = 0; i < REQUESTS; i++) {
    const { meta } = yield* router.complete(Chat.prompt(`Customer question ${i}: where is my order?`))
    served++
    spent += meta.cost
    if (i === 33) {
      yield* observability.flush
      midOutage = yield* observability.snapshot
    }
    yield* Effect.sleep(EVERY)
  }
  yield* observability.flush

  yield* Console.log(`Every one of ${served} users got an answer. What operators saw:\n`)
  yield* Console.log("GET /metrics (excerpt):")
  const metrics = yield* observability.render
  yield* Console.log(excerpt(metrics).join("\n"))

  yield* Console.log("\nGET /status, mid-outage:")
  yield* Console.log(healthTable(midOutage!, epoch).join("\n"))
  yield* Console.log("\nGET /status, at the end:")
  const end = yield* observability.snapshot
  yield* Console.log(healthTable(end, epoch).join("\n"))
  yield* Console.log(`  recent fallbacks: ${end.recentFallbacks.slice(0, 3).map((f) => `${clock(f.at, epoch)} ${f.from} -> ${f.to} (${f.reason})`).join("; ")}`)

  yield* Console.log(`\nLog lines: ${logLines.length} warnings, one per fallback and per breaker opening; the first ones:`)
  yield* Console.log(logLines.slice(0, 4).map((line) => `  ${line}`).join("\n"))

  const alerts: ReadonlyArray<Alerts.AlertEvent> = Chunk.toArray(yield* Queue.takeAll(alertEvents))
  yield* Console.log("\nAlerts:")
  yield* Console.log(alerts.map((a) => alertLine(a, epoch)).join("\n"))

  yield* Console.log("\nGET /v1/usage:")
  const report = yield* observability.costReport()
  yield* Console.log(costLines(report).join("\n"))

  yield* check(alerts.map((a) => a._tag).join(",") === "AlertRaised,AlertResolved", "one alert raised and one resolved")
  yield* check(Math.abs(report.totals.cost - spent) < 1e-12, "the cost report adds up to the requests' costs")
  yield* check(report.totals.requests === REQUESTS, "every request is in the cost report")
  yield* check(metrics.includes(`llm_requests_total{router="example",chain="default",outcome="success"} ${REQUESTS}`), "requests counted")
  yield* check(midOutage?.targets.find((t) => t.name === "sonnet")?.state === "down", "the primary shows down mid-outage")
  yield* check(end.targets.every((t) => t.state === "healthy"), "every target healthy at the end")
})

// a seeded Random: the 5% of requests shadowed are the same on every run
runVirtual(Effect.scoped(program).pipe(Effect.withRandom(Random.make(7)), Effect.provide(logCapture)), "1 hour")
