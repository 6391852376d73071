/**
 * Health-aware routing around a gray failure.
 *
 *   npm run example -- health-aware
 *
 * Pattern: the hand-written HealthAwareRouter and ProviderHealth (success counts,
 * recent latencies, "route to healthy providers", a `status()` dashboard),
 * and the advice to "route around degraded providers proactively".
 *
 * The primary is not down: it fails 40% of its calls (a gray failure, HTTP
 * 500 after a 2-second wait) for the first three minutes. A breaker set for hard outages never
 * trips on that, and a priority chain keeps sending every request to it
 * first, so 40% of requests pay for a failed call before their fallback.
 * With `strategy: "health"` the router watches each target's success rate
 * over a rolling window and moves a degraded target to the end of the chain
 * (never out of it). When the window has forgotten its failures the primary
 * is tried again: while the gray failure lasts it is soon demoted again;
 * afterwards it stays first.
 *
 * The same four minutes of traffic (a request every 4 seconds, virtual
 * time, the same seeded faults) run through both strategies.
 */
import { Clock, Console, Duration, Effect } from "effect"
import { Chat } from "../src/llm/index.js"
import { Simulated } from "../src/providers/index.js"
import type { Strategy } from "../src/router/index.js"
import { Router } from "../src/router/index.js"
import { check, clock, ms, runVirtual, statusTable } from "./internal/show.js"

const GRAY_UNTIL = Duration.minutes(3)
const EVERY = Duration.seconds(4)
const REQUESTS = 60

interface Outcome {
  readonly servedByPrimary: number
  readonly needingFallback: number
  readonly primaryFailures: number
  readonly meanLatency: number
  readonly grayPhaseOnPrimary: number
  readonly grayPhaseRequests: number
  readonly lastTenOnPrimary: number
  readonly midAt: number
  readonly midStatus: ReadonlyArray<Router.TargetStatus>
  readonly endStatus: ReadonlyArray<Router.TargetStatus>
}

/** Four minutes of traffic through a chain of `primary` then `backup`, ordered by `strategy`. */
const traffic = (strategy: Strategy.Name) =>
  Effect.gen(function* () {
    const primary = yield* Simulated.make({
      provider: "openai",
      model: "gpt-4.1",
      latency: "300 millis",
      seed: 11,
      // a failing call takes 2 s before its 500, as an overloaded server's often do
      faults: [{ to: GRAY_UNTIL, status: 500, errorRate: 0.4, after: "2 seconds" }]
    })
    const backup = yield* Simulated.make({ provider: "anthropic", model: "claude-sonnet-4-5", latency: "600 millis" })
    const router = yield* Router.make({
      targets: { primary: { model: primary }, backup: { model: backup } },
      chains: { default: { targets: ["primary", "backup"], strategy } },
      policy: {
        retry: { maxAttempts: 1 }, // no retries: every failure shows
        breaker: { consecutiveFailures: 10 } // the breaker is for hard outages, not for a 40% gray failure
      },
      // success rate over the last 60 s; below 80% (after 5 calls) is degraded
      health: { window: "60 seconds", minimumCalls: 5, degradedBelow: 0.8 },
      cache: false
    })
    let servedByPrimary = 0
    let needingFallback = 0
    let latency = 0
    let grayPhaseOnPrimary = 0
    let grayPhaseRequests = 0
    let lastTenOnPrimary = 0
    let midStatus: ReadonlyArray<Router.TargetStatus> = []
    let midAt = 0
    for (let i = 0; i < REQUESTS; i++) {
      const at = (yield* Clock.currentTimeMillis) - primary.epoch
      const { meta } = yield* router.complete(Chat.prompt(`request ${i}`))
      const onPrimary = meta.target === "primary"
      if (onPrimary) servedByPrimary++
      if (meta.fallbacks > 0) needingFallback++
      if (at < Duration.toMillis(GRAY_UNTIL)) {
        grayPhaseRequests++
        if (onPrimary) grayPhaseOnPrimary++
      }
      if (i >= REQUESTS - 10 && onPrimary) lastTenOnPrimary++
      latency += Duration.toMillis(meta.latency)
      if (i === 22) {
        midStatus = yield* router.status
        midAt = yield* Clock.currentTimeMillis
      }
      const next = primary.epoch + (i + 1) * Duration.toMillis(EVERY)
      yield* Effect.sleep(Duration.millis(Math.max(0, next - (yield* Clock.currentTimeMillis))))
    }
    const stats = yield* primary.stats
    return {
      servedByPrimary,
      needingFallback,
      primaryFailures: stats.failed,
      meanLatency: latency / REQUESTS,
      grayPhaseOnPrimary,
      grayPhaseRequests,
      lastTenOnPrimary,
      midAt: midAt - primary.epoch,
      midStatus,
      endStatus: yield* router.status
    } satisfies Outcome
  }).pipe(Effect.scoped)

const summary = (name: string, o: Outcome) =>
  Console.log(
    `${name.padEnd(9)} ${String(o.servedByPrimary).padStart(9)} ${String(o.needingFallback).padStart(9)} ${String(o.primaryFailures).padStart(9)} ${ms(o.meanLatency).padStart(13)}`
  )

const program = Effect.gen(function* () {
  const priority = yield* traffic("priority")
  const health = yield* traffic("health")

  yield* Console.log(`primary: 40% of calls fail (HTTP 500 after 2 s) until 03:00; backup: reliable but slower (600 ms vs 300 ms)`)
  yield* Console.log(`${REQUESTS} requests, one every 4 s:\n`)
  yield* Console.log(`${"strategy".padEnd(9)} ${"primary".padStart(9)} ${"fallback".padStart(9)} ${"failures".padStart(9)} ${"mean latency".padStart(13)}`)
  yield* summary("priority", priority)
  yield* summary("health", health)

  yield* Console.log(`\nrouter.status with strategy "health" at ${clock(health.midAt, 0)}, inside the gray failure:`)
  for (const line of statusTable(health.midStatus)) yield* Console.log(`  ${line}`)
  yield* Console.log(`\nrouter.status at the end (04:00), the primary healthy again:`)
  for (const line of statusTable(health.endStatus)) yield* Console.log(`  ${line}`)

  const mid = health.midStatus.find((s) => s.name === "primary")!
  yield* check(mid.health.degraded, "the health window calls the gray primary degraded")
  yield* check(mid.breaker.state === "closed", "the breaker does not trip on a gray failure")
  yield* check(health.primaryFailures < priority.primaryFailures / 2, "the health strategy spares most failed calls")
  yield* check(health.needingFallback < priority.needingFallback / 2, "the health strategy spares most fallbacks")
  yield* check(health.meanLatency < priority.meanLatency, "... and so lowers the mean latency")
  yield* check(health.grayPhaseOnPrimary < health.grayPhaseRequests / 2, "during the gray failure the backup serves most requests")
  yield* check(health.lastTenOnPrimary === 10, "after the gray failure the primary serves first again")
})

runVirtual(program)
