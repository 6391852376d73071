/**
 * The simulator's audit: small hand-made scenarios whose right figures are
 * worked out on paper.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { join } from "node:path"
import type * as Simulated from "../../src/providers/Simulated.js"
import * as Report from "../../src/simulator/Report.js"
import * as Scenario from "../../src/simulator/Scenario.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { percentiles } from "../../src/simulator/internal/report.js"

const parse = (text: string) => Scenario.parse(text, { source: "audit.yaml" })

const run = (text: string, policy?: Simulator.PolicyName) =>
  Effect.flatMap(parse(text), (scenario) =>
    Effect.map(Simulator.run(scenario, policy === undefined ? {} : { policy }), ({ report }) => ({ scenario, report }))
  )

const target = (report: Report.Report, name: string) => report.targets.find((t) => t.name === name)!

describe("audit: the oracle judges a target as the router can use it", () => {
  /**
   * Two minutes, one streamed request a second. `small` is fast (100 ms, then 10 ms a token) and
   * cheap, but its window (1,100 tokens) cannot hold a 1,000-token prompt and a 200-token answer:
   * the router passes over it. `capped` answers at most 50 tokens (its maxOutputTokens): 300 ms to
   * the first token, then 49 more 10 ms apart, 790 ms; it bills the prompt at $1 and 50 tokens at
   * $10 per million. The oracle can do no better than `capped`.
   */
  const windows = `
seed: 5
load: { duration: "2 minutes", requestsPerSecond: 1, arrivals: even, promptTokens: 1000, completionTokens: 200, stream: true }
providers:
  a: { type: simulated, latency: "100 millis", tokenDelay: "10 millis" }
  b: { type: simulated, latency: "300 millis", tokenDelay: "10 millis" }
models:
  small: { provider: a, contextWindow: 1100, price: { input: 0.1, output: 0.1 } }
  capped: { provider: b, maxOutputTokens: 50, price: { input: 1, output: 10 } }
chains: { default: [small, capped] }
`

  it.effect("a target whose window cannot hold the request is not servable; an answer is as long as the model's maxOutputTokens", () =>
    Effect.gen(function* () {
      const { report } = yield* run(windows)
      expect(target(report, "small").calls).toBe(0)
      expect(report.served).toBe(report.requests)
      expect(report.latency).toEqual({ p50: 790, p95: 790, p99: 790 })
      expect(report.oracleLatency).toEqual({ p50: 790, p95: 790, p99: 790 })
      expect(report.oracleCost).toBeCloseTo(report.cost, 12)
    })
  )

  it.effect("a chain none of whose targets can hold the request: the oracle serves none of it", () =>
    Effect.gen(function* () {
      const { report } = yield* run(windows.replace("chains: { default: [small, capped] }", "chains: { default: [small] }"))
      expect(report.served).toBe(0)
      expect(report.oracleAvailability).toBe(0)
      expect(report.oracleLatency).toEqual({ p50: null, p95: null, p99: null })
      expect(report.oracleCost).toBe(0)
    })
  )
})

describe("audit: the timeline's columns", () => {
  /**
   * 89.5 s of traffic, one request a second: two columns, the second holding only 29.5 s of
   * traffic. The primary is down from minute 1 on; its breaker trips on the two requests at about
   * 60 s and 61 s and stays open to the end, about 28 of the 29 seconds the second column covers.
   */
  const partial = (duration: string) => `
seed: 5
load: { duration: "${duration}", requestsPerSecond: 1, arrivals: even, promptTokens: 100, completionTokens: 20 }
providers:
  a: { type: simulated, latency: "50 millis", faults: [{ from: "1 minute", status: 529 }] }
  b: { type: simulated, latency: "50 millis" }
models:
  primary: { provider: a }
  backup: { provider: b }
chains: { default: [primary, backup] }
policy:
  retry: { maxAttempts: 1 }
  breaker: { consecutiveFailures: 2, openDuration: { base: "1 hour", cap: "1 hour" } }
`

  it.effect("a last column shorter than a minute is open when the breaker was open for most of the time it covers, as a whole one is", () =>
    Effect.gen(function* () {
      const whole = (yield* run(partial("119500 millis"))).report
      expect(whole.timeline).toBe("==")
      expect(target(whole, "primary").timeline).toBe("=o")
      const short = (yield* run(partial("89500 millis"))).report
      expect(short.minutesPerColumn).toBe(1)
      expect(short.timeline).toBe("==")
      expect(target(short, "primary")).toMatchObject({ wasted: 2, breakerOpens: 1 })
      expect(target(short, "primary").timeline).toBe("=o")
      expect(target(short, "backup").timeline).toBe(".=")
    })
  )
})

describe("audit: figures worked out on paper", () => {
  /**
   * 239.5 s of traffic, one request a second (240 requests). Provider `a` hosts two models of the
   * chain and fails 529 in [1 min, 2 min) and 500 in [90 s, 150 s): one outage, [60 s, 150 s), for
   * each model. Each breaker trips on 2 failures and stays open; `b` serves the rest.
   */
  const overlapping = `
seed: 5
load: { duration: "239500 millis", requestsPerSecond: 1, arrivals: even, promptTokens: 100, completionTokens: 20 }
providers:
  a: { type: simulated, latency: "50 millis", faults: [{ from: "1 minute", to: "2 minutes", status: 529 }, { from: "90 seconds", to: "150 seconds", status: 500 }] }
  b: { type: simulated, latency: "300 millis" }
models:
  m1: { provider: a }
  m2: { provider: a }
  backup: { provider: b }
chains: { default: [m1, m2, backup] }
policy:
  retry: { maxAttempts: 1 }
  breaker: { consecutiveFailures: 2, openDuration: { base: "1 hour", cap: "1 hour" }, probeWhenAllOpen: false }
`

  it.effect("overlapping faults on a provider hosting two models: one merged outage per model, each paying its own threshold", () =>
    Effect.gen(function* () {
      const { report, scenario } = yield* run(overlapping)
      const before = Scenario.arrivals(scenario).filter((at) => at < 60_000).length
      for (const name of ["m1", "m2"]) {
        expect(target(report, name)).toMatchObject({
          wasted: 2,
          breakerOpens: 1,
          // allowed: its threshold 2 + 1 probe for the default schedule's one half-open spell in 90 s (the yardstick
          // no longer counts the half-open spells the policy went through: none here)
          outages: [{ from: 60_000, to: 150_000, wasted: 2, halfOpens: 0, spells: 1, allowed: 3 }]
        })
      }
      expect(report.wastedCalls).toBe(4)
      expect(report.availability).toBe(1)
      // answered by m1 before the outage, by the backup from then on: the fallback rate's denominator is the answered requests
      expect(report.fallbackRate).toBe((240 - before) / 240)
      expect(report.checks[1]).toMatchObject({ met: true })
    })
  )

  /** One target, 30% of its calls fail (500) for the whole run, no retry: the oracle counts every request servable. */
  const gray = `
seed: 5
load: { duration: "239500 millis", requestsPerSecond: 1, arrivals: even, promptTokens: 100, completionTokens: 20 }
providers:
  p: { type: simulated, latency: "200 millis", faults: [{ status: 500, errorRate: 0.3 }] }
models:
  m: { provider: p }
policy:
  retry: { maxAttempts: 1 }
  breaker: { consecutiveFailures: 0 }
`

  it.effect("a gray failure: servable for the oracle (a call may succeed), no call wasted, and the router short of it by the calls that drew a failure", () =>
    Effect.gen(function* () {
      const { report } = yield* run(gray)
      expect(report.oracleAvailability).toBe(1)
      expect(report.wastedCalls).toBe(0)
      expect(report.targets[0]!.outages).toEqual([])
      const failed = report.targets[0]!.failures["ServerError"] ?? 0
      expect(report.failed).toBe(failed)
      expect(failed / 240).toBeGreaterThan(0.2)
      expect(failed / 240).toBeLessThan(0.4)
      expect(report.checks[0]).toMatchObject({ met: false })
      // the same seed, the same draws: the same report
      expect((yield* run(gray)).report).toEqual(report)
    })
  )

  /**
   * The primary (50 ms) answers in 45 s during minute 1; the backup takes 300 ms. The oracle's
   * latency is the fastest target at each arrival: 50 ms outside the spike, 300 ms in it (the
   * backup), so its p50 is 50 ms and its p95 and p99 300 ms.
   */
  const slow = `
seed: 5
load: { duration: "239500 millis", requestsPerSecond: 1, arrivals: even, promptTokens: 100, completionTokens: 20 }
providers:
  a: { type: simulated, latency: "50 millis", faults: [{ from: "1 minute", to: "2 minutes", latency: "45 seconds" }] }
  b: { type: simulated, latency: "300 millis" }
models:
  primary: { provider: a }
  backup: { provider: b }
chains: { default: [primary, backup] }
policy:
  hedge: false
  retry: { maxAttempts: 1 }
`

  it.effect("a slow window: the oracle takes the fastest target at the arrival; a call begun in the window keeps its 45 s", () =>
    Effect.gen(function* () {
      const { report, scenario } = yield* run(slow)
      const inSpike = Scenario.arrivals(scenario).filter((at) => at >= 60_000 && at < 120_000).length
      expect(report.oracleAvailability).toBe(1)
      expect(report.oracleLatency).toEqual({ p50: 50, p95: 300, p99: 300 })
      // no hedge, no slow-call trip within the spike: every request of the spike waits its 45 s
      expect(report.availability).toBe(1)
      expect(report.latency.p99).toBe(45_000)
      expect(report.wastedCalls).toBe(0)
      expect(inSpike).toBeGreaterThanOrEqual(59)
      expect(target(report, "primary").timeline).toBe("=s==")
      expect(report.checks[2]).toMatchObject({ met: false })
    })
  )
})

describe("audit: percentiles on small samples", () => {
  it("nearest rank: the smallest value with at least q of the sample at or below it", () => {
    const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1)
    expect(percentiles([])).toEqual({ p50: null, p95: null, p99: null })
    expect(percentiles([7])).toEqual({ p50: 7, p95: 7, p99: 7 })
    expect(percentiles(upTo(2))).toEqual({ p50: 1, p95: 2, p99: 2 })
    expect(percentiles(upTo(3))).toEqual({ p50: 2, p95: 3, p99: 3 })
    expect(percentiles(upTo(20))).toEqual({ p50: 10, p95: 19, p99: 20 })
    expect(percentiles(upTo(100))).toEqual({ p50: 50, p95: 95, p99: 99 })
    expect(percentiles(upTo(101))).toEqual({ p50: 51, p95: 96, p99: 100 })
    // q x n computed in floating point never lands just above a whole rank
    for (let n = 1; n <= 3_000; n++) {
      const { p50, p95, p99 } = percentiles(upTo(n))
      expect([p50, p95, p99]).toEqual([Math.ceil((50 * n) / 100), Math.ceil((95 * n) / 100), Math.ceil((99 * n) / 100)])
    }
  })
})

describe("audit: the scenario library holds the issue's incidents, each as its name says", () => {
  const dir = join(import.meta.dirname, "..", "..", "examples", "scenarios")
  const load = (name: string) => Scenario.load(join(dir, `${name}.yaml`)).pipe(Effect.provide(NodeContext.layer))
  const minutes = (d: Duration.Duration | undefined) => (d === undefined ? undefined : Duration.toMillis(d) / 60_000)

  /** The chain's targets, each with its provider's name and faults. */
  const chainOf = (scenario: Scenario.Scenario) =>
    Scenario.chainTargets(scenario.config, scenario.load.chain ?? "default").map((name) => {
      const provider = scenario.config.models[name]!.provider
      const entry = scenario.config.providers[provider]!
      return { name, provider, faults: entry.type === "simulated" ? entry.faults ?? [] : [] }
    })

  /** Windows, in minutes, of the faults of one kind. */
  const windowsOf = (faults: ReadonlyArray<Simulated.Fault>, kind: (fault: Simulated.Fault) => boolean) =>
    faults.filter(kind).map((f) => [minutes(f.from) ?? 0, minutes(f.to)] as const)

  it.effect("primary hard down for 20 minutes (529); the other targets up", () =>
    Effect.gen(function* () {
      const [primary, ...rest] = chainOf(yield* load("primary-down"))
      expect(windowsOf(primary!.faults, (f) => "status" in f && f.status === 529 && f.errorRate === undefined)).toEqual([[10, 30]])
      for (const t of rest) expect(t.faults).toEqual([])
    })
  )

  it.effect("a rate-limit storm: 429 with a Retry-After", () =>
    Effect.gen(function* () {
      const [primary] = chainOf(yield* load("rate-limit-storm"))
      const storm = primary!.faults.filter((f): f is Simulated.StatusFault => "status" in f && f.status === 429 && f.retryAfter !== undefined)
      // every call of a window, at least in one: an outage, not only a gray failure
      expect(storm.some((f) => f.errorRate === undefined)).toBe(true)
    })
  )

  it.effect("a latency spike past 30 s", () =>
    Effect.gen(function* () {
      const [primary] = chainOf(yield* load("latency-spike"))
      const slow = primary!.faults.filter((f): f is Simulated.SlowFault => "latency" in f)
      expect(slow).toHaveLength(1)
      expect(Duration.isDuration(slow[0]!.latency) && Duration.toMillis(slow[0]!.latency)).toBeGreaterThan(30_000)
    })
  )

  it.effect("flapping: one minute down, one minute up, again and again", () =>
    Effect.gen(function* () {
      const [primary] = chainOf(yield* load("flapping"))
      const down = windowsOf(primary!.faults, (f) => "status" in f && f.errorRate === undefined)
      expect(down.length).toBeGreaterThanOrEqual(10)
      down.forEach(([from, to], i) => {
        expect(to! - from).toBe(1)
        if (i > 0) expect(from - down[i - 1]![1]!).toBe(1)
      })
    })
  )

  it.effect("a gray failure: 30% of the calls fail with a 500", () =>
    Effect.gen(function* () {
      const [primary] = chainOf(yield* load("gray-failure"))
      expect(primary!.faults).toHaveLength(1)
      expect(primary!.faults[0]).toMatchObject({ status: 500, errorRate: 0.3 })
    })
  )

  it.effect("an outage of one provider that hosts two of the chain's models", () =>
    Effect.gen(function* () {
      const chain = chainOf(yield* load("shared-provider"))
      const down = chain.filter((t) => t.faults.some((f) => "status" in f && f.errorRate === undefined))
      expect(down).toHaveLength(2)
      expect(down[0]!.provider).toBe(down[1]!.provider)
      expect(chain.some((t) => t.faults.length === 0)).toBe(true)
    })
  )

  it.effect("every target down at once", () =>
    Effect.gen(function* () {
      const chain = chainOf(yield* load("all-down"))
      const windows = chain.map((t) => windowsOf(t.faults, (f) => "status" in f && f.errorRate === undefined))
      const from = Math.max(...windows.map((w) => w[0]![0]))
      const to = Math.min(...windows.map((w) => w[0]![1]!))
      expect(chain.length).toBeGreaterThanOrEqual(3)
      expect(to - from).toBeGreaterThanOrEqual(10)
    })
  )
})

describe("audit: the fallback rate counts every request that needed a fallback, as the fallback-rate alert does", () => {
  /**
   * 239.5 s of traffic, one request a second (240 requests). Both targets are down in minute 1,
   * no retry, no breaker: each request of that minute tries the primary, falls back to the
   * backup, and fails. The others are served by the primary. The fallback rate is the share of
   * the requests that fell back: those of minute 1, not zero.
   */
  const bothDown = `
seed: 5
load: { duration: "239500 millis", requestsPerSecond: 1, arrivals: even, promptTokens: 100, completionTokens: 20 }
providers:
  a: { type: simulated, latency: "50 millis", faults: [{ from: "1 minute", to: "2 minutes", status: 529 }] }
  b: { type: simulated, latency: "300 millis", faults: [{ from: "1 minute", to: "2 minutes", status: 503 }] }
models:
  primary: { provider: a }
  backup: { provider: b }
chains: { default: [primary, backup] }
policy:
  retry: { maxAttempts: 1 }
  breaker: { consecutiveFailures: 0 }
`

  it.effect("requests that fell back and failed count; the denominator is every request", () =>
    Effect.gen(function* () {
      const { report, scenario } = yield* run(bothDown)
      const down = Scenario.arrivals(scenario).filter((at) => at >= 60_000 && at < 120_000).length
      expect(report.failed).toBe(down)
      expect(target(report, "backup").calls).toBe(down)
      expect(report.fallbackRate).toBe(down / 240)
    })
  )

  it.effect("an answer from degraded mode is a fallback", () =>
    Effect.gen(function* () {
      const { report } = yield* run(
        bothDown.replace("chains: { default: [primary, backup] }", "chains: { default: { targets: [primary], fallbackResponse: \"Sorry.\" } }")
      )
      expect(report.degraded).toBeGreaterThan(50)
      expect(report.fallbackRate).toBe(report.degraded / report.requests)
    })
  )
})

describe("audit: breaker openings on several instances", () => {
  /**
   * Two instances take the requests in turn (two a second, evenly spaced); the primary is down
   * in minute 1, and a breaker trips on 2 failures and stays open. Without shared state each
   * instance trips its own breaker on its own two failures: two openings, four wasted calls.
   * With it, the first to trip opens the other's (a mirrored opening, not one more).
   */
  const instances = (shared: boolean) => `
seed: 5
load: { duration: "239500 millis", requestsPerSecond: 2, arrivals: even, promptTokens: 100, completionTokens: 20, instances: 2, shared: ${shared} }
providers:
  a: { type: simulated, latency: "50 millis", faults: [{ from: "1 minute", to: "2 minutes", status: 529 }] }
  b: { type: simulated, latency: "300 millis" }
models:
  primary: { provider: a }
  backup: { provider: b }
chains: { default: [primary, backup] }
policy:
  retry: { maxAttempts: 1 }
  breaker: { consecutiveFailures: 2, openDuration: { base: "1 hour", cap: "1 hour" } }
`

  it.effect("without shared state every instance's opening counts; with it, a mirrored opening does not", () =>
    Effect.gen(function* () {
      const alone = (yield* run(instances(false))).report
      expect(target(alone, "primary")).toMatchObject({ wasted: 4, breakerOpens: 2 })
      const shared = (yield* run(instances(true))).report
      expect(target(shared, "primary")).toMatchObject({ wasted: 2, breakerOpens: 1 })
    })
  )
})

describe("audit: the wasted-calls yardstick of a failure-rate breaker", () => {
  /**
   * The breaker trips only on its failure rate: every call of a window of the last 4 failing (its
   * minimum of calls, by default, is the whole window when the window is under 10 calls). The
   * primary is down from minute 1 and the breaker stays open: 4 wasted calls, and 4 allowed.
   */
  const rateOnly = `
seed: 5
load: { duration: "239500 millis", requestsPerSecond: 1, arrivals: even, promptTokens: 100, completionTokens: 20 }
providers:
  a: { type: simulated, latency: "50 millis", faults: [{ from: "1 minute", to: "2 minutes", status: 529 }] }
  b: { type: simulated, latency: "300 millis" }
models:
  primary: { provider: a }
  backup: { provider: b }
chains: { default: [primary, backup] }
policy:
  retry: { maxAttempts: 1 }
  breaker: { consecutiveFailures: 0, failureRate: { threshold: 1, window: 4 }, openDuration: { base: "1 hour", cap: "1 hour" } }
`

  it.effect("is the breaker's own minimum of calls: the whole count window under 10 calls, not 10", () =>
    Effect.gen(function* () {
      const { report } = yield* run(rateOnly)
      // the threshold is the window's 4 calls; + 1 probe for the default schedule's one half-open spell in a minute
      expect(target(report, "primary").outages).toEqual([{ from: 60_000, to: 120_000, wasted: 4, halfOpens: 0, spells: 1, allowed: 5 }])
    })
  )
})
