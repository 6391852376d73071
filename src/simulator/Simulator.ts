/**
 * The outage simulator: replays a provider incident (a {@link Scenario})
 * against a fallback policy and measures availability, latency, wasted
 * calls and cost before the policy reaches production.
 *
 * Each run builds the real router (`Router.make` over
 * `Config.toRouterConfig`) from the scenario's config and sends the
 * scenario's traffic through it in {@link VirtualTime}: an hour of traffic
 * takes seconds, and the report is the same on every run and every machine.
 * An oracle that knows the fault schedule says what was achievable; see
 * {@link Report} for every figure's definition.
 *
 * **Policies** for {@link compare}:
 *
 * - `naive`: the basic hand-written loop: each target in chain order, one
 *   retry (two attempts), no circuit breaker (a threshold never reached), no
 *   retry budget (a bucket too large to empty), no bulkhead, no degraded
 *   answers (no cache, no chain's `fallbackResponse`), no hedging. Timeouts
 *   and Retry-After handling are the router's defaults, so a Retry-After
 *   above 10 seconds still fails over at once and opens the breaker for its
 *   duration.
 * - `default`: the router's defaults: every policy section of the file
 *   removed (top-level, per model, per chain, hedging, racing, shadow
 *   traffic); chains keep their targets, strategy and `fallbackResponse`.
 * - `scenario`: the scenario's config as written.
 *
 * @example
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Console, Effect } from "effect"
 * import { Report, Scenario, Simulator } from "effect-llm-failover/simulator"
 *
 * const program = Effect.gen(function* () {
 *   const scenario = yield* Scenario.load("examples/scenarios/primary-down.yaml")
 *   const { report } = yield* Simulator.run(scenario)
 *   yield* Console.log(Report.format(report))
 * }).pipe(Effect.provide(NodeFileSystem.layer))
 *
 * @since 0.1.0
 */
import { Data, Effect } from "effect"
import type * as Config from "../config/Config.js"
import * as policies from "./internal/policies.js"
import * as reports from "./internal/report.js"
import * as runs from "./internal/run.js"
import type * as Report from "./Report.js"
import * as Scenarios from "./Scenario.js"
import * as VirtualTime from "./VirtualTime.js"

/**
 * The policies a scenario can run under.
 *
 * @example
 * import { Effect } from "effect"
 * import { Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 * declare const flag: string // e.g. from `--policy`
 *
 * const policy: Simulator.PolicyName = Simulator.policyNames.find((name) => name === flag) ?? "scenario"
 * const program = Simulator.run(scenario, { policy })
 *
 * @since 0.1.0
 * @category models
 */
export type PolicyName = "naive" | "default" | "scenario"

/**
 * Every policy, in the order {@link compare} runs them.
 *
 * @example
 * import { Simulator } from "effect-llm-failover/simulator"
 *
 * Simulator.policyNames // ["naive", "default", "scenario"]: the policies `--compare` runs side by side
 *
 * @since 0.1.0
 * @category models
 */
export const policyNames: ReadonlyArray<PolicyName> = ["naive", "default", "scenario"]

/**
 * The config a scenario runs under a policy: the scenario's own config, or
 * a rewrite of it with the same providers, models and chains.
 *
 * @example
 * import { Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 * const naive = Simulator.configFor(scenario, "naive") // policy: maxAttempts 2, no breaker, no budget
 *
 * @since 0.1.0
 * @category policies
 */
export const configFor = (scenario: Scenarios.Scenario, policy: PolicyName): Config.ConfigFile =>
  policy === "naive" ? policies.naive(scenario.config) : policy === "default" ? policies.defaults(scenario.config) : scenario.config

/**
 * A run could not happen: the router refused the config, or the world
 * stalled.
 *
 * @example
 * import { Console, Effect } from "effect"
 * import { Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 * const reported = Simulator.run(scenario).pipe(
 *   Effect.catchTag("SimulationError", (error) => Console.error(error.message)) // names the scenario and policy
 * )
 *
 * @since 0.1.0
 * @category errors
 */
export class SimulationError extends Data.TaggedError("SimulationError")<{ readonly message: string }> {}

/**
 * Options of {@link run}.
 *
 * @example
 * import { Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 *
 * // what the router's defaults would have done in this incident
 * const options: Simulator.RunOptions = { policy: "default" }
 * const program = Simulator.run(scenario, options)
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** Default `"scenario"`. */
  readonly policy?: PolicyName
}

/**
 * A run's report and what the run cost in real time (kept apart from the
 * report, which never varies).
 *
 * @example
 * import { Effect } from "effect"
 * import { Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 *
 * const program = Effect.gen(function* () {
 *   const { report, stats }: Simulator.Run = yield* Simulator.run(scenario)
 *   yield* Effect.log(`${report.requests} requests in ${Math.round(stats.realMillis)} ms of real time (${stats.wakeUps} timers)`)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Run {
  readonly report: Report.Report
  readonly stats: VirtualTime.Stats
}

/**
 * A decoded scenario (re-exported for convenience).
 *
 * @example
 * import { Effect } from "effect"
 * import { Scenario, Simulator } from "effect-llm-failover/simulator"
 *
 * declare const text: string // a scenario's YAML
 *
 * const program = Effect.gen(function* () {
 *   const scenario: Simulator.Scenario = yield* Scenario.parse(text)
 *   return yield* Simulator.compare(Scenario.withHorizon(scenario, "15 minutes"))
 * })
 *
 * @since 0.1.0
 * @category models
 */
export type Scenario = Scenarios.Scenario

/**
 * Runs a scenario under a policy and reports.
 *
 * @example
 * import { Console, Effect } from "effect"
 * import { Report, Scenario, Simulator } from "effect-llm-failover/simulator"
 *
 * declare const text: string // a scenario's YAML
 * const program = Effect.gen(function* () {
 *   const scenario = yield* Scenario.parse(text)
 *   const { report, stats } = yield* Simulator.run(scenario, { policy: "default" })
 *   yield* Console.log(Report.format(report))
 *   yield* Console.log(`${stats.virtualMillis / 60_000} minutes simulated in ${Math.round(stats.realMillis)} ms`)
 * })
 *
 * @since 0.1.0
 * @category running
 */
export const run = (scenario: Scenarios.Scenario, options: RunOptions = {}): Effect.Effect<Run, SimulationError> =>
  Effect.suspend(() => {
    const policy = options.policy ?? "scenario"
    const file = configFor(scenario, policy)
    const times = Scenarios.arrivals(scenario)
    return VirtualTime.runWithStats(runs.run(scenario, file, times)).pipe(
      Effect.map(([raw, stats]) => ({ report: reports.build(scenario, policy, file, raw), stats })),
      Effect.mapError((error) => new SimulationError({ message: `${scenario.name} under ${policy}: ${error.message}` }))
    )
  })

/**
 * Options of {@link compare}.
 *
 * @example
 * import { Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 *
 * // the hand-written loop against the scenario's own policy, without the defaults
 * const options: Simulator.CompareOptions = { policies: ["naive", "scenario"] }
 * const program = Simulator.compare(scenario, options)
 *
 * @since 0.1.0
 * @category models
 */
export interface CompareOptions {
  /** Default: every policy, naive first. */
  readonly policies?: ReadonlyArray<PolicyName>
}

/**
 * Runs a scenario under several policies, one after the other, and puts the
 * reports side by side.
 *
 * @example
 * import { Console, Effect } from "effect"
 * import { Report, Simulator } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Simulator.Scenario
 * const program = Effect.flatMap(Simulator.compare(scenario), ({ comparison }) =>
 *   Console.log(Report.formatComparison(comparison))
 * )
 *
 * @since 0.1.0
 * @category running
 */
export const compare = (
  scenario: Scenarios.Scenario,
  options: CompareOptions = {}
): Effect.Effect<{ readonly comparison: Report.Comparison; readonly stats: ReadonlyArray<VirtualTime.Stats> }, SimulationError> =>
  Effect.map(
    Effect.forEach(options.policies ?? policyNames, (policy) => run(scenario, { policy })),
    (done) => ({ comparison: { scenario: scenario.name, reports: done.map((r) => r.report) }, stats: done.map((r) => r.stats) })
  )
