/**
 * The router: failover chains of LLM targets, each wrapped in its resilience
 * policy, with strategies, racing, hedging, streaming fallback and degraded
 * mode. It provides `LanguageModel`, so app code that asks a
 * `LanguageModel` gets failover without changing.
 *
 * @since 0.1.0
 */
import { Cause, Chunk, Context, Data, Duration, Effect, type Exit, Layer, Option, PubSub, Scope, Stream } from "effect"
import type { ChatChunk, ChatRequest, ChatResponse } from "../llm/Chat.js"
import type { ChainExhausted, StreamInterrupted } from "../llm/FailoverError.js"
import * as LanguageModel from "../llm/LanguageModel.js"
import type { ContentFiltered, ProviderError } from "../llm/ProviderError.js"
import { hint } from "../llm/internal/names.js"
import { InvalidRequest } from "../llm/ProviderError.js"
import * as Backoff from "../resilience/Backoff.js"
import * as Bulkhead from "../resilience/Bulkhead.js"
import * as CircuitBreaker from "../resilience/CircuitBreaker.js"
import * as Health from "../resilience/Health.js"
import { isNegative } from "../resilience/internal/duration.js"
import { maxWindowCalls } from "../resilience/internal/window.js"
import * as RateLimit from "../resilience/RateLimit.js"
import * as RetryBudget from "../resilience/RetryBudget.js"
import type { Classifier } from "./Classifier.js"
import * as DegradedCache from "./DegradedCache.js"
import type { Listener, RouterEvent } from "./Events.js"
import * as carryOver from "./internal/carryOver.js"
import * as engine from "./internal/engine.js"
import { withoutOne } from "./internal/listeners.js"
import * as swap from "./internal/swap.js"
import { requestProblem } from "./internal/validate.js"
import * as Policy from "./Policy.js"
import * as Strategy from "./Strategy.js"

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/**
 * A target: one model at one provider, and its own policy.
 *
 * @example
 * ```ts
 * import type { LanguageModel, ProviderError } from "effect-llm-failover/llm"
 * import type { Router } from "effect-llm-failover/router"
 *
 * declare const mini: LanguageModel.Service<ProviderError>
 * // the account's limits, twice the traffic of a weight-1 target under `weighted`, a retry more
 * const target: Router.TargetConfig = { model: mini, weight: 2, rpm: 500, tpm: 200_000, policy: { retry: { maxAttempts: 3 } } }
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export interface TargetConfig {
  /** The model: a provider adapter, or any `LanguageModel.Service`. */
  readonly model: LanguageModel.Service<ProviderError>
  /**
   * Its weight for the `weighted` strategy (default 1). A weight of 0 is
   * tried only after every positive one; a weighted chain whose targets all
   * weigh 0 tries them in priority order (`make` logs a warning).
   */
  readonly weight?: number
  /** Overrides of the router's policy for this target. */
  readonly policy?: Policy.Policy
  /**
   * Its requests per minute: past it, the target is skipped like an open
   * breaker (a `Rejected` with reason `"rate-limit"` and the wait, and the
   * request fails over at once). Shared across instances when a
   * `RateLimit.CurrentStore` is provided (`SharedState`).
   */
  readonly rpm?: number
  /** Its tokens per minute (prompt and answer): the estimate counts up front, the real usage corrects it. */
  readonly tpm?: number
}

/**
 * A chain: the targets to try for a request, and how.
 *
 * @example
 * ```ts
 * import type { Router } from "effect-llm-failover/router"
 *
 * const support: Router.ChainConfig = {
 *   targets: ["sonnet", "gpt-4.1", "flash"],
 *   strategy: "health",
 *   contentPolicy: "moderated",
 *   fallbackResponse: "We cannot answer right now. Please try again in a few minutes.",
 *   continueStreams: true
 * }
 * const chains: Router.Config["chains"] = { support, moderated: ["mini"] }
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export interface ChainConfig {
  /** Target names, primary first. */
  readonly targets: ReadonlyArray<string>
  /** How to order the targets per request (default `"priority"`). */
  readonly strategy?: Strategy.Name | Strategy.Strategy
  /** Overrides of retries and timeouts for this chain's requests. */
  readonly policy?: Policy.ChainPolicy
  /** Race the first N targets (in strategy order) at once; more than the chain has races them all (`make` logs a warning). */
  readonly race?: number
  /** Hedge the first target with the next ones after a delay. */
  readonly hedge?: Policy.HedgePolicy
  /** The chain to try when a target refuses on content policy. */
  readonly contentPolicy?: string
  /** A static answer for degraded mode, when every target failed (never for a request asking JSON). */
  readonly fallbackResponse?: string
  /** Resume a stream that fails mid-way on the next target (default `false`), a stream handed to this chain on content policy too; never a JSON answer's (`responseFormat`). */
  readonly continueStreams?: boolean
}

/**
 * The router's whole configuration.
 *
 * @example
 * import type { LanguageModel, ProviderError } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const sonnet: LanguageModel.Service<ProviderError>
 * declare const mini: LanguageModel.Service<ProviderError>
 *
 * const config: Router.Config = {
 *   targets: { sonnet: { model: sonnet }, mini: { model: mini } },
 *   chains: {
 *     default: ["sonnet", "mini"],
 *     budget: { targets: ["mini", "sonnet"], strategy: "cost" }
 *   },
 *   policy: { retry: { maxAttempts: 2 } }
 * }
 *
 * @since 0.1.0
 * @category config
 */
export interface Config {
  readonly targets: Readonly<Record<string, TargetConfig>>
  readonly chains: Readonly<Record<string, ChainConfig | ReadonlyArray<string>>>
  /** The chain for requests no classifier places (default: `"default"`, or the first chain). */
  readonly defaultChain?: string
  /** Picks a chain per request (task, tier). */
  readonly classifier?: Classifier
  /** The router-wide policy over the built-in defaults. */
  readonly policy?: Policy.Policy
  /** The health windows behind health-, latency- and p95-aware decisions. */
  readonly health?: Health.HealthOptions
  /** Degraded mode's last-known-good cache (`false` turns it off). */
  readonly cache?: DegradedCache.Options | false
  /** The share of served requests copied to a fallback target in the background (default 0). */
  readonly shadowRate?: number
}

/**
 * The router's configuration was inconsistent; `problems` lists every one.
 *
 * @example
 * import { Effect } from "effect"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Router.Config
 * const router = Router.make(config).pipe(
 *   Effect.catchTag("RouterConfigError", (error) =>
 *     Effect.dieMessage(`fix the config first:\n${error.problems.join("\n")}`)
 *   )
 * )
 *
 * @since 0.1.0
 * @category errors
 */
export class RouterConfigError extends Data.TaggedError("RouterConfigError")<{
  readonly problems: ReadonlyArray<string>
}> {
  override get message() {
    return `invalid router config:\n${this.problems.map((p) => `  - ${p}`).join("\n")}`
  }
}

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/**
 * What happened while serving a request: who answered, every attempt with
 * its error and duration, the fallbacks it took, its latency, usage and cost,
 * and what it cost over the chain's first target.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const { response, meta } = yield* Router.complete(Chat.prompt("Hi"))
 *   const served: Router.Meta = meta
 *   if (served.fallbacks > 0) {
 *     yield* Effect.logWarning(`served by ${served.target} after ${served.fallbacks} fallbacks, $${served.costDelta} over the primary`)
 *   }
 *   return response.text
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Meta = engine.Meta

/**
 * A completion and how it was served.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * // an HTTP handler's body: the answer and who gave it
 * const toBody = (result: Router.Result) => ({
 *   text: result.response.text,
 *   servedBy: `${result.meta.provider}/${result.meta.model}`,
 *   degraded: result.meta.degraded !== undefined
 * })
 * const body = Effect.map(Router.complete(Chat.prompt("Hi")), toBody)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly response: ChatResponse
  readonly meta: Meta
}

/**
 * A stream that has started: the metadata known at its first content chunk,
 * the chunks (the first ones included), and the final metadata (with usage
 * and cost) once the stream has ended.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const result: Router.StreamResult = yield* Router.stream(Chat.prompt("Tell a story"))
 *   yield* Effect.log(`streaming from ${result.meta.target}`)
 *   yield* Stream.runForEach(result.chunks, (chunk) =>
 *     chunk._tag === "TextDelta" ? Effect.sync(() => process.stdout.write(chunk.text)) : Effect.void
 *   )
 *   const meta = yield* result.done
 *   yield* Effect.log(`${meta.usage.outputTokens} tokens, $${meta.cost}`)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamResult {
  readonly meta: Meta
  readonly chunks: Stream.Stream<ChatChunk, StreamInterrupted>
  readonly done: Effect.Effect<Meta>
}

/**
 * What a chain can fail with: only the request's own faults, or every
 * target exhausted. A retriable provider error cannot escape a chain.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * const explain = (error: Router.ChainError): string =>
 *   error._tag === "ChainExhausted"
 *     ? error.deadlinePassed === true ? "it took too long" : "every model is down"
 *     : error._tag === "ContentFiltered" ? "refused on content policy" : `bad request: ${error.message}`
 * const answer = Router.complete(Chat.prompt("Hi")).pipe(
 *   Effect.map(({ response }) => response.text),
 *   Effect.catchAll((error) => Effect.succeed(explain(error)))
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ChainError = InvalidRequest | ContentFiltered | ChainExhausted

/**
 * Options of one request.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * // the caller's request id travels with every event, log line and span of the request
 * const answer = (requestId: string) =>
 *   Router.complete(Chat.prompt("Hi"), { chain: "premium", correlationId: requestId })
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  /** The chain to use; without it the classifier, then the default chain, decide. */
  readonly chain?: string
  /**
   * The caller's own id of the request (a request id, a trace id): every
   * event of the request carries it as `correlationId`, and so do the
   * lines and spans `Telemetry` makes of them. It is the caller's text,
   * written as given: no secret or personal data belongs in it.
   */
  readonly correlationId?: string | undefined
  /**
   * Who the request is for, when one router serves several (a customer, an
   * API key): degraded mode answers a request only from what was cached
   * for the same tenant, so an answer given to one is never served to
   * another. Without it, requests share their chain's cache.
   */
  readonly tenant?: string | undefined
}

/**
 * One target's live state, for dashboards.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Router } from "effect-llm-failover/router"
 *
 * const row = (target: Router.TargetStatus): string =>
 *   `${target.name} (${target.provider}/${target.model}): breaker ${target.breaker.state}, ${(target.health.successRate * 100).toFixed(1)}% ok`
 * const dashboard = Effect.flatMap(Router.Router, (router) => Effect.map(router.status, (targets) => targets.map(row)))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TargetStatus {
  readonly name: string
  readonly provider: string
  readonly model: string
  readonly breaker: CircuitBreaker.Snapshot
  readonly health: Health.HealthSnapshot
}

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

/**
 * The router's interface.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Router.Config
 * const program = Effect.gen(function* () {
 *   const router: Router.Service = yield* Router.make(config)
 *   yield* Effect.log(`chains: ${router.chains.join(", ")}; targets: ${router.targets.join(", ")}`)
 *   // one chain as a LanguageModel, for code that knows nothing of routers
 *   const budget = router.languageModel("budget")
 *   return yield* budget.complete(Chat.prompt("Hi"))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * One completion, with how it was served. A request no provider would
   * take (no messages, a message of an unknown role, a `temperature`
   * outside 0..2, a `topP` outside 0..1, a `maxTokens` that is no positive
   * integer, a `seed` that is no integer, a `topK` that is no positive
   * integer, a `presencePenalty` or `frequencyPenalty` outside -2..2, a
   * `toolChoice` asking for a tool the request lacks, a malformed
   * `providerOptions`) fails at once, as does {@link Service.stream}'s,
   * with an `InvalidRequest` from `"router"` that names the field: no call,
   * no event, nothing recorded in any breaker, health window or budget.
   */
  readonly complete: (request: ChatRequest, options?: RequestOptions) => Effect.Effect<Result, ChainError>
  /**
   * A streamed completion. The effect succeeds once the first content chunk
   * is in (so a failure before it falls back invisibly); the stream's
   * resources live in the caller's scope.
   */
  readonly stream: (request: ChatRequest, options?: RequestOptions) => Effect.Effect<StreamResult, ChainError, Scope.Scope>
  /**
   * A `LanguageModel` over one chain (default: per request, as the classifier
   * says). Its `info` is its first target's, but for `responseFormats`: every
   * JSON answer one of its targets gives. Throws an `Error` naming the
   * chain when the router has no chain of that name (see {@link Service.chains}).
   */
  readonly languageModel: (chain?: string) => LanguageModel.Service<ChainError | StreamInterrupted>
  /** The chain a request would use. */
  readonly chainFor: (request: ChatRequest, options?: RequestOptions) => string | undefined
  /**
   * Every event, live, for as long as the stream is consumed. Each consumer
   * has a buffer of 4,096 events; one that falls further behind loses the
   * oldest, so a count that must be whole (costs, metrics) belongs in a
   * `listen`er.
   */
  readonly events: Stream.Stream<RouterEvent>
  /**
   * Calls `listener` with every event, synchronously, in the fiber that
   * emits it, until the scope closes: for recorders cheap enough to run
   * inside a request (counters, windows, spans), without a fiber or a queue
   * between the router and them. A listener that throws is logged and the
   * request goes on. `Observability.attach` records through this.
   */
  readonly listen: (listener: Listener) => Effect.Effect<void, never, Scope.Scope>
  /** Each target's breaker and health, now. */
  readonly status: Effect.Effect<ReadonlyArray<TargetStatus>>
  /** The configured chains' names. Each target is also a one-target chain under its own name. */
  readonly chains: ReadonlyArray<string>
  /** The targets' names (model aliases). */
  readonly targets: ReadonlyArray<string>
  /** Each target's circuit breaker, e.g. to isolate one by hand. */
  readonly breaker: (target: string) => CircuitBreaker.CircuitBreaker | undefined
}

/**
 * The router service tag: what {@link layer} provides, beside a
 * `LanguageModel` over its default chain.
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Router.Config
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const { meta } = yield* router.complete(Chat.prompt("Hello"), { chain: "budget" })
 *   const open = (yield* router.status).filter((target) => target.breaker.state === "open")
 *   yield* Effect.log(`${meta.target} answered; ${open.length} breakers open`)
 * }).pipe(Effect.provide(Router.layer(config)))
 *
 * @since 0.1.0
 * @category tags
 */
export class Router extends Context.Tag("effect-llm-failover/Router")<Router, Service>() {}

const has = (record: object, key: string) => Object.prototype.hasOwnProperty.call(record, key)

const isWhole = (n: unknown, min: number) => typeof n === "number" && Number.isInteger(n) && n >= min

/**
 * A duration's problem, if any: one that does not decode, or a negative one
 * (which `Duration.decode` reads as zero: a negative timeout would time out
 * every call at once), or, where `positive`, zero.
 */
const durationProblem = (path: string, value: unknown, positive: boolean): ReadonlyArray<string> => {
  if (value === undefined) return []
  const decoded = Duration.decodeUnknown(value)
  if (Option.isNone(decoded)) return [`${path}: must be a duration (e.g. "30 seconds"), got ${JSON.stringify(value)}`]
  if (positive && !Duration.greaterThan(decoded.value, Duration.zero)) return [`${path}: must be longer than zero`]
  return isNegative(value as Duration.DurationInput) ? [`${path}: must not be negative`] : []
}

/** Problems with one policy's values, which would otherwise surface as defects on the first request. */
const policyProblems = (path: string, policy: Policy.Policy | undefined): Array<string> => {
  const problems: Array<string> = []
  if (policy === undefined) return problems
  const { retry, bulkhead, breaker, budget, timeouts } = policy
  for (const key of ["attempt", "firstToken", "idle", "total"] as const) {
    problems.push(...durationProblem(`${path}.timeouts.${key}`, timeouts?.[key], true))
  }
  for (const key of ["base", "cap", "retryAfterCap"] as const) {
    problems.push(...durationProblem(`${path}.retry.${key}`, retry?.[key], false))
  }
  for (const key of ["base", "cap"] as const) {
    problems.push(...durationProblem(`${path}.breaker.openDuration.${key}`, breaker?.openDuration?.[key], false))
  }
  if (breaker?.slowCallRate !== undefined && breaker.slowCallRate !== false) {
    problems.push(...durationProblem(`${path}.breaker.slowCallRate.slowCall`, breaker.slowCallRate.slowCall, true))
  }
  if (retry?.maxAttempts !== undefined && !(retry.maxAttempts === Infinity || isWhole(retry.maxAttempts, 1))) {
    problems.push(`${path}.retry.maxAttempts: must be a whole number of at least 1`)
  }
  if (retry?.factor !== undefined && !(retry.factor > 0)) problems.push(`${path}.retry.factor: must be above 0`)
  if (retry?.jitter !== undefined && !Backoff.jitters.includes(retry.jitter)) {
    problems.push(`${path}.retry.jitter: must be one of ${Backoff.jitters.join(", ")}`)
  }
  if (bulkhead !== undefined && bulkhead !== false) {
    if (!isWhole(bulkhead.maxConcurrent, 1)) problems.push(`${path}.bulkhead.maxConcurrent: must be a whole number of at least 1`)
    if (bulkhead.maxQueued !== undefined && !isWhole(bulkhead.maxQueued, 0)) {
      problems.push(`${path}.bulkhead.maxQueued: must be a whole number of at least 0`)
    }
  }
  for (const key of ["consecutiveFailures", "consecutiveSlowCalls"] as const) {
    const count = breaker?.[key]
    if (count !== undefined && !isWhole(count, 0)) problems.push(`${path}.breaker.${key}: must be a whole number (0 turns it off)`)
  }
  if (breaker?.halfOpenProbes !== undefined && !isWhole(breaker.halfOpenProbes, 1)) {
    problems.push(`${path}.breaker.halfOpenProbes: must be a whole number of at least 1`)
  }
  for (const key of ["failureRate", "slowCallRate"] as const) {
    const rate = breaker?.[key]
    if (rate === undefined || rate === false) continue
    if (!(rate.threshold > 0 && rate.threshold <= 1)) problems.push(`${path}.breaker.${key}.threshold: must be in (0, 1]`)
    // a window of calls is kept for every target, a byte a call
    if (typeof rate.window === "number" && !(isWhole(rate.window, 1) && rate.window <= maxWindowCalls)) {
      problems.push(`${path}.breaker.${key}.window: a number of calls must be a whole number from 1 to ${maxWindowCalls}`)
    }
  }
  for (const key of ["maxTokens", "tokenRatio"] as const) {
    const value = budget?.[key]
    if (value !== undefined && !(value >= 0.001 && Number.isFinite(value))) problems.push(`${path}.budget.${key}: must be at least 0.001`)
  }
  return problems
}

const validate = (config: Config): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const chainNames = Object.keys(config.chains)
  if (chainNames.length === 0) problems.push("chains: at least one chain is needed")
  problems.push(...policyProblems("policy", config.policy))
  const buckets = config.health?.buckets
  if (buckets !== undefined && !(isWhole(buckets, 1) && buckets <= Health.maxBuckets)) {
    problems.push(`health.buckets: must be a whole number from 1 to ${Health.maxBuckets}`)
  }
  for (const [name, raw] of Object.entries(config.chains)) {
    const chain = normaliseChain(raw)
    if (chain.targets.length === 0) problems.push(`chains.${name}: a chain needs at least one target`)
    chain.targets.forEach((target, i) => {
      if (!has(config.targets, target)) {
        problems.push(`chains.${name}.targets[${i}]: unknown target "${target}"${hint(target, Object.keys(config.targets), "targets")}`)
      }
    })
    if (chain.contentPolicy !== undefined && !has(config.chains, chain.contentPolicy)) {
      problems.push(`chains.${name}.contentPolicy: unknown chain "${chain.contentPolicy}"${hint(chain.contentPolicy, chainNames, "chains")}`)
    }
    if (chain.race !== undefined && !isWhole(chain.race, 1)) {
      problems.push(`chains.${name}.race: must be a whole number of at least 1`)
    }
    if (chain.race !== undefined && chain.race > 1 && chain.hedge !== undefined) {
      problems.push(`chains.${name}: race and hedge cannot both be set`)
    }
    if (chain.hedge?.maxHedges !== undefined && !isWhole(chain.hedge.maxHedges, 1)) {
      problems.push(`chains.${name}.hedge.maxHedges: must be a whole number of at least 1`)
    }
    if (chain.hedge !== undefined && chain.hedge.delay !== "p95") {
      problems.push(...durationProblem(`chains.${name}.hedge.delay`, chain.hedge.delay, false))
    }
    problems.push(...policyProblems(`chains.${name}.policy`, chain.policy))
  }
  if (config.defaultChain !== undefined && !has(config.chains, config.defaultChain)) {
    problems.push(`defaultChain: unknown chain "${config.defaultChain}"${hint(config.defaultChain, chainNames, "chains")}`)
  }
  for (const [name, target] of Object.entries(config.targets)) {
    if (target.weight !== undefined && !(target.weight >= 0)) problems.push(`targets.${name}.weight: must be >= 0`)
    for (const limit of ["rpm", "tpm"] as const) {
      const value = target[limit]
      if (value !== undefined && !isWhole(value, 1)) problems.push(`targets.${name}.${limit}: must be a whole number of at least 1`)
    }
    problems.push(...policyProblems(`targets.${name}.policy`, target.policy))
  }
  if (config.shadowRate !== undefined && !(config.shadowRate >= 0 && config.shadowRate <= 1)) {
    problems.push("shadowRate: must be between 0 and 1")
  }
  return problems
}

/**
 * What {@link warnings} reads of a config: each target's weight, and each
 * chain's targets, strategy and race. A `Router.Config` is one, and so is a
 * config file's (`Config.routerWarnings` passes its models as the targets).
 *
 * @example
 * import { Router } from "effect-llm-failover/router"
 *
 * const input: Router.WarningsInput = {
 *   targets: { a: { weight: 0 }, b: { weight: 0 } },
 *   chains: { spread: { targets: ["a", "b"], strategy: "weighted" }, plain: ["a", "b"] }
 * }
 * Router.warnings(input) // one warning, at chains.spread.strategy
 *
 * @since 0.1.0
 * @category config
 */
export interface WarningsInput {
  readonly targets: Readonly<Record<string, { readonly weight?: number | undefined; readonly policy?: Timed | undefined }>>
  readonly chains: Readonly<
    Record<
      string,
      | ReadonlyArray<string>
      | {
        readonly targets: ReadonlyArray<string>
        readonly strategy?: unknown
        readonly race?: number | undefined
        readonly policy?: Timed | undefined
      }
    >
  >
  /** The default policy, of which its timeouts are read. */
  readonly policy?: Timed | undefined
}

/** The part of a policy {@link warnings} reads. */
type Timed = { readonly timeouts?: Policy.TimeoutPolicy }

/**
 * A warning of {@link warnings}: the path it is at (`chains.fast.race`) and
 * what it says.
 *
 * @example
 * import { Effect } from "effect"
 * import { Router } from "effect-llm-failover/router"
 *
 * const show = (warning: Router.Warning) => Effect.logWarning(`${warning.path}: ${warning.message}`)
 *
 * @since 0.1.0
 * @category config
 */
export interface Warning {
  readonly path: string
  readonly message: string
}

/**
 * What a config says that the router cannot do as written, though it serves
 * all the same: a `race` wider than its chain (all its targets race), a
 * `weighted` chain whose targets all weigh 0 (tried in priority order, every
 * time), an attempt's timeout as long as the chain's total deadline (a
 * target that hangs holds the request to its end, so the chain never falls
 * over from it, and its breaker never hears of it). `make` logs each as a warning; `Config.routerWarnings` gives them
 * for a config file (and `llm-failover validate` shows them). Not problems:
 * the config file accepts them (`Config.check` refuses exactly what the
 * router refuses), and each has a plain meaning the router keeps to.
 *
 * @example
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Router.Config
 * Router.warnings(config).map((warning) => `${warning.path}: ${warning.message}`)
 * // ["chains.fast.race: races 3 targets, but the chain has 2: all 2 race"]
 *
 * @since 0.1.0
 * @category config
 */
export const warnings = (config: WarningsInput): ReadonlyArray<Warning> => {
  const out: Array<Warning> = []
  for (const [name, raw] of Object.entries(config.chains)) {
    const chain = Array.isArray(raw) ? { targets: raw as ReadonlyArray<string> } : (raw as Exclude<typeof raw, ReadonlyArray<string>>)
    const size = chain.targets.length
    // races them all: a typo, or a chain that has lost a target since
    if (chain.race !== undefined && size > 0 && chain.race > size) {
      out.push({ path: `chains.${name}.race`, message: `races ${chain.race} targets, but the chain has ${size}: all ${size} race` })
    }
    // a weight of 0 is tried after every positive one: with none positive, the order is the priority order, always
    if (chain.strategy === "weighted" && size > 0 && chain.targets.every((target) => config.targets[target]?.weight === 0)) {
      out.push({
        path: `chains.${name}.strategy`,
        message: `"weighted", but every one of its targets (${chain.targets.join(", ")}) weighs 0: they are tried in priority order, every time`
      })
    }
    out.push(...untimedAttempts(config, name, chain))
  }
  return out
}

/** A warning for a chain whose targets' attempts may take the request's whole deadline, naming the first such target. */
const untimedAttempts = (
  config: WarningsInput,
  name: string,
  chain: { readonly targets: ReadonlyArray<string>; readonly policy?: Timed | undefined }
): ReadonlyArray<Warning> => {
  for (const target of chain.targets) {
    const { attempt, total } = Policy.resolve(config.policy, config.targets[target]?.policy, chain.policy).timeouts
    if (Duration.lessThan(attempt, total)) continue
    const path = chain.policy?.timeouts === undefined ? `chains.${name}` : `chains.${name}.policy.timeouts`
    const message = `an attempt of ${target} may take ${Duration.format(attempt)}, the request's whole deadline of ${Duration.format(total)}: ` +
      "a target that hangs holds the request until it ends, so the chain never reaches its next target and the hung target's breaker " +
      "never hears of it (leave attempt out for half the total, or set it shorter)"
    return [{ path, message }]
  }
  return []
}

const normaliseChain = (raw: ChainConfig | ReadonlyArray<string>): ChainConfig =>
  Array.isArray(raw) ? { targets: raw as ReadonlyArray<string> } : (raw as ChainConfig)

const firstFailure = (cause: Cause.Cause<unknown>) => Option.getOrUndefined(Chunk.head(Cause.failures(cause)))

const classifyExit = (exit: { readonly _tag: string; readonly cause?: unknown }, error: unknown) =>
  exit._tag === "Success" ? "success" : error === undefined ? "ignored" : engine.classify(error as ProviderError)

/**
 * How {@link make} builds a router that replaces another (a config reload):
 * which of the old router's state it takes over.
 *
 * A kept target (same name, and by default the same provider and model)
 * keeps its circuit breaker, with its state and windows (an open breaker
 * stays open), its retry budget, its rate limiter and its bulkhead, each
 * unless its own policy (or `rpm` / `tpm`) changed: a changed breaker policy
 * gets a new breaker that starts in the old one's state (open until the
 * same deadline, the same trip count; its windows start empty); a changed
 * budget, limiter or bulkhead starts fresh. The health windows carry over
 * when the `health` options are unchanged, degraded mode's cache when the
 * `cache` options are. Request ids go on from the old router's. A target not kept starts fresh
 * in everything, its health figures too (kept in this instance only, not
 * shared through a `Health.CurrentStore`, until the process restarts).
 * Both routers may serve at once (the old one's requests in flight): a kept
 * breaker, budget or limiter is the same object in both.
 *
 * @example
 * import { Effect } from "effect"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const before: Router.Config
 * declare const after: Router.Config
 * const program = Effect.gen(function* () {
 *   const first = yield* Router.make(before)
 *   // "sonnet" changed its base URL: it starts fresh; every other target keeps its state
 *   const options: Router.MakeOptions = { previous: first, keep: first.targets.filter((name) => name !== "sonnet") }
 *   return yield* Router.make(after, options)
 * }).pipe(Effect.scoped)
 *
 * @since 0.1.0
 * @category config
 */
export interface MakeOptions {
  /** The router this one replaces, made by {@link make}; any other router is ignored. */
  readonly previous?: Service
  /**
   * The targets to take over (a name the previous router does not have is
   * ignored). Default: each of the same name whose model info names the
   * same provider and model; a caller that knows more (the base URL, say)
   * should say which.
   */
  readonly keep?: ReadonlyArray<string>
}

/** How many open routers hold each rate limiter: a reload's router takes over the old one's unchanged limiters. */
const limiterHolders = new WeakMap<RateLimit.RateLimiter, number>()

/**
 * Holds `limiter` for the router being made, until its scope closes: the
 * last router to let go of a limiter unregisters it, so a shared store
 * (`RateLimit.CurrentStore`, e.g. Redis) stops mirroring the limiter a
 * reload replaced (new limits) or dropped (its target gone), and not one a
 * newer router still counts with.
 */
const holdLimiter = (limiter: RateLimit.RateLimiter): Effect.Effect<void, never, Scope.Scope> =>
  Effect.zipRight(
    Effect.sync(() => limiterHolders.set(limiter, (limiterHolders.get(limiter) ?? 0) + 1)),
    Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const left = (limiterHolders.get(limiter) ?? 1) - 1
        limiterHolders.set(limiter, left)
        return left > 0 ? Effect.void : limiter.unregister
      })
    )
  )

/**
 * Builds a router. Its background work (shadow calls) lives in the scope.
 * An inconsistent config fails with a {@link RouterConfigError} listing
 * every problem; what the router can serve, though not as written (a
 * `race` wider than its chain, a `weighted` chain whose targets all weigh
 * 0), is logged as a warning naming its path. With `options.previous`, it
 * replaces that router and takes over its targets' state (see
 * {@link MakeOptions}).
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Router.Config
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.make(config)
 *   const { response, meta } = yield* router.complete(Chat.prompt("Hello"))
 *   yield* Effect.log(`${meta.provider}/${meta.model} answered after ${meta.fallbacks} fallbacks`)
 * }).pipe(Effect.scoped)
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (config: Config, options?: MakeOptions): Effect.Effect<Service, RouterConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const problems = validate(config)
    if (problems.length > 0) return yield* Effect.fail(new RouterConfigError({ problems }))
    for (const { path, message } of warnings(config)) yield* Effect.logWarning(`router config: ${path}: ${message}`)

    const legacy = options?.previous === undefined ? undefined : carryOver.legacies.get(options.previous)
    const keepList = options?.keep === undefined ? undefined : new Set(options.keep)
    /** The previous router's target of this name, when this one takes it over. */
    const inherited = (name: string, target: TargetConfig): carryOver.Built | undefined => {
      const old = legacy?.targets.get(name)
      if (old === undefined) return undefined
      const same = keepList === undefined
        ? old.target.info.provider === target.model.info.provider && old.target.info.model === target.model.info.model
        : keepList.has(name)
      return same ? old : undefined
    }

    const targets = new Map<string, engine.Target>()
    const built = new Map<string, carryOver.Built>()
    const kept = new Set<string>()
    for (const [name, target] of Object.entries(config.targets)) {
      const policy = Policy.resolve(config.policy, target.policy)
      const old = inherited(name, target)
      if (old !== undefined) kept.add(name)
      const breakerOptions = {
        ...Policy.breakerOptions(policy.breaker),
        name,
        classify: (exit: Exit.Exit<unknown, unknown>) =>
          classifyExit(exit, exit._tag === "Failure" ? firstFailure(exit.cause) : undefined)
      }
      const made: engine.Target = {
        name,
        model: target.model,
        info: target.model.info,
        weight: target.weight ?? 1,
        policy,
        // a kept target keeps its breaker (its state, its windows); under a changed breaker policy, a new one in the old one's state
        breaker: old === undefined
          ? yield* CircuitBreaker.make(breakerOptions)
          : carryOver.sameData(old.target.policy.breaker, policy.breaker)
          ? old.target.breaker
          : yield* CircuitBreaker.make({
            ...breakerOptions,
            store: yield* carryOver.startingFrom(carryOver.stateOf(yield* old.target.breaker.snapshot))
          }),
        bulkhead: old !== undefined && carryOver.sameData(old.target.policy.bulkhead, policy.bulkhead)
          ? old.target.bulkhead
          : policy.bulkhead === false
          ? undefined
          : yield* Bulkhead.make(policy.bulkhead),
        // named after the target: one budget per target, shared across instances under a RetryBudget.CurrentStore
        budget: old !== undefined && carryOver.sameData(old.target.policy.budget, policy.budget)
          ? old.target.budget
          : yield* RetryBudget.make({ ...policy.budget, name }),
        limiter: old !== undefined && old.rpm === target.rpm && old.tpm === target.tpm
          ? old.target.limiter
          : target.rpm === undefined && target.tpm === undefined
          ? undefined
          : yield* RateLimit.make({
            name,
            ...(target.rpm === undefined ? {} : { rpm: target.rpm }),
            ...(target.tpm === undefined ? {} : { tpm: target.tpm })
          }),
        slowCallMillis: policy.breaker.slowCallRate === undefined || policy.breaker.slowCallRate === false
          ? undefined
          : Duration.toMillis(Duration.decode(policy.breaker.slowCallRate.slowCall))
      }
      targets.set(name, made)
      built.set(name, { target: made, rpm: target.rpm, tpm: target.tpm })
      if (made.limiter !== undefined) yield* holdLimiter(made.limiter)
    }

    const chains = new Map<string, engine.Chain>()
    // Every target is also a chain of its own, under its name, unless a chain
    // already has that name: a request can name a model alias directly.
    const implicit = Object.keys(config.targets)
      .filter((name) => !has(config.chains, name))
      .map((name) => [name, { targets: [name] }] as const)
    for (const [name, raw] of [...Object.entries(config.chains), ...implicit]) {
      const chain = normaliseChain(raw)
      const members = chain.targets.map((targetName, priority) => {
        const target = targets.get(targetName)!
        const policy = Policy.resolve(config.policy, config.targets[targetName]?.policy, chain.policy)
        return { target, priority, policy, retry: engine.memberRetry(policy) }
      })
      const strategy = chain.strategy ?? "priority"
      chains.set(name, {
        name,
        members,
        strategy: typeof strategy === "function" ? strategy : Strategy.byName(strategy),
        // more than the chain has races them all (`warnings` says so)
        race: Math.min(chain.race ?? 1, members.length),
        hedge: chain.hedge,
        contentPolicy: chain.contentPolicy,
        fallbackResponse: chain.fallbackResponse,
        continueStreams: chain.continueStreams ?? false,
        total: members.reduce((max, m) => Duration.max(max, m.policy.timeouts.total), Duration.zero),
        probing: { inFlight: false, lastAt: Number.NEGATIVE_INFINITY }
      })
    }

    const defaultChain = config.defaultChain ?? (has(config.chains, "default") ? "default" : Object.keys(config.chains)[0]!)
    const shared: engine.Shared = {
      chains,
      health: yield* healthFor(config, legacy, kept),
      // the previous router's last-known-good answers, under the same options: a reload in an outage keeps them
      cache: config.cache === false
        ? undefined
        : legacy?.cache !== undefined && carryOver.sameData(legacy.cacheOptions, config.cache)
        ? legacy.cache
        : yield* DegradedCache.make(config.cache ?? {}),
      events: yield* PubSub.sliding<RouterEvent>(4_096),
      audience: { subscribers: 0, open: true },
      listeners: [],
      // shared with the router it replaces: its requests still in flight and this one's never take the same id
      requestIds: legacy?.requestIds ?? { last: 0 },
      shadowRate: config.shadowRate ?? 0,
      scope: yield* Scope.Scope
    }
    // runs before the events' `PubSub` shuts down (finalizers run last first): from then on every event is published
    yield* Effect.addFinalizer(() => Effect.sync(() => (shared.audience.open = false)))

    const chainFor = (request: ChatRequest, options?: RequestOptions): string | undefined => {
      if (options?.chain !== undefined) return chains.has(options.chain) ? options.chain : undefined
      const picked = config.classifier?.(request)
      return picked !== undefined && chains.has(picked) ? picked : defaultChain
    }

    const unknownChain = (name: string | undefined) =>
      new InvalidRequest({ provider: "router", model: name ?? "", message: `unknown chain "${name}"${hint(name ?? "", [...chains.keys()], "chains")}` })

    /** The request's chain, or the failure that refuses it (found as the request's effect is made, as before). */
    const resolveChain = (request: ChatRequest, options: RequestOptions | undefined): engine.Chain | Effect.Effect<never, InvalidRequest> => {
      // before the classifier, which may rightly read the request's first message
      const problem = requestProblem(request)
      if (problem !== undefined) {
        return Effect.fail(new InvalidRequest({ provider: "router", model: options?.chain ?? "", message: problem }))
      }
      const name = chainFor(request, options)
      const chain = name === undefined ? undefined : chains.get(name)
      return chain === undefined ? Effect.fail(unknownChain(options?.chain)) : chain
    }

    const complete: Service["complete"] = (request, options) => {
      const chain = resolveChain(request, options)
      return Effect.isEffect(chain) ? chain : engine.complete(shared, chain, request, 0, undefined, options)
    }

    const stream: Service["stream"] = (request, options) => {
      const chain = resolveChain(request, options)
      return Effect.isEffect(chain) ? chain : engine.stream(shared, chain, request, 0, undefined, options)
    }

    const languageModel: Service["languageModel"] = (chain) => {
      const options = chain === undefined ? undefined : { chain }
      const named = chains.get(chain ?? defaultChain)
      if (named === undefined) throw new Error(`Router.languageModel: unknown chain "${chain}"${hint(chain ?? "", [...chains.keys()], "chains")}`)
      const first = named.members[0]!.target
      // the chain gives a JSON answer any of its members gives
      const formats = new Set(named.members.flatMap((member) => member.target.info.responseFormats ?? []))
      return {
        info: { ...first.info, responseFormats: [...formats] },
        complete: (request) => Effect.map(complete(request, options), (result) => result.response),
        stream: (request) => Stream.unwrapScoped(Effect.map(stream(request, options), (result) => result.chunks))
      }
    }

    const status = Effect.forEach([...targets.values()], (target) =>
      Effect.zipWith(target.breaker.snapshot, shared.health.snapshot(target.name), (breaker, health) => ({
        name: target.name,
        provider: target.info.provider,
        model: target.info.model,
        breaker,
        health
      }))
    )

    const service = {
      complete,
      stream,
      languageModel,
      chainFor,
      events: Stream.unwrapScoped(
        Effect.as(
          Effect.acquireRelease(
            Effect.sync(() => shared.audience.subscribers++),
            () => Effect.sync(() => shared.audience.subscribers--)
          ),
          Stream.fromPubSub(shared.events)
        )
      ),
      listen: (listener) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            // copied on change: an emit in progress keeps the array it started with
            shared.listeners = [...shared.listeners, listener]
          }),
          () =>
            Effect.sync(() => {
              shared.listeners = withoutOne(shared.listeners, listener)
            })
        ),
      status,
      chains: Object.keys(config.chains),
      targets: [...targets.keys()],
      breaker: (name) => targets.get(name)?.breaker
    } satisfies Service
    carryOver.legacies.set(service, {
      targets: built,
      health: shared.health,
      healthOptions: config.health,
      cache: shared.cache,
      cacheOptions: config.cache,
      requestIds: shared.requestIds
    })
    return service
  })

/**
 * The health windows of a router: its predecessor's when both use the same
 * `health` options (the targets it did not keep under their names in new
 * windows of their own, local to this instance), else new ones.
 */
const healthFor = (
  config: Config,
  legacy: carryOver.Legacy | undefined,
  kept: ReadonlySet<string>
): Effect.Effect<Health.HealthTracker<string>> =>
  Effect.gen(function* () {
    if (legacy === undefined || !carryOver.sameData(legacy.healthOptions, config.health)) {
      // named, so SharedState shares its samples across instances
      return yield* Health.make<string>({ name: "targets", ...config.health })
    }
    // a target not kept whose name the old windows know (changed, or removed once and now back) or the old router
    // has (its requests still in flight record there, none recorded yet maybe) starts fresh
    const seen = yield* legacy.health.snapshotAll
    const fresh = new Set(Object.keys(config.targets).filter((name) => (seen.has(name) || legacy.targets.has(name)) && !kept.has(name)))
    return fresh.size === 0
      ? legacy.health
      : carryOver.splitHealth(legacy.health, yield* Health.make<string>({ ...config.health }), fresh)
  })


/**
 * A router that serves through another, which can be replaced while it
 * serves: what a config reload switches. See {@link swappable}.
 *
 * @example
 * import { Effect } from "effect"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const swappable: Router.Swappable
 * declare const config: Router.Config
 * // build the next router in a scope of its own, switch, then close the old one's once its requests are done
 * const reload = Effect.gen(function* () {
 *   const next = yield* Router.make(config, { previous: swappable.current() })
 *   const old = yield* swappable.swap(next)
 *   yield* swappable.idle(old)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Swappable {
  /**
   * The router to serve through (to a gateway, `Observability.attach`):
   * each request runs, start to end, on the router current when it starts
   * (a `languageModel`'s too); `status`, `chains`, `targets` and `breaker`
   * read the current one; a `listen`er hears every router this one has
   * held, the old ones' last requests too, and so does `events` from its
   * start (a reload does not end it; sliding, as a router's).
   */
  readonly router: Service
  /** The router requests go to now. */
  readonly current: () => Service
  /**
   * Sends every request made from now on to `next`, and returns the router
   * it replaced. The listeners are added to `next` in the scope, which
   * should be `next`'s own.
   */
  readonly swap: (next: Service) => Effect.Effect<Service, never, Scope.Scope>
  /**
   * Waits until a replaced router has no request in flight made through
   * `router`, a stream until the scope it was opened in closes: then its
   * scope may close (closing it earlier interrupts those requests). A
   * request ends however it ends (a defect, an interruption); requests made
   * on the old router itself are not counted.
   */
  readonly idle: (router: Service) => Effect.Effect<void>
}

/**
 * A {@link Swappable} router over `initial`, for as long as the scope
 * (`initial`'s) lives. A request costs a count in flight more than on
 * `initial` itself (two steps: counted, then released).
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const before: Router.Config
 * declare const after: Router.Config
 * const program = Effect.gen(function* () {
 *   const swappable = yield* Router.swappable(yield* Router.make(before))
 *   const serving = swappable.router
 *   yield* serving.complete(Chat.prompt("Hello")) // on the first router
 *   const next = yield* Router.make(after, { previous: swappable.current() })
 *   yield* swappable.swap(next)
 *   yield* serving.complete(Chat.prompt("Hello")) // on the second, open breakers still open
 * }).pipe(Effect.scoped)
 *
 * @since 0.1.0
 * @category constructors
 */
export const swappable = (initial: Service): Effect.Effect<Swappable, never, Scope.Scope> => swap.make(initial)

/**
 * A layer providing both the `Router` and, over its default chain (or the
 * classifier's pick per request), the `LanguageModel`.
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat, LanguageModel } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Router.Config
 * // unchanged app code: it asks a LanguageModel and gets failover
 * const app = LanguageModel.complete(Chat.prompt("Hello"))
 * const runnable = app.pipe(Effect.provide(Router.layer(config)))
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: Config): Layer.Layer<Router | LanguageModel.LanguageModel, RouterConfigError> =>
  Layer.scopedContext(
    Effect.map(make(config), (router) =>
      Context.make(Router, router).pipe(Context.add(LanguageModel.LanguageModel, router.languageModel()))
    )
  )

/**
 * One completion through the `Router` in context.
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Router.complete(Chat.prompt("Hi"), { chain: "premium" }).pipe(
 *   Effect.tap(({ meta }) => Effect.log(`served by ${meta.target}`))
 * )
 *
 * @since 0.1.0
 * @category accessors
 */
export const complete = (request: ChatRequest, options?: RequestOptions): Effect.Effect<Result, ChainError, Router> =>
  Effect.flatMap(Router, (router) => router.complete(request, options))

/**
 * A streamed completion through the `Router` in context.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.scoped(
 *   Effect.flatMap(Router.stream(Chat.prompt("Tell a story")), ({ chunks }) => Stream.runDrain(chunks))
 * )
 *
 * @since 0.1.0
 * @category accessors
 */
export const stream = (
  request: ChatRequest,
  options?: RequestOptions
): Effect.Effect<StreamResult, ChainError, Router | Scope.Scope> =>
  Effect.flatMap(Router, (router) => router.stream(request, options))
