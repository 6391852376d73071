/**
 * What a simulation measured, against an oracle that knows the fault
 * schedule: availability, latency, upstream and wasted calls, cost, fallback
 * rate, a table of targets, a per-minute timeline, and the issue's targets
 * checked one by one. A report is plain data with a `Schema`, so `--json`
 * prints it encoded, and two runs of one scenario give equal reports.
 *
 * **Definitions**
 *
 * - `availability`: requests a target answered / requests. An answer from
 *   degraded mode (cache or static) is counted apart (`degraded`), not as
 *   available.
 * - `oracleAvailability`: requests for which some target of the chain could
 *   have answered at their arrival (`canServe`, not in an outage as
 *   `wastedCalls` reads one, its context window holds
 *   the prompt and the answer asked of it, and its answer, slow faults
 *   included, arrives within the request's deadline: the policy's total
 *   timeout) / requests. A policy that
 *   waits out a short fault (retries, or a Retry-After, within the request's
 *   deadline) answers requests that arrived during it, and can be above it.
 * - `latency`: percentiles (nearest rank) over the answered requests, from
 *   arrival to the answer (for a stream: to its end), in milliseconds.
 * - `oracleLatency`: per servable request, the fastest servable target (the
 *   lowest median latency at the arrival, slow faults included), and one
 *   draw from its latency distribution (a stream's tail as long as the
 *   answer its model gives: at most its `maxOutputTokens`); percentiles over
 *   those.
 * - `servableLatency`: the router's percentiles over the same requests (the
 *   servable ones), one it did not answer counted as never answered (`null`
 *   where a percentile falls on one). The p99 target compares it with
 *   `oracleLatency`'s: it misses when more than 1% of the servable requests
 *   were not answered.
 * - `upstreamCalls`: calls that reached a simulated provider. `wastedCalls`:
 *   calls that reached one inside one of its outages: a window in which the
 *   faults active fail a call with a combined chance (1 - the product of
 *   1 - each failing fault's `errorRate`) of more than one half, or its slow
 *   fault's median latency is past the request's deadline (the policy's
 *   total timeout). A gray failure of 30%, or of 50% (half the calls
 *   served), is no outage; one of 99% is.
 * - `cost`: what the providers bill: every upstream call that returned an
 *   answer (hedge losers and shadows included). `oracleCost`: per servable
 *   request, its cheapest servable target.
 * - `fallbackRate`: requests that fell back / requests, as the fallback-rate
 *   alert (`Alerts.fallbackRate`) counts them: answered by another target
 *   than the chain's first (its primary), answered from degraded mode, or
 *   failed after the router moved on to another target. A hedge won by the
 *   second target counts; for a chain ordered by a strategy (cost,
 *   weighted, ...) "first" is the first target listed.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as text from "./internal/format.js"

const Count = Schema.NonNegativeInt

/**
 * Latency percentiles in milliseconds; `null` when nothing was answered.
 *
 * @example
 * import { Schema } from "effect"
 * import { Report } from "effect-llm-failover/simulator"
 *
 * // latency percentiles in milliseconds, as `simulate --json` gives them
 * const decode = Schema.decodeUnknown(Report.Percentiles)
 *
 * @since 0.1.0
 * @category schemas
 */
export const Percentiles = Schema.Struct({
  p50: Schema.NullOr(Schema.Number),
  p95: Schema.NullOr(Schema.Number),
  p99: Schema.NullOr(Schema.Number)
})

/**
 * Latency percentiles in milliseconds: a decoded {@link Percentiles}.
 *
 * @example
 * import { Report } from "effect-llm-failover/simulator"
 *
 * declare const report: Report.Report
 *
 * const ms = (value: number | null) => (value === null ? "-" : `${Math.round(value)} ms`)
 * const row = (name: string, p: Report.Percentiles) => `${name}: p50 ${ms(p.p50)}, p95 ${ms(p.p95)}, p99 ${ms(p.p99)}`
 * console.log(row("policy", report.latency))
 * console.log(row("oracle", report.oracleLatency))
 *
 * @since 0.1.0
 * @category models
 */
export interface Percentiles extends Schema.Schema.Type<typeof Percentiles> {}

/**
 * One outage of a target (a window in which its faults fail more than half
 * the calls, or its latency is past the deadline: see `wastedCalls` in the
 * module's definitions), and what it cost: the
 * calls wasted in it and how many the wasted-calls target allows. The
 * allowance does not depend on what the policy under test did: it is the
 * policy's trip threshold, at most the router's default of 5 failures
 * (the default's 5 for a policy without a breaker), plus the policy's
 * half-open probes (1 without a breaker) times `spells`, the half-open
 * spells the router's default open schedule (30 s, doubling, at most
 * 5 minutes) has within the window's length (at least 1); all of it once
 * per instance that learns of the outage alone (each of them without
 * shared state, one with it). `halfOpens` is what the policy's breakers
 * did, for information.
 *
 * @example
 * import { Schema } from "effect"
 * import { Report } from "effect-llm-failover/simulator"
 *
 * // one outage window of a target, from `simulate --json`
 * const decode = Schema.decodeUnknown(Report.Outage)
 *
 * @since 0.1.0
 * @category schemas
 */
export const Outage = Schema.Struct({
  /** Milliseconds since the start. */
  from: Schema.Number,
  to: Schema.Number,
  wasted: Count,
  /** Times the target's breakers, on every instance, went half-open in the window (informational: not in `allowed`). */
  halfOpens: Count,
  /** The half-open spells the router's default open schedule has within the window's length (at least 1). */
  spells: Count,
  allowed: Count
})

/**
 * One outage window of a target: a decoded {@link Outage}.
 *
 * @example
 * import { Report } from "effect-llm-failover/simulator"
 *
 * declare const report: Report.Report
 *
 * // the outages in which the policy wasted more calls than its breaker allows
 * const overspent: ReadonlyArray<Report.Outage> = report.targets.flatMap((t) => t.outages.filter((o) => o.wasted > o.allowed))
 * for (const o of overspent) console.log(`${o.from / 60_000}-${o.to / 60_000} min: ${o.wasted} wasted, ${o.allowed} allowed`)
 *
 * @since 0.1.0
 * @category models
 */
export interface Outage extends Schema.Schema.Type<typeof Outage> {}

/**
 * One target: its upstream calls and their outcomes, the router's attempts
 * on it by error class, the refusals (breaker open, bulkhead full), wasted
 * calls, breaker openings, and its timeline row.
 *
 * @example
 * import { Schema } from "effect"
 * import { Report } from "effect-llm-failover/simulator"
 *
 * // one target's line of the per-target table, from `simulate --json`
 * const decode = Schema.decodeUnknown(Report.Target)
 *
 * @since 0.1.0
 * @category schemas
 */
export const Target = Schema.Struct({
  name: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  calls: Count,
  succeeded: Count,
  failed: Count,
  /** Calls the router abandoned: a timeout, or a hedge or race that another target won. */
  cancelled: Count,
  served: Count,
  failures: Schema.Record({ key: Schema.String, value: Count }),
  rejected: Schema.Record({ key: Schema.String, value: Count }),
  wasted: Count,
  /** Times its breaker opened, on every instance (an opening mirrored through shared state is not one more). */
  breakerOpens: Count,
  budgetRefusals: Count,
  cost: Schema.Number,
  outages: Schema.Array(Outage),
  /** One character a column (`s`: every call answered, their median over 4 times the target's usual latency): see {@link legend}. */
  timeline: Schema.String
})

/**
 * One target's line of the report: a decoded {@link Target}.
 *
 * @example
 * import { Report } from "effect-llm-failover/simulator"
 *
 * declare const report: Report.Report
 *
 * const describe = (t: Report.Target) =>
 *   `${t.name} (${t.provider}/${t.model}): ${t.served} served of ${t.calls} calls, ${t.wasted} wasted, ` +
 *   `breaker opened ${t.breakerOpens} times, $${t.cost.toFixed(4)}`
 * report.targets.map(describe).forEach((line) => console.log(line))
 *
 * @since 0.1.0
 * @category models
 */
export interface Target extends Schema.Schema.Type<typeof Target> {}

/**
 * One target of the issue, checked: `met` is `null` when it does not apply
 * (e.g. the load-amplification target when some target was always up).
 *
 * @example
 * import { Schema } from "effect"
 * import { Report } from "effect-llm-failover/simulator"
 *
 * // one of the targets checked against a run, from `simulate --json`
 * const decode = Schema.decodeUnknown(Report.Check)
 *
 * @since 0.1.0
 * @category schemas
 */
export const Check = Schema.Struct({
  name: Schema.String,
  met: Schema.NullOr(Schema.Boolean),
  detail: Schema.String
})

/**
 * One of the targets, checked: a decoded {@link Check}.
 *
 * @example
 * import { Report } from "effect-llm-failover/simulator"
 *
 * declare const report: Report.Report
 *
 * // fail a CI job when the policy misses a target (`null`: does not apply)
 * const missed: ReadonlyArray<Report.Check> = report.checks.filter((check) => check.met === false)
 * if (missed.length > 0) throw new Error(missed.map((check) => `${check.name}: ${check.detail}`).join("\n"))
 *
 * @since 0.1.0
 * @category models
 */
export interface Check extends Schema.Schema.Type<typeof Check> {}

/**
 * The report of one scenario under one policy.
 *
 * @example
 * import { Schema } from "effect"
 * import { Report } from "effect-llm-failover/simulator"
 * import { readFileSync } from "node:fs"
 *
 * // a report saved with `llm-failover simulate --scenario s.yaml --json > report.json`
 * const report = Schema.decodeUnknownSync(Report.Report)(JSON.parse(readFileSync("report.json", "utf8")))
 * const shortOfOracle = report.oracleAvailability - report.availability
 *
 * @since 0.1.0
 * @category schemas
 */
export const Report = Schema.Struct({
  scenario: Schema.String,
  description: Schema.optionalWith(Schema.String, { exact: true }),
  policy: Schema.String,
  seed: Schema.Int,
  /** Milliseconds of traffic (requests arrive in [0, duration)). */
  duration: Schema.Number,
  /** Milliseconds until the last request ended. */
  end: Schema.Number,
  chain: Schema.String,
  chainTargets: Schema.Array(Schema.String),
  stream: Schema.Boolean,
  requests: Count,
  served: Count,
  degraded: Count,
  failed: Count,
  availability: Schema.Number,
  oracleAvailability: Schema.Number,
  latency: Percentiles,
  oracleLatency: Percentiles,
  /**
   * The router's percentiles over the requests the oracle could serve, one
   * it did not answer counted as never answered: a percentile that falls on
   * one is `null` (all are `null` when no request was servable).
   */
  servableLatency: Percentiles,
  /** Requests the oracle could serve that no target answered (failed, or answered from degraded mode). */
  servableUnanswered: Count,
  upstreamCalls: Count,
  wastedCalls: Count,
  cost: Schema.Number,
  oracleCost: Schema.Number,
  fallbackRate: Schema.Number,
  /** Minutes each timeline column stands for. */
  minutesPerColumn: Schema.Int,
  /**
   * The requests' row: how the requests arriving in each column fared (`s`:
   * all answered, their median latency over 4 times the oracle's).
   */
  timeline: Schema.String,
  targets: Schema.Array(Target),
  checks: Schema.Array(Check)
}).annotations({ identifier: "SimulationReport" })

/**
 * The report of one scenario under one policy: a decoded {@link Report}.
 *
 * @example
 * import { Effect } from "effect"
 * import { Report, Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 *
 * const pct = (x: number) => `${(x * 100).toFixed(2)}%`
 * const summary = (report: Report.Report) =>
 *   `${report.policy}: ${pct(report.availability)} answered (oracle ${pct(report.oracleAvailability)}), ${report.wastedCalls} wasted calls`
 *
 * const program = Effect.flatMap(Simulator.run(scenario), ({ report }) => Effect.log(summary(report)))
 *
 * @since 0.1.0
 * @category models
 */
export interface Report extends Schema.Schema.Type<typeof Report> {}

/**
 * One scenario under several policies.
 *
 * @example
 * import { Schema } from "effect"
 * import { Report } from "effect-llm-failover/simulator"
 *
 * // the reports of `simulate --compare --json`, one per policy
 * const decode = Schema.decodeUnknown(Report.Comparison)
 *
 * @since 0.1.0
 * @category schemas
 */
export const Comparison = Schema.Struct({
  scenario: Schema.String,
  reports: Schema.Array(Report)
}).annotations({ identifier: "SimulationComparison" })

/**
 * One scenario under several policies: a decoded {@link Comparison}.
 *
 * @example
 * import { Effect } from "effect"
 * import { Report, Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 *
 * // the cheapest policy that answered at least 99.9% of the requests
 * const cheapestAvailable = (comparison: Report.Comparison): string | undefined =>
 *   comparison.reports
 *     .filter((r) => r.availability >= 0.999)
 *     .reduce<Report.Report | undefined>((min, r) => (min === undefined || r.cost < min.cost ? r : min), undefined)?.policy
 *
 * const best = Effect.map(Simulator.compare(scenario), ({ comparison }) => cheapestAvailable(comparison))
 *
 * @since 0.1.0
 * @category models
 */
export interface Comparison extends Schema.Schema.Type<typeof Comparison> {}

/**
 * The timeline's characters.
 *
 * @example
 * import { Report } from "effect-llm-failover/simulator"
 *
 * console.log(Report.legend) // what the timeline's marks mean
 *
 * @since 0.1.0
 * @category formatting
 */
export const legend = text.legend

/**
 * A report as text for a terminal: the figures beside the oracle's, the
 * target table, the timeline and the checks.
 *
 * @example
 * import { Effect } from "effect"
 * import { Report, Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 * const printed = Effect.map(Simulator.run(scenario), ({ report }) => console.log(Report.format(report)))
 *
 * @since 0.1.0
 * @category formatting
 */
export const format: (report: Report) => string = text.report

/**
 * Several reports of one scenario side by side, one column per policy.
 *
 * @example
 * import { Effect } from "effect"
 * import { Report, Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 * const printed = Effect.map(Simulator.compare(scenario), ({ comparison }) => console.log(Report.formatComparison(comparison)))
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatComparison: (comparison: Comparison) => string = text.comparison

/**
 * A report as JSON text (Schema-encoded, pretty-printed).
 *
 * @example
 * import { Report } from "effect-llm-failover/simulator"
 *
 * declare const report: Report.Report
 * const json = Report.toJson(report)
 *
 * @since 0.1.0
 * @category formatting
 */
export const toJson = (report: Report): string => JSON.stringify(Schema.encodeSync(Report)(report), null, 2)

/**
 * A comparison as JSON text (Schema-encoded, pretty-printed): what
 * `llm-failover simulate --compare --json` prints.
 *
 * @example
 * import { Console, Effect } from "effect"
 * import { Report, Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 * const printed = Effect.flatMap(Simulator.compare(scenario), ({ comparison }) =>
 *   Console.log(Report.comparisonToJson(comparison))
 * )
 *
 * @since 0.1.0
 * @category formatting
 */
export const comparisonToJson = (comparison: Comparison): string =>
  JSON.stringify(Schema.encodeSync(Comparison)(comparison), null, 2)
