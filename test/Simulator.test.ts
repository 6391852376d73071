import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Console, Duration, Effect, Schema } from "effect"
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Cli from "../src/cli/Cli.js"
import * as Config from "../src/config/Config.js"
import * as Report from "../src/simulator/Report.js"
import * as Scenario from "../src/simulator/Scenario.js"
import { uniform } from "../src/simulator/internal/random.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { listen } from "./support/servers.js"

/**
 * Four minutes of traffic, one request a second, evenly spaced: request i
 * arrives in [i - 0.5 s, i + 0.5 s), so a window of whole minutes holds the
 * requests of its seconds, give or take one at each edge. 239.5 seconds of
 * traffic is exactly 240 requests.
 */
const small = (body: string, load = "") => `
seed: 5
load: { duration: "239500 millis", requestsPerSecond: 1, arrivals: even, promptTokens: 100, completionTokens: 20${load} }
${body}`

/** One target, hard down during minute 1, no retry and no breaker: every request in the window fails. */
const singleTarget = small(`
providers:
  p: { type: simulated, latency: "200 millis", faults: [{ from: "1 minute", to: "2 minutes", status: 529 }] }
models:
  primary: { provider: p, price: { input: 1, output: 10 } }
policy:
  retry: { maxAttempts: 1 }
  breaker: { consecutiveFailures: 0 }
`)

/**
 * Two targets; the primary is down during minute 1, and its breaker trips on
 * 2 failures and stays open past the run. Latency and error delay are equal
 * (50 ms), so calls end in the order they start.
 */
const twoTargets = small(`
providers:
  a: { type: simulated, latency: "50 millis", faults: [{ from: "1 minute", to: "2 minutes", status: 529 }] }
  b: { type: simulated, latency: "300 millis" }
models:
  primary: { provider: a, price: { input: 3, output: 15 } }
  backup: { provider: b, price: { input: 0.5, output: 1.5 } }
chains: { default: [primary, backup] }
policy:
  retry: { maxAttempts: 1 }
  breaker: { consecutiveFailures: 2, openDuration: { base: "1 hour", cap: "1 hour" } }
`)

const parse = (text: string) => Scenario.parse(text, { source: "test.yaml" })

const run = (text: string, policy?: Simulator.PolicyName) =>
  Effect.flatMap(parse(text), (scenario) =>
    Effect.map(Simulator.run(scenario, policy === undefined ? {} : { policy }), ({ report }) => ({ scenario, report }))
  )

const inWindow = (scenario: Scenario.Scenario, from: number, to: number) =>
  Scenario.arrivals(scenario).filter((at) => at >= from && at < to).length

const target = (report: Report.Report, name: string) => report.targets.find((t) => t.name === name)!

describe("Simulator: figures of a known outage", () => {
  it.effect("one target down for a minute: availability and the oracle's both miss exactly that minute", () =>
    Effect.gen(function* () {
      const { report, scenario } = yield* run(singleTarget)
      const down = inWindow(scenario, 60_000, 120_000)
      expect(down).toBeGreaterThanOrEqual(59)
      expect(down).toBeLessThanOrEqual(61)
      expect(report.requests).toBe(240)
      expect(report.failed).toBe(down)
      expect(report.availability).toBe((240 - down) / 240)
      expect(report.oracleAvailability).toBe((240 - down) / 240)
      // one call per request, and every call in the window wasted
      expect(report.upstreamCalls).toBe(240)
      expect(report.wastedCalls).toBe(down)
      expect(target(report, "primary").failures).toEqual({ Overloaded: down })
      // a fixed latency: every answer took exactly 200 ms, as the oracle says
      expect(report.latency).toEqual({ p50: 200, p95: 200, p99: 200 })
      expect(report.oracleLatency).toEqual({ p50: 200, p95: 200, p99: 200 })
      // the price: 100 input and 20 output tokens per answer at $1 and $10 per million
      expect(report.cost).toBeCloseTo(((240 - down) * (100 * 1 + 20 * 10)) / 1e6, 12)
      expect(report.oracleCost).toBeCloseTo(report.cost, 12)
    })
  )

  it.effect("the breaker trips on its threshold: exactly 2 wasted calls, the rest go straight to the backup", () =>
    Effect.gen(function* () {
      const { report, scenario } = yield* run(twoTargets)
      const before = inWindow(scenario, 0, 60_000)
      const primary = target(report, "primary")
      const backup = target(report, "backup")
      expect(report.availability).toBe(1)
      expect(report.oracleAvailability).toBe(1)
      expect(primary).toMatchObject({ calls: before + 2, served: before, wasted: 2, breakerOpens: 1 })
      expect(primary.failures).toEqual({ Overloaded: 2 })
      expect(primary.rejected).toEqual({ "circuit-open": 240 - before - 2 })
      expect(backup).toMatchObject({ calls: 240 - before, served: 240 - before, wasted: 0 })
      expect(report.upstreamCalls).toBe(242)
      expect(report.wastedCalls).toBe(2)
      // allowed: its threshold 2, plus 1 probe for the one half-open spell the default schedule has in a minute
      expect(primary.outages).toEqual([{ from: 60_000, to: 120_000, wasted: 2, halfOpens: 0, spells: 1, allowed: 3 }])
      expect(report.fallbackRate).toBe((240 - before) / 240)
      // the router stays on the backup (300 ms) once the breaker is open; the oracle knows the
      // primary (50 ms) is back after minute 1. Both p99s are the backup's latency.
      expect(report.latency).toEqual({ p50: 300, p95: 300, p99: 300 })
      expect(report.oracleLatency).toEqual({ p50: 50, p95: 300, p99: 300 })
      expect(report.checks.map((c) => [c.name, c.met])).toEqual([
        ["availability within 0.1 pp of the oracle", true],
        ["wasted calls per outage within the breaker's bound", true],
        ["p99 latency at most 1.25x the oracle's", true],
        ["upstream calls at most 1.2x requests while every target is down", null]
      ])
    })
  )

  it.effect("a stream's latency runs to its last token, and the oracle's does too", () =>
    Effect.gen(function* () {
      const { report } = yield* run(
        small(
          `
providers:
  p: { type: simulated, latency: "200 millis", tokenDelay: "10 millis" }
models:
  m: { provider: p }
`,
          ", stream: true"
        )
      )
      // first token at 200 ms, then 19 more 10 ms apart
      expect(report.stream).toBe(true)
      expect(report.served).toBe(240)
      expect(report.latency).toEqual({ p50: 390, p95: 390, p99: 390 })
      expect(report.oracleLatency).toEqual({ p50: 390, p95: 390, p99: 390 })
    })
  )
})

/** The primary down during minute 1, the backup always up; one attempt a target; `breaker` is the policy's. */
const withBreaker = (breaker: string) =>
  small(`
providers:
  a: { type: simulated, latency: "50 millis", faults: [{ from: "1 minute", to: "2 minutes", status: 529 }] }
  b: { type: simulated, latency: "300 millis" }
models:
  primary: { provider: a, price: { input: 3, output: 15 } }
  backup: { provider: b, price: { input: 0.5, output: 1.5 } }
chains: { default: [primary, backup] }
policy:
  retry: { maxAttempts: 1 }
  breaker: ${breaker}
`)

const wastedCheckOf = (report: Report.Report) => report.checks.find((c) => c.name.startsWith("wasted calls per outage"))!

describe("Simulator: the wasted-calls yardstick does not come from the policy under test", () => {
  it.effect("a breaker that trips on 5000 failures is held to the default's 5, plus one probe for the default schedule's one spell in a minute", () =>
    Effect.gen(function* () {
      const { report } = yield* run(withBreaker(`{ consecutiveFailures: 5000 }`))
      const [outage] = target(report, "primary").outages
      // every request of the minute went to the primary first: naive-level waste
      expect(outage!.wasted).toBeGreaterThanOrEqual(59)
      // the default schedule (30 s, doubling, at most 5 min) goes half-open once in a minute (at 30 s)
      expect(outage).toMatchObject({ spells: 1, allowed: 6 })
      expect(wastedCheckOf(report).met).toBe(false)
    })
  )

  it.effect("a breaker that opens for 1 second probes every second: its own half-open spells do not raise its allowance", () =>
    Effect.gen(function* () {
      const { report } = yield* run(withBreaker(`{ consecutiveFailures: 2, openDuration: { base: "1 second", factor: 1, cap: "1 second" } }`))
      const [outage] = target(report, "primary").outages
      expect(outage!.halfOpens).toBeGreaterThan(30)
      expect(outage!.wasted).toBeGreaterThan(30)
      // its own threshold (2, below the default's 5) and one probe for the default schedule's one spell
      expect(outage).toMatchObject({ spells: 1, allowed: 3 })
      expect(wastedCheckOf(report).met).toBe(false)
      expect(wastedCheckOf(report).detail).toContain("default open schedule")
    })
  )

  it.effect("a breaker that asks for 1000 half-open probes is held to the default's 1 a spell", () =>
    Effect.gen(function* () {
      const { report } = yield* run(withBreaker(`{ consecutiveFailures: 2, halfOpenProbes: 1000 }`))
      expect(target(report, "primary").outages[0]).toMatchObject({ spells: 1, allowed: 3 })
    })
  )

  it.effect("a longer outage allows a probe for each half-open spell of the default schedule: 30 s, 90 s, 210 s, 450 s ... in 10 minutes, 4", () =>
    Effect.gen(function* () {
      const text = withBreaker(`{ consecutiveFailures: 3 }`).replace('to: "2 minutes"', 'to: "11 minutes"').replace('"239500 millis"', '"779500 millis"')
      const { report } = yield* run(text)
      const [outage] = target(report, "primary").outages
      expect(outage).toMatchObject({ from: 60_000, to: 660_000, spells: 4, allowed: 3 + 4 })
      // the yardstick's schedule is the router's: under its defaults, the breaker goes half-open as often
      const byDefault = target((yield* run(text, "default")).report, "primary").outages[0]!
      expect(byDefault).toMatchObject({ halfOpens: 4, spells: 4, allowed: 5 + 4 })
    })
  )
})

/** One target, 200 ms, with `fault` during minute 1; one attempt, no breaker; `policy` adds to the policy. */
const oneTargetWith = (fault: string, policy = "") =>
  small(`
providers:
  p: { type: simulated, latency: "200 millis", faults: [${fault}] }
models:
  primary: { provider: p, price: { input: 1, output: 10 } }
policy:
  retry: { maxAttempts: 1 }
  breaker: { consecutiveFailures: 0, slowCallRate: false }
${policy}`)

const latencyCheckOf = (report: Report.Report) => report.checks.find((c) => c.name.startsWith("p99 latency"))!

describe("Simulator: the oracle keeps to the policy's deadline, and p99 is compared over the same requests", () => {
  it.effect("a target slower than the total timeout cannot serve: those requests are not servable", () =>
    Effect.gen(function* () {
      const fault = `{ from: "1 minute", to: "2 minutes", latency: "10 seconds" }`
      const { report, scenario } = yield* run(oneTargetWith(fault, `  timeouts: { total: "5 seconds" }`))
      const slow = inWindow(scenario, 60_000, 120_000)
      expect(report.oracleAvailability).toBe((240 - slow) / 240)
      expect(report.failed).toBe(slow)
      expect(report.oracleLatency.p99).toBe(200)
      // within the deadline, the same fault is servable, at its latency
      const within = (yield* run(oneTargetWith(fault, `  timeouts: { total: "30 seconds", attempt: "30 seconds" }`))).report
      expect(within.oracleAvailability).toBe(1)
      expect(within.oracleLatency.p99).toBe(10_000)
    })
  )

  it.effect("requests the oracle could serve and the router failed count as never answered: over 1% of them and p99 misses", () =>
    Effect.gen(function* () {
      const { report } = yield* run(oneTargetWith(`{ from: "1 minute", to: "2 minutes", status: 500, errorRate: 0.5 }`))
      expect(report.oracleAvailability).toBe(1)
      expect(report.failed).toBeGreaterThan(10)
      // the answered ones were all fast: over them alone p99 would be met
      expect(report.latency.p99).toBe(200)
      expect(report.servableUnanswered).toBe(report.failed)
      expect(report.servableLatency.p99).toBeNull()
      const check = latencyCheckOf(report)
      expect(check.met).toBe(false)
      expect(check.detail).toContain(`${report.failed} of 240 servable requests not answered`)
    })
  )

  it.effect("nothing answered while the oracle could answer: the p99 target is missed, not n/a", () =>
    Effect.gen(function* () {
      // 100 s answers: within the 120 s total, past the 30 s attempt timeout the policy sets
      const fault = `{ latency: "100 seconds" }`
      const { report } = yield* run(oneTargetWith(fault, `  timeouts: { attempt: "30 seconds" }`))
      expect(report.served).toBe(0)
      expect(report.latency.p99).toBeNull()
      expect(report.oracleLatency.p99).toBe(100_000)
      expect(latencyCheckOf(report).met).toBe(false)
    })
  )
})

describe("Simulator: an outage, for wasted calls, is a window where calls mostly fail", () => {
  const outagesOf = (report: Report.Report) => target(report, "primary").outages.map((o) => [o.from, o.to])

  it.effect("a 99% error rate is an outage: its calls are wasted; 30% is none", () =>
    Effect.gen(function* () {
      const { report, scenario } = yield* run(oneTargetWith(`{ from: "1 minute", to: "2 minutes", status: 500, errorRate: 0.99 }`))
      expect(outagesOf(report)).toEqual([[60_000, 120_000]])
      expect(report.wastedCalls).toBe(inWindow(scenario, 60_000, 120_000))
      const gray = (yield* run(oneTargetWith(`{ from: "1 minute", to: "2 minutes", status: 500, errorRate: 0.3 }`))).report
      expect(outagesOf(gray)).toEqual([])
      expect(gray.wastedCalls).toBe(0)
    })
  )

  it.effect("a target that fails half its calls serves the other half: no outage; one that fails more, an outage", () =>
    Effect.gen(function* () {
      const half = (yield* run(oneTargetWith(`{ from: "1 minute", to: "2 minutes", status: 429, errorRate: 0.5 }`))).report
      expect(outagesOf(half)).toEqual([])
      const more = (yield* run(oneTargetWith(`{ from: "1 minute", to: "2 minutes", status: 429, errorRate: 0.6 }`))).report
      expect(outagesOf(more)).toEqual([[60_000, 120_000]])
    })
  )

  it.effect("every target failing 99% of its calls is every target down, for the load target as for wasted calls", () =>
    Effect.gen(function* () {
      const fault = `[{ from: "1 minute", to: "2 minutes", status: 500, errorRate: 0.99 }]`
      const { report, scenario } = yield* run(small(`
providers:
  a: { type: simulated, latency: "50 millis", faults: ${fault} }
  b: { type: simulated, latency: "50 millis", faults: ${fault} }
models:
  primary: { provider: a }
  backup: { provider: b }
chains: { default: [primary, backup] }
policy:
  retry: { maxAttempts: 1 }
`))
      const load = report.checks.find((c) => c.name.startsWith("upstream calls at most"))!
      expect(load.met).not.toBeNull()
      expect(load.detail).toMatch(/^\d+ calls for 6\d requests/)
      // and the oracle serves none of the window's requests: a window is not both down and servable (found by a
      // second diff review: the oracle took any target up that fails fewer than all its calls, so no policy could
      // meet availability and wasted calls at once)
      const inside = Scenario.arrivals(scenario).filter((at) => at >= 60_000 && at < 120_000).length
      expect(report.oracleAvailability).toBeCloseTo((report.requests - inside) / report.requests, 10)
    })
  )

  it.effect("faults active together combine: two of 30% fail 51% of calls, an outage", () =>
    Effect.gen(function* () {
      const faults = `{ from: "1 minute", to: "2 minutes", status: 500, errorRate: 0.3 }, { from: "1 minute", to: "2 minutes", reset: true, errorRate: 0.3 }`
      const { report } = yield* run(oneTargetWith(faults))
      expect(outagesOf(report)).toEqual([[60_000, 120_000]])
    })
  )

  it.effect("a slow fault whose median is past the deadline serves none of its requests for the oracle, though some draws come in time", () =>
    Effect.gen(function* () {
      // found by a third diff review: the window was an outage (its calls wasted) while the oracle served the ~23% of
      // its requests whose draw came within the 120 s total
      const fault = `{ from: "1 minute", to: "2 minutes", latency: { p50: "150 seconds", p99: "300 seconds" } }`
      const { report, scenario } = yield* run(oneTargetWith(fault))
      expect(outagesOf(report)).toEqual([[60_000, 120_000]])
      const inside = Scenario.arrivals(scenario).filter((at) => at >= 60_000 && at < 120_000).length
      expect(report.oracleAvailability).toBeCloseTo((report.requests - inside) / report.requests, 10)
    })
  )

  it.effect("a latency fault past the policy's total timeout is an outage; within it, none", () =>
    Effect.gen(function* () {
      const fault = `{ from: "1 minute", to: "2 minutes", latency: "10 seconds" }`
      const past = (yield* run(oneTargetWith(fault, `  timeouts: { total: "5 seconds" }`))).report
      expect(outagesOf(past)).toEqual([[60_000, 120_000]])
      expect(past.wastedCalls).toBeGreaterThan(50)
      const within = (yield* run(oneTargetWith(fault, `  timeouts: { total: "30 seconds", attempt: "30 seconds" }`))).report
      expect(outagesOf(within)).toEqual([])
      expect(within.wastedCalls).toBe(0)
    })
  )
})

describe("Simulator: the scenario's seed reseeds the simulated providers", () => {
  it.effect("a seed sweep varies the providers' failure and latency draws, not only the arrivals", () =>
    Effect.gen(function* () {
      // every call is a coin toss: which ones fail depends on the provider's draws alone (one call a request)
      const text = oneTargetWith(`{ status: 500, errorRate: 0.5 }`).replace(`latency: "200 millis"`, `latency: { p50: "200 millis", p99: "2 seconds" }`)
      const runs = yield* Effect.forEach([5, 6, 7], (seed) => run(text.replace("seed: 5", `seed: ${seed}`)))
      const failures = runs.map(({ report }) => target(report, "primary").failures["ServerError"])
      expect(new Set(failures).size).toBeGreaterThan(1)
      const p50s = runs.map(({ report }) => report.latency.p50)
      expect(new Set(p50s).size).toBeGreaterThan(1)
      // and one seed still gives one report
      expect(Report.toJson((yield* run(text)).report)).toBe(Report.toJson(runs[0]!.report))
    })
  )
})

describe("Simulator: above the oracle", () => {
  /**
   * One target rate limited (Retry-After 5 s) during minute 1; the policy waits out a Retry-After
   * up to 10 s and retries within a minute's deadline, so requests arriving in the window's last
   * seconds are answered once it ends. The oracle counts a request at its arrival: not those.
   */
  const waitsOutTheWindow = `
seed: 5
load: { duration: "4 minutes", requestsPerSecond: 1, arrivals: even }
providers:
  p: { type: simulated, latency: "200 millis", faults: [{ from: "1 minute", to: "2 minutes", status: 429, retryAfter: "5 seconds" }] }
models:
  primary: { provider: p }
policy:
  retry: { maxAttempts: 5, retryAfterCap: "10 seconds" }
  breaker: { consecutiveFailures: 0 }
  timeouts: { total: "1 minute" }
  budget: { maxTokens: 1000000 }
`

  it.effect("a policy that waits out a short fault beats the oracle, and the check says so without a negative shortfall", () =>
    Effect.gen(function* () {
      const { report } = yield* run(waitsOutTheWindow)
      expect(report.availability).toBeGreaterThan(report.oracleAvailability + 0.05)
      const check = report.checks[0]!
      expect(check.met).toBe(true)
      const above = ((report.availability - report.oracleAvailability) * 100).toFixed(2)
      expect(check.detail).toContain(`(${above} pp above the oracle: it waited out a fault within the deadline`)
      expect(check.detail).not.toMatch(/-\d|short/)
    })
  )

  it.effect("below the oracle, the check says how far short", () =>
    Effect.gen(function* () {
      // an attempt timeout (100 ms) below the target's 200 ms: the oracle, held to the total timeout (120 s), could answer
      const { report } = yield* run(singleTarget.replace("breaker: { consecutiveFailures: 0 }", "breaker: { consecutiveFailures: 0 }\n  timeouts: { attempt: \"100 millis\" }"))
      const short = ((report.oracleAvailability - report.availability) * 100).toFixed(2)
      expect(Number(short)).toBeGreaterThan(50)
      expect(report.checks[0]).toMatchObject({ met: false, detail: expect.stringContaining(`(${short} pp short)`) })
    })
  )
})

describe("Simulator: determinism and the timeline", () => {
  it.effect("the same scenario and seed give identical reports; another seed gives other arrivals", () =>
    Effect.gen(function* () {
      const poisson = twoTargets.replace("arrivals: even", "arrivals: poisson").replace("latency: \"300 millis\"", "latency: { p50: \"300 millis\", p99: \"2 seconds\" }")
      const first = yield* run(poisson)
      const second = yield* run(poisson)
      expect(Report.toJson(second.report)).toBe(Report.toJson(first.report))
      expect(second.report).toEqual(first.report)
      const reseeded = yield* run(poisson.replace("seed: 5", "seed: 6"))
      expect(Scenario.arrivals(reseeded.scenario)).not.toEqual(Scenario.arrivals(first.scenario))
      expect(reseeded.report.oracleLatency).not.toEqual(first.report.oracleLatency)
    })
  )

  it.effect("the timeline shows the outage minute: failed without a breaker, open with one", () =>
    Effect.gen(function* () {
      const single = (yield* run(singleTarget)).report
      expect(single.minutesPerColumn).toBe(1)
      expect(single.timeline).toBe("=X==")
      expect(target(single, "primary").timeline).toBe("=X==")
      const two = (yield* run(twoTargets)).report
      // after the outage the oracle answers from the primary in 50 ms, the router stays on the
      // backup (300 ms, its breaker open for an hour): answered, but over 4x slower
      expect(two.timeline).toBe("==ss")
      expect(target(two, "primary").timeline).toBe("=ooo")
      expect(target(two, "backup").timeline).toBe(".===")
      const text = Report.format(two)
      expect(text).toContain("Timeline (one column per minute")
      expect(text).toMatch(/primary\s+=ooo/)
      expect(text).toContain("MET   availability within 0.1 pp of the oracle")
      expect(text).toContain("240 requests over 4 minutes on chain default")
      // one minute is a minute
      const oneMinute = (yield* run(singleTarget.replace('duration: "239500 millis"', 'duration: "1 minute"'))).report
      expect(Report.format(oneMinute)).toContain("60 requests over 1 minute on chain")
    })
  )

  it.effect("a report survives its JSON encoding", () =>
    Effect.gen(function* () {
      const { report } = yield* run(twoTargets)
      const decoded = Schema.decodeUnknownSync(Report.Report)(JSON.parse(Report.toJson(report)))
      expect(decoded).toEqual(report)
    })
  )
})

describe("Simulator: policies", () => {
  /** Primary hard down for two of five minutes at 2 requests a second. */
  const hardDown = `
seed: 3
load: { duration: "5 minutes", requestsPerSecond: 2, promptTokens: 100, completionTokens: 20 }
providers:
  a: { type: simulated, latency: { p50: "300 millis", p99: "1 second" }, faults: [{ from: "1 minute", to: "3 minutes", status: 529 }] }
  b: { type: simulated, latency: { p50: "400 millis", p99: "1500 millis" } }
models:
  primary: { provider: a }
  backup: { provider: b }
chains: { default: [primary, backup] }
policy:
  breaker: { consecutiveFailures: 3, openDuration: { base: "20 seconds", cap: "1 minute" } }
`

  it.effect("compare runs naive, default and the scenario's own policy; naive wastes more calls than default", () =>
    Effect.gen(function* () {
      const scenario = yield* parse(hardDown)
      const { comparison, stats } = yield* Simulator.compare(scenario)
      expect(comparison.reports.map((r) => r.policy)).toEqual(["naive", "default", "scenario"])
      expect(stats).toHaveLength(3)
      const [naive, byDefault, own] = comparison.reports as [Report.Report, Report.Report, Report.Report]
      // the naive loop calls the dead primary twice per request for two minutes
      expect(naive.wastedCalls).toBeGreaterThan(400)
      expect(naive.wastedCalls).toBeGreaterThan(10 * byDefault.wastedCalls)
      expect(naive.upstreamCalls).toBeGreaterThan(byDefault.upstreamCalls)
      expect(target(naive, "primary").breakerOpens).toBe(0)
      expect(target(byDefault, "primary").breakerOpens).toBeGreaterThan(0)
      // its own policy (open 20 s, then 40 s, at most a minute) finds the primary back sooner than the
      // default's (30 s, 60 s, 120 s ...): the primary serves more
      expect(target(own, "primary").served).toBeGreaterThan(target(byDefault, "primary").served)
      for (const report of comparison.reports) expect(report.availability).toBe(1)
      const text = Report.formatComparison(comparison)
      expect(text).toMatch(/naive\s+default\s+scenario/)
      expect(text).toMatch(/wasted calls\s+\d[\d,]*\s+\d+\s+\d+/)
    })
  )

  it("the naive and default rewrites keep the chains and drop every policy", () => {
    const scenario = Effect.runSync(parse(hardDown.replace("chains: { default: [primary, backup] }", "chains: { default: { targets: [primary, backup], strategy: cost, hedge: { delay: \"1 second\" } } }")))
    const byDefault = Simulator.configFor(scenario, "default")
    expect(byDefault.policy).toBeUndefined()
    expect(byDefault.chains).toEqual({ default: { targets: ["primary", "backup"], strategy: "cost" } })
    const naive = Simulator.configFor(scenario, "naive")
    expect(naive.chains).toEqual({ default: { targets: ["primary", "backup"] } })
    expect(naive.policy).toMatchObject({ retry: { maxAttempts: 2 }, bulkhead: false })
    expect(naive.cache).toBe(false)
    expect(Simulator.configFor(scenario, "scenario")).toBe(scenario.config)
  })

  /** One target down for minutes 1 and 2 of five; its chain has a static fallbackResponse. */
  const withFallbackResponse = `
seed: 3
load: { duration: "5 minutes", requestsPerSecond: 1, arrivals: even }
providers:
  a: { type: simulated, latency: "200 millis", faults: [{ from: "1 minute", to: "3 minutes", status: 503 }] }
models:
  m: { provider: a }
chains:
  default: { targets: [m], fallbackResponse: "Sorry, try again later." }
`

  it.effect("naive has no degraded answers: a chain's fallbackResponse is dropped (default keeps it); --compare shows failed and degraded", () =>
    Effect.gen(function* () {
      const scenario = yield* parse(withFallbackResponse)
      expect(Simulator.configFor(scenario, "naive").chains).toEqual({ default: { targets: ["m"] } })
      expect(Simulator.configFor(scenario, "default").chains).toEqual({
        default: { targets: ["m"], fallbackResponse: "Sorry, try again later." }
      })
      const { comparison } = yield* Simulator.compare(scenario)
      const [naive, byDefault, own] = comparison.reports as [Report.Report, Report.Report, Report.Report]
      expect(naive.degraded).toBe(0)
      expect(naive.failed).toBeGreaterThan(100)
      expect(byDefault.degraded).toBeGreaterThan(100)
      expect(own.degraded).toBe(byDefault.degraded)
      const row = Report.formatComparison(comparison).split("\n").find((line) => line.trimStart().startsWith("failed / degraded"))
      expect(row?.trim().split(/\s{2,}/)).toEqual([
        "failed / degraded",
        `${naive.failed} / 0`,
        `${byDefault.failed} / ${byDefault.degraded}`,
        `${own.failed} / ${own.degraded}`
      ])
      const json = JSON.parse(Report.comparisonToJson(comparison))
      expect(json.reports.map((r: Report.Report) => [r.failed, r.degraded])).toEqual(comparison.reports.map((r) => [r.failed, r.degraded]))
    })
  )
})

describe("Simulator: a run's bound", () => {
  it.effect("a policy that retries without end is stopped at 100 upstream calls a request (1,000 at least), a SimulationError naming the cause", () =>
    Effect.gen(function* () {
      // 11 requests, each retried 10,000 times against a provider that always fails: 110,000 calls, 85 s and 1.1 GB
      const scenario = yield* parse(`
seed: 1
load: { duration: "10 seconds", requestsPerSecond: 1, arrivals: even }
providers:
  a: { type: simulated, latency: 0, errorDelay: 0, faults: [{ status: 500 }] }
models: { m: { provider: a } }
policy:
  retry: { maxAttempts: 10000, base: 0, cap: 0 }
  budget: { maxTokens: 1e12, tokenRatio: 1e12 }
  breaker: { consecutiveFailures: 0 }
  timeouts: { total: "1 hour" }
`)
      const error = yield* Effect.flip(Simulator.run(scenario))
      expect(error._tag).toBe("SimulationError")
      expect(error.message).toBe(
        "test under scenario: stopped after 1,100 upstream calls for 11 requests (a run makes at most 100 a request, 1,000 at least): " +
          "the policy retries or hedges almost without end (policy.retry.maxAttempts, hedge.maxHedges)"
      )
      // the default policy, on the same load, runs to its end
      const { report } = yield* Simulator.run(scenario, { policy: "default" })
      expect(report.requests).toBe(11)
    })
  )
})

describe("Simulator: the seed", () => {
  it.effect("every bit of the seed counts: 0 and 2^32 give other arrivals; a seed below 2^32 draws what it drew before", () =>
    Effect.gen(function* () {
      const arrivalsOf = (seed: number) =>
        Effect.map(
          parse(`seed: ${seed}\nload: { duration: "1 minute", requestsPerSecond: 2 }\nproviders: { a: { type: simulated } }\nmodels: { m: { provider: a } }\n`),
          Scenario.arrivals
        )
      expect(yield* arrivalsOf(4294967296)).not.toEqual(yield* arrivalsOf(0))
      expect(yield* arrivalsOf(2 ** 40 + 7)).not.toEqual(yield* arrivalsOf(7))
      expect(yield* arrivalsOf(-4294967296 + 7)).not.toEqual(yield* arrivalsOf(7))
      // the draws BENCHMARKS.md's figures come from, as they were
      expect([0, 1, 2].map((i) => uniform(0, 1, i))).toEqual([0.25689125002827495, 0.26736020075622946, 0.24629351205658168])
      expect([0, 1, 2].map((i) => uniform(7, 1, i))).toEqual([0.3904881702037528, 0.5857513811206445, 0.08249978127423674])
      expect([0, 1, 2].map((i) => uniform(4294967295, 1, i))).toEqual([0.9478055973304436, 0.04510333470534533, 0.5747350143501535])
      expect([0, 1, 2].map((i) => uniform(-1, 1, i))).toEqual([0.9478055973304436, 0.04510333470534533, 0.5747350143501535])
    })
  )
})

describe("Scenario: parsing", () => {
  it.effect("a duration past a year, in the load or a fault, is refused at its path (1e308 ms hung the simulator)", () =>
    Effect.gen(function* () {
      const huge = yield* Effect.flip(
        parse(`seed: 1\nload: { duration: 1e308, requestsPerSecond: 1e-300 }\nproviders: { a: { type: simulated, faults: [{ from: 0, to: 1e308, status: 503 }] } }\nmodels: { m: { provider: a } }\n`)
      )
      expect(huge.problems.map((p) => [p.path, p.message])).toEqual([
        ["load.duration", "must be at most 365 days"],
        ["providers.a.faults[0].to", "must be at most 365 days"]
      ])
    })
  )

  it.effect("a load that cannot be simulated in minutes, or sends nothing, is refused at its path: too many or too few requests, a prompt or an answer past any window", () =>
    Effect.gen(function* () {
      const withLoad = (load: string) =>
        Effect.flip(parse(`seed: 1\nload: ${load}\nproviders: { a: { type: simulated } }\nmodels: { m: { provider: a } }\n`))
      const many = yield* withLoad(`{ duration: "1 hour", requestsPerSecond: 100 }`)
      expect(many.problems.map((p) => [p.path, p.message])).toEqual([["load", "about 360000 requests; at most 250000 are allowed in one run"]])
      const long = yield* withLoad(`{ duration: "1 minute", requestsPerSecond: 1, promptTokens: 100000000, completionTokens: 100000000 }`)
      expect(long.problems.map((p) => p.path)).toEqual(["load.promptTokens", "load.completionTokens"])
      // too few: a run that sends nothing would report 100% availability
      const none = yield* withLoad(`{ duration: 60, requestsPerSecond: 2 }`)
      expect(none.problems.map((p) => [p.path, p.message])).toEqual([
        ["load", "about 0.12 requests: a run needs at least one (a bare number of duration is milliseconds)"]
      ])
      // the value refused is shown, not taken for a secret
      const over = yield* withLoad(`{ duration: "1 minute", requestsPerSecond: 1, promptTokens: 3000000 }`)
      expect(over.problems.map((p) => p.message).join("\n")).toContain("3000000")
      // poisson arrivals can draw none where about one is expected (this seed does)
      const drawn = yield* Effect.flip(parse(`seed: 2\nload: { duration: "1 second", requestsPerSecond: 1 }\nproviders: { a: { type: simulated } }\nmodels: { m: { provider: a } }\n`))
      expect(drawn.problems.map((p) => p.path)).toEqual(["load"])
      // the largest allowed still parses
      yield* parse(`seed: 1\nload: { duration: "1 hour", requestsPerSecond: 69, promptTokens: 2000000, completionTokens: 1000000 }\nproviders: { a: { type: simulated } }\nmodels: { m: { provider: a } }\n`)
    })
  )

  it.effect("a fault that starts after the load ends never fires: a warning at its path and line; one within it, or a repeat that starts within it, none", () =>
    Effect.gen(function* () {
      const scenario = yield* parse(
        [
          "seed: 1",
          'load: { duration: "2 minutes", requestsPerSecond: 1 }',
          "providers:",
          "  a:",
          "    type: simulated",
          "    faults:",
          '      - { from: "3 hours", to: "4 hours", status: 529 }',
          '      - { from: "30 seconds", to: "1 minute", status: 529 }',
          '      - { repeat: { every: "1 minute", until: "1 hour" }, fault: { from: "1 minute", to: "90 seconds", status: 503 } }',
          '      - { repeat: { every: "1 hour", until: "10 hours" }, fault: { from: "5 hours", to: "6 hours", status: 503 } }',
          '      - { from: "2 minutes", to: "3 minutes", latency: "5 seconds" }',
          "models: { m: { provider: a } }"
        ].join("\n")
      )
      expect((scenario.warnings ?? []).map(Config.formatProblem)).toEqual([
        "providers.a.faults[0].from: starts at 3h, after the load ends (2m): it never fires (line 7, column 17)",
        "providers.a.faults[3].fault.from: starts at 5h, after the load ends (2m): it never fires (line 10, column 74)",
        "providers.a.faults[4].from: starts at 2m, after the load ends (2m): it never fires (line 11, column 17)"
      ])
    })
  )

  it.effect("a syntax error on a line holding a secret does not quote it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(parse(`load: { duration: 1, requestsPerSecond: 1 }\ngateway:\n  keys:\n  - sk-live-SECRET123456\n  ] sk-live-SECRET123456\n`))
      expect(error.problems.length).toBeGreaterThan(0)
      expect(JSON.stringify(error.problems)).not.toContain("sk-live-SECRET123456")
      expect(error.message).not.toContain("sk-live-SECRET123456")
    })
  )

  it.effect("reports every problem at its path and line: real providers, an unknown chain, a bad load", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        parse(
          [
            "load: { duration: \"1 hour\", requestsPerSecond: -2, chain: premium }",
            "providers:",
            "  openai: { type: openai, apiKey: \"env:OPENAI_API_KEY\" }",
            "models:",
            "  mini: { provider: openai }"
          ].join("\n")
        )
      )
      expect(error).toBeInstanceOf(Scenario.ScenarioError)
      const paths = error.problems.map((p) => p.path)
      expect(paths).toContain("providers.openai.type")
      expect(paths).toContain("load.chain")
      expect(paths).toContain("load.requestsPerSecond")
      expect(error.problems.find((p) => p.path === "providers.openai.type")).toMatchObject({ line: 3 })
      expect(error.message).toContain('must be "simulated"')
    })
  )

  it.effect("a slow fault's { p50, p99 } with a bad p50 is one problem, at p50, as in a config", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        parse(`load: { duration: "1 minute", requestsPerSecond: 1 }\nproviders: { p: { type: simulated, faults: [{ latency: { p50: "2 secs", p99: 3000 } }] } }\nmodels: { m: { provider: p } }\n`)
      )
      expect(error.problems.map((p) => p.path)).toEqual(["providers.p.faults[0].latency.p50"])
    })
  )

  it.effect("a scenario without load is invalid; defaults fill the rest", () =>
    Effect.gen(function* () {
      const missing = yield* Effect.flip(parse("providers: { p: { type: simulated } }\nmodels: { m: { provider: p } }\n"))
      expect(missing.problems).toContainEqual(expect.objectContaining({ path: "load", message: "is required" }))
      const scenario = yield* parse(
        "load: { duration: \"2 minutes\", requestsPerSecond: 1 }\nproviders: { p: { type: simulated } }\nmodels: { m: { provider: p } }\n"
      )
      expect(scenario).toMatchObject({
        name: "test",
        seed: Scenario.defaults.seed,
        load: { promptTokens: 500, completionTokens: 200, stream: false, arrivals: "poisson" }
      })
      expect(Duration.toMillis(scenario.load.duration)).toBe(120_000)
      expect(Scenario.chainTargets(scenario.config, "default")).toEqual(["m"])
    })
  )
})

describe("Simulator: the scenario library", () => {
  const dir = join(import.meta.dirname, "..", "examples", "scenarios")
  const files = readdirSync(dir).filter((file) => file.endsWith(".yaml")).sort()

  it("has the incidents of the issue", () => {
    expect(files).toEqual([
      "all-down-low-rate.yaml",
      "all-down.yaml",
      "flapping.yaml",
      "gray-failure.yaml",
      "latency-spike.yaml",
      "primary-down.yaml",
      "rate-limit-storm.yaml",
      "shared-provider.yaml",
      "slow-failure.yaml",
      "two-instances.yaml"
    ])
  })

  /** The first fault's start in a scenario, so a short run still covers the incident's first minutes. */
  const firstFault = (scenario: Scenario.Scenario) =>
    Math.min(
      ...Object.values(scenario.config.providers).flatMap((p) =>
        p.type === "simulated" ? (p.faults ?? []).map((f) => Duration.toMillis(f.from ?? Duration.zero)) : []
      )
    )

  it.effect.each(files)("%s parses and runs: an hour of traffic, cut to the incident's first minutes", (file) =>
    Effect.gen(function* () {
      const scenario = yield* Scenario.load(join(dir, file))
      expect(Duration.toMillis(scenario.load.duration)).toBe(3_600_000)
      const start = firstFault(scenario)
      const { report } = yield* Simulator.run(Scenario.withHorizon(scenario, Duration.millis(start + 120_000)))
      expect(report.requests).toBeGreaterThan(0)
      const failures = report.targets.reduce(
        (sum, t) => sum + Object.values(t.failures).reduce((a, b) => a + b, 0) + t.cancelled,
        0
      )
      // the incident happened: some attempt failed (an error, or a timeout on a slow call) or lost its hedge
      expect(failures).toBeGreaterThan(0)
      expect(report.checks).toHaveLength(4)
    }).pipe(Effect.provide(NodeContext.layer))
  )
})

describe("Simulator: the command line", () => {
  /** Runs the command line with `Console.log` captured (and `Console.error`, in `errors`). */
  const cli = (args: ReadonlyArray<string>, errors: Array<string> = []) =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const base = yield* Console.consoleWith(Effect.succeed)
      const capture: Console.Console = {
        ...base,
        log: (...parts) => Effect.sync(() => void lines.push(parts.map(String).join(" "))),
        error: (...parts) => Effect.sync(() => void errors.push(parts.map(String).join(" ")))
      }
      yield* Cli.run(["node", "llm-failover", ...args]).pipe(Effect.withConsole(capture), Effect.provide(FetchHttpClient.layer))
      return lines.join("\n")
    })

  it.live("report: a base URL without a scheme is refused as such; the query of one is kept; a 401 says to set GATEWAY_KEY", () =>
    Effect.gen(function* () {
      const paths: Array<string> = []
      const port = yield* listen((req, res) => {
        paths.push(req.url ?? "")
        res.writeHead(401, { "content-type": "application/json" })
        res.end(JSON.stringify({ error: { message: "Missing API key. Send it in the Authorization header." } }))
      })
      const exitCode = process.exitCode
      try {
        const errors: Array<string> = []
        yield* cli(["report", "--url", `localhost:${port}`], errors)
        yield* cli(["report", "--url", `http://127.0.0.1:${port}/?tenant=a`], errors)
        expect(errors).toEqual([
          "not a valid usage URL (it starts with http:// or https://)",
          `http://127.0.0.1:${port}/v1/usage answered HTTP 401: Missing API key. Send it in the Authorization header. (set GATEWAY_KEY to the gateway's key)`
        ])
        expect(paths).toEqual(["/v1/usage?tenant=a"])
      } finally {
        process.exitCode = exitCode
      }
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
  )

  it.effect("simulate --json prints the report; --compare --json prints the comparison", () =>
    Effect.gen(function* () {
      const file = join(mkdtempSync(join(tmpdir(), "scenario-")), "two-targets.yaml")
      writeFileSync(file, twoTargets)
      const json = yield* cli(["simulate", "--scenario", file, "--json"])
      const report = Schema.decodeUnknownSync(Report.Report)(JSON.parse(json))
      expect(report).toMatchObject({ scenario: "two-targets", policy: "scenario", requests: 240, wastedCalls: 2 })
      const compared = yield* cli(["simulate", "-s", file, "--compare", "--json"])
      const comparison = Schema.decodeUnknownSync(Report.Comparison)(JSON.parse(compared))
      expect(comparison.reports.map((r) => r.policy)).toEqual(["naive", "default", "scenario"])
      const text = yield* cli(["simulate", "-s", file])
      expect(text).toContain("Scenario two-targets under the scenario policy (seed 5)")
      expect(text).toMatch(/primary\s+=ooo/)
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
