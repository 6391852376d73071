/**
 * A scenario: a provider incident to replay against a fallback policy. It is
 * a config file, in the same format `llm-failover serve` reads, whose
 * providers are all `simulated` with fault schedules, plus the traffic to
 * send (`load`) and a `seed`:
 *
 * ```yaml
 * name: primary-down
 * description: the primary answers 529 for 20 minutes
 * seed: 7
 * load:
 *   duration: "1 hour"
 *   requestsPerSecond: 3
 *   promptTokens: 500        # default 500
 *   completionTokens: 200    # default 200
 *   stream: false            # default false: complete
 *   chain: default           # default: the router's choice (classifier, then defaultChain)
 *   arrivals: poisson        # or even; default poisson
 *   instances: 1             # routers the traffic is spread over (round robin); default 1
 *   shared: false            # with instances > 1: do they share breakers and retry budgets (as on Redis)?
 *   propagation: "100 millis" # with shared: how long counts take to reach the other instances (see below)
 * providers:
 *   anthropic: { type: simulated, latency: { p50: "700 millis", p99: "3 seconds" },
 *                faults: [{ from: "10 minutes", to: "30 minutes", status: 529 }] }
 *   openai: { type: simulated, latency: { p50: "500 millis", p99: "2 seconds" } }
 * models:
 *   sonnet: { provider: anthropic, price: { input: 3, output: 15 } }
 *   mini: { provider: openai, price: { input: 0.4, output: 1.6 } }
 * chains: { default: [sonnet, mini] }
 * policy: { breaker: { consecutiveFailures: 3 } }
 * ```
 *
 * **Arrivals** are a pure function of the seed: `poisson` draws exponential
 * gaps of mean `1 / requestsPerSecond`; `even` spaces requests
 * `1 / requestsPerSecond` apart and moves each by a uniform offset within
 * half a gap. Times are whole milliseconds. Every request has its own prompt
 * of about `promptTokens` tokens (so degraded mode's cache never answers one
 * from another) and asks for `completionTokens` tokens (`maxTokens`); each
 * simulated provider that sets no `outputTokens` answers exactly that many.
 *
 * **Shared state** (`shared: true`) stands in for `SharedState` on Redis.
 * `propagation` is its sync: a breaker's counted calls, a retry budget's
 * count and health samples reach the other instances once per
 * `propagation` (a batch holding a failure within 12 ms, as a failure wakes
 * the sync). A breaker's transition (open, half-open, closed, isolated)
 * does not wait for it: `SharedState` publishes transitions on a pub/sub
 * channel at once, so they arrive after a round trip of 2 ms (or
 * `propagation`, if shorter).
 *
 * **Randomness**: the seed drives the arrivals, the router's `Random`
 * (backoff jitter, weighted strategies, shadow sampling) and the oracle's
 * latency samples, and it reseeds the simulated providers: each model on a
 * simulated provider draws its latencies and its failures (`errorRate`)
 * from its provider's `seed` (by default a hash of its provider and model)
 * mixed with the scenario's, so a sweep of the scenario's seed varies the
 * providers' draws as well as the arrivals.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Duration, Effect, Schema } from "effect"
import * as Config from "../config/Config.js"
import type * as problems from "../config/internal/problems.js"
import { finish } from "../config/internal/problems.js"
import * as references from "../config/internal/references.js"
import { repeatedWindows } from "../config/internal/schema.js"
import * as secret from "../config/internal/secret.js"
import * as text from "../config/internal/text.js"
import type * as Simulated from "../providers/Simulated.js"
import * as arrivalTimes from "./internal/arrivals.js"
import * as internal from "./internal/scenario.js"

/**
 * The traffic of a scenario, decoded, with its defaults applied.
 *
 * @example
 * import { Duration } from "effect"
 * import { Scenario } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Scenario.Scenario
 *
 * const load: Scenario.Load = scenario.load
 * const requests = Math.round(load.requestsPerSecond * Duration.toSeconds(load.duration))
 * console.log(`~${requests} ${load.stream ? "streamed " : ""}requests over ${load.instances} instance(s), ${load.arrivals} arrivals`)
 *
 * @since 0.1.0
 * @category models
 */
export interface Load {
  readonly duration: Duration.Duration
  readonly requestsPerSecond: number
  readonly promptTokens: number
  readonly completionTokens: number
  readonly stream: boolean
  /** The chain every request names; absent: the router picks as it would for an unnamed request. */
  readonly chain?: string
  readonly arrivals: "poisson" | "even"
  /** Router instances the requests are spread over, round robin (each its own breakers and budgets). */
  readonly instances: number
  /** Whether the instances share breaker state and retry budgets, as `SharedState` does on Redis. */
  readonly shared: boolean
  /**
   * With `shared`: the sync interval, how long counted calls, retry budgets
   * and health samples take to reach the other instances. Breaker
   * transitions are published at once and arrive after 2 ms (or this, if
   * shorter), as `SharedState` sends them.
   */
  readonly propagation: Duration.Duration
}

/**
 * A decoded scenario: its name, seed, load, and the config the router is
 * built from.
 *
 * @example
 * import { Effect } from "effect"
 * import { Scenario, Simulator } from "effect-llm-failover/simulator"
 *
 * declare const text: string // a scenario's YAML
 *
 * const program = Effect.gen(function* () {
 *   const scenario: Scenario.Scenario = yield* Scenario.parse(text)
 *   // the same incident, another seed: does the policy hold up?
 *   const reseeded: Scenario.Scenario = { ...scenario, seed: scenario.seed + 1 }
 *   return yield* Simulator.run(reseeded)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Scenario {
  readonly name: string
  readonly description?: string
  readonly seed: number
  readonly load: Load
  readonly config: Config.ConfigFile
  /**
   * What the file holds that the simulation reads, though likely not as
   * meant: a duration written as a small bare number, which is
   * milliseconds (`latency: 45` is 45 ms); a fault that starts once the
   * load has ended, which never fires. `simulate` prints them.
   */
  readonly warnings?: ReadonlyArray<Config.Problem>
}

/**
 * The defaults of a scenario's optional fields.
 *
 * @example
 * import { Scenario } from "effect-llm-failover/simulator"
 *
 * Scenario.defaults.seed // 1: the same figures on every run unless a scenario sets its own
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaults = {
  seed: 1,
  promptTokens: 500,
  completionTokens: 200,
  stream: false,
  arrivals: "poisson",
  instances: 1,
  shared: false,
  propagation: "100 millis"
} as const

/**
 * The scenario is invalid: every problem, each at its path and line (the
 * same problems a config reports, plus those of `load` and `seed`, and any
 * provider that is not simulated).
 *
 * @example
 * import { Effect } from "effect"
 * import { Scenario } from "effect-llm-failover/simulator"
 *
 * const program = Scenario.parse("providers: {}\n").pipe(
 *   Effect.catchTag("ScenarioError", (error) => Effect.logError(error.message))
 * )
 *
 * @since 0.1.0
 * @category errors
 */
export class ScenarioError extends Schema.TaggedError<ScenarioError>("effect-llm-failover/ScenarioError")(
  "ScenarioError",
  {
    source: Schema.optionalWith(Schema.String, { exact: true }),
    problems: Schema.Array(Config.Problem)
  }
) {
  override get message(): string {
    const from = this.source === undefined ? "" : ` ${this.source}`
    const count = this.problems.length === 1 ? "1 problem" : `${this.problems.length} problems`
    return `invalid scenario${from} (${count}):\n${this.problems.map((p) => `  ${Config.formatProblem(p)}`).join("\n")}`
  }
}

/**
 * Options of {@link parse}.
 *
 * @example
 * import { Effect } from "effect"
 * import { Scenario } from "effect-llm-failover/simulator"
 *
 * declare const body: string // a scenario posted as JSON
 *
 * // named "incident-2025-03", and read as JSON whatever the source's name says
 * const options: Scenario.ParseOptions = { source: "incident-2025-03", format: "json" }
 * const scenario = Scenario.parse(body, options)
 *
 * @since 0.1.0
 * @category models
 */
export interface ParseOptions {
  /** Where the text came from (a path): names the scenario when it has no `name`, and picks the format. */
  readonly source?: string
  readonly format?: Config.Format
}

const nameFrom = (source: string | undefined): string => {
  if (source === undefined) return "scenario"
  const file = source.split(/[\\/]/).pop() ?? source
  return file.replace(/\.(ya?ml|json)$/i, "") || "scenario"
}

const fromFile = ({ file, warnings }: internal.Parsed, source: string | undefined): Scenario => {
  const load = file.load
  return {
    name: file.name ?? nameFrom(source),
    ...(file.description === undefined ? {} : { description: file.description }),
    seed: file.seed ?? defaults.seed,
    load: {
      duration: load.duration,
      requestsPerSecond: load.requestsPerSecond,
      promptTokens: load.promptTokens ?? defaults.promptTokens,
      completionTokens: load.completionTokens ?? defaults.completionTokens,
      stream: load.stream ?? defaults.stream,
      arrivals: load.arrivals ?? defaults.arrivals,
      instances: load.instances ?? defaults.instances,
      shared: load.shared ?? defaults.shared,
      propagation: load.propagation ?? Duration.decode(defaults.propagation),
      ...(load.chain === undefined ? {} : { chain: load.chain })
    },
    config: internal.configOf(file),
    warnings
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The faults of a scenario that start once its load has ended, which never
 * fire: each entry of a provider's `faults` whose (first) window starts at
 * or after `load.duration`, at its `from` (a repeat's `fault.from`). The
 * decoded schedule is flat, a repeat expanded into its windows; the file's
 * entries are walked beside it to name each by its place in the file.
 */
const lateFaults = (raw: unknown, scenario: Scenario): ReadonlyArray<problems.RawProblem> => {
  const end = Duration.toMillis(scenario.load.duration)
  const providers = isRecord(raw) ? raw["providers"] : undefined
  if (!isRecord(providers)) return []
  return Object.entries(providers).flatMap(([name, provider]) => {
    const entries = isRecord(provider) && Array.isArray(provider["faults"]) ? provider["faults"] : []
    const decoded = scenario.config.providers[name]
    const flat: ReadonlyArray<Simulated.Fault> = decoded?.type === "simulated" ? decoded.faults ?? [] : []
    let window = 0
    return entries.flatMap((entry: unknown, i) => {
      const repeated = isRecord(entry) && "repeat" in entry
      const first = flat[window]
      window += repeated ? repeatedWindows(entry) : 1
      const from = first === undefined ? 0 : Duration.toMillis(first.from ?? Duration.zero)
      return first === undefined || from < end
        ? []
        : [{
            path: ["providers", name, "faults", i, ...(repeated ? ["fault"] : []), "from"],
            message: `starts at ${Duration.format(Duration.millis(from))}, after the load ends (${Duration.format(scenario.load.duration)}): it never fires`
          }]
    })
  })
}

/** A scenario's warnings with those of its faults that never fire (`lateFaults`), at their lines. */
const withLateFaults = (input: string, options: ParseOptions, scenario: Scenario): Scenario => {
  const parsed = text.parseText(input, options.format ?? text.detectFormat(input, options.source))
  if (parsed._tag === "Left") return scenario
  const late = lateFaults(parsed.right.value, scenario)
  if (late.length === 0) return scenario
  const found = finish(late, secret.suspectedSecrets(parsed.right.value), parsed.right.locate)
  return { ...scenario, warnings: [...(scenario.warnings ?? []), ...found] }
}

/**
 * Parses a scenario's text (YAML or JSON) and checks it. A fault that starts
 * once the load has ended, which never fires, is a warning.
 *
 * @example
 * import { Effect } from "effect"
 * import { Scenario } from "effect-llm-failover/simulator"
 *
 * const scenario = Scenario.parse(`
 * seed: 3
 * load: { duration: "10 minutes", requestsPerSecond: 2 }
 * providers:
 *   a: { type: simulated, faults: [{ from: "2 minutes", to: "4 minutes", status: 529 }] }
 *   b: { type: simulated }
 * models: { primary: { provider: a }, backup: { provider: b } }
 * chains: { default: [primary, backup] }
 * `)
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (input: string, options: ParseOptions = {}): Effect.Effect<Scenario, ScenarioError> => {
  const failure = (problems: ReadonlyArray<Config.Problem>) =>
    new ScenarioError({ problems, ...(options.source === undefined ? {} : { source: options.source }) })
  return internal.parse(input, options.source, options.format).pipe(
    Effect.mapBoth({ onFailure: failure, onSuccess: (parsed) => withLateFaults(input, options, fromFile(parsed, options.source)) }),
    // poisson arrivals may draw none where about one is expected: a run that sends nothing would report 100% availability
    Effect.filterOrFail(
      (scenario) => arrivals(scenario).length > 0,
      () => failure([{ path: "load", message: "the load's arrivals hold no request with this seed: lengthen the duration or raise requestsPerSecond" }])
    )
  )
}

/**
 * Reads and parses a scenario file.
 *
 * @example
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Scenario } from "effect-llm-failover/simulator"
 *
 * const scenario = Scenario.load("examples/scenarios/primary-down.yaml").pipe(Effect.provide(NodeFileSystem.layer))
 *
 * @since 0.1.0
 * @category parsing
 */
export const load = (path: string): Effect.Effect<Scenario, ScenarioError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.readFileString(path).pipe(
      Effect.mapError(
        (error) => new ScenarioError({ source: path, problems: [{ path: "", message: `cannot read the file: ${error.message}` }] })
      ),
      Effect.flatMap((content) => parse(content, { source: path }))
    )
  )

/**
 * The arrival times of a scenario's requests, in milliseconds from the
 * start, ascending; a pure function of the seed.
 *
 * @example
 * import { Scenario } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Scenario.Scenario
 * const times = Scenario.arrivals(scenario) // e.g. [312, 790, 1207, ...]
 *
 * @since 0.1.0
 * @category arrivals
 */
export const arrivals = (scenario: Scenario): ReadonlyArray<number> =>
  arrivalTimes.times(
    scenario.load.arrivals,
    scenario.load.requestsPerSecond,
    Duration.toMillis(scenario.load.duration),
    scenario.seed
  )

/**
 * The same scenario with its traffic cut to at most `duration` (faults
 * after it then never matter). Useful for a quick look at a long scenario.
 *
 * @example
 * import { Scenario } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Scenario.Scenario
 * const firstTenMinutes = Scenario.withHorizon(scenario, "10 minutes")
 *
 * @since 0.1.0
 * @category combinators
 */
export const withHorizon = (scenario: Scenario, duration: Duration.DurationInput): Scenario => ({
  ...scenario,
  load: { ...scenario.load, duration: Duration.min(scenario.load.duration, Duration.decode(duration)) }
})

/**
 * The names of the models of a chain (or a model alias) in a scenario's
 * config, primary first; a config without chains has one chain, `default`,
 * of every model in file order.
 *
 * @example
 * import { Scenario } from "effect-llm-failover/simulator"
 *
 * declare const scenario: Scenario.Scenario
 * Scenario.chainTargets(scenario.config, "default") // ["sonnet", "mini"]
 *
 * @since 0.1.0
 * @category models
 */
export const chainTargets = (config: Config.ConfigFile, chain: string): ReadonlyArray<string> => {
  const chains = config.chains ?? { [references.implicitChain]: Object.keys(config.models) }
  const entry = chains[chain]
  if (entry === undefined) return chain in config.models ? [chain] : []
  return Array.isArray(entry) ? (entry as ReadonlyArray<string>) : (entry as { readonly targets: ReadonlyArray<string> }).targets
}
