/**
 * What the router tells operators, as it happens: every attempt, every
 * stream that failed after its first content, every fallback, every refusal
 * of the retry budget and every degraded answer.
 * Subscribe with `Router.events`, or record them synchronously with
 * `Router.listen`; metrics, logs and alerts are built on it.
 *
 * @since 0.1.0
 */
import type { Duration, Effect, Tracer } from "effect"
import type { Usage } from "../llm/Chat.js"
import type { Rejected } from "../llm/FailoverError.js"
import type { ProviderError } from "../llm/ProviderError.js"

interface Base {
  /** The chain serving the request. */
  readonly chain: string
  /** A per-router sequence number of the request. */
  readonly requestId: number
  /**
   * The caller's own id of the request, when it gave one
   * (`RequestOptions.correlationId`): the gateway passes its `x-request-id`,
   * so a request's events and the router's lines about it can be matched
   * with the gateway's line and the client's id.
   */
  readonly correlationId?: string | undefined
  /** Epoch milliseconds, from Effect's `Clock`. */
  readonly at: number
}

interface TargetFields extends Base {
  readonly target: string
  readonly provider: string
  readonly model: string
}

/**
 * A call to a target is starting (`attempt` counts from 1 on each target,
 * and again from 1 in a stream's continuation on another target after a cut
 * (`continueStreams`), under the same `requestId`: a (request, target,
 * attempt) key may come back once its attempt has ended).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Events } from "effect-llm-failover/router"
 *
 * // a retry is an attempt after the first on its target
 * const onStart = (event: Events.AttemptStarted) =>
 *   event.attempt > 1 ? Effect.logDebug(`retry ${event.attempt - 1} on ${event.target} (request ${event.requestId})`) : undefined
 * const listener: Events.Listener = (event) => (event._tag === "AttemptStarted" ? onStart(event) : undefined)
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export interface AttemptStarted extends TargetFields {
  readonly _tag: "AttemptStarted"
  readonly attempt: number
}

/**
 * A call to a target, or the router's refusal to call it, failed.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import type { Events } from "effect-llm-failover/router"
 *
 * // a refusal (`Rejected`: breaker open, rate limit, ...) never reached the provider
 * const describe = (event: Events.AttemptFailed): string =>
 *   event.error._tag === "Rejected"
 *     ? `${event.target} skipped: ${event.error.reason}`
 *     : `${event.target} failed with ${event.error._tag} after ${Duration.toMillis(event.duration)} ms`
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export interface AttemptFailed extends TargetFields {
  readonly _tag: "AttemptFailed"
  readonly attempt: number
  readonly error: ProviderError | Rejected
  readonly duration: Duration.Duration
}

/**
 * A call to a target succeeded (for a stream: its first content arrived).
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import type { Events } from "effect-llm-failover/router"
 *
 * // each target's answer times (a stream's: to its first content), shadow calls left out
 * const times = new Map<string, Array<number>>()
 * const onSuccess = (event: Events.AttemptSucceeded) => {
 *   if (!event.shadow) times.set(event.target, [...(times.get(event.target) ?? []), Duration.toMillis(event.duration)])
 * }
 * const listener: Events.Listener = (event) => (event._tag === "AttemptSucceeded" ? onSuccess(event) : undefined)
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export interface AttemptSucceeded extends TargetFields {
  readonly _tag: "AttemptSucceeded"
  readonly attempt: number
  readonly duration: Duration.Duration
  /** Absent for a stream, whose usage is known only at its end. */
  readonly usage?: Usage
  readonly cost?: number
  /** A background shadow call: it never served the caller. */
  readonly shadow: boolean
}

/**
 * A call to a target stopped before it ended, so it neither failed nor
 * succeeded: it lost a race or a hedge (`lost`), the request's deadline
 * passed (`deadline`), or the caller stopped waiting (`cancelled`). Its HTTP
 * request was aborted, but the provider may bill what it generated.
 *
 * @example
 * ```ts
 * import type { Events } from "effect-llm-failover/router"
 *
 * // the calls that lost a race or a hedge: aborted, yet the provider may bill them
 * const lost = (events: ReadonlyArray<Events.RouterEvent>): ReadonlyArray<Events.AttemptCancelled> =>
 *   events.filter((event): event is Events.AttemptCancelled => event._tag === "AttemptCancelled" && event.reason === "lost")
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export interface AttemptCancelled extends TargetFields {
  readonly _tag: "AttemptCancelled"
  readonly attempt: number
  readonly reason: "lost" | "deadline" | "cancelled"
  readonly duration: Duration.Duration
}

/**
 * A stream failed after its first content, which its `AttemptSucceeded`
 * reported: its provider cut it, stalled past its idle deadline, or stopped
 * it on content policy. The target's breaker and health count it a failure
 * (a content-policy stop, the request's own fault, neither); the caller
 * gets a `StreamInterrupted`, or the continuation's stream
 * (`continueStreams`).
 *
 * @example
 * ```ts
 * import { Duration, Effect, Stream } from "effect"
 * import { type Events, Router } from "effect-llm-failover/router"
 *
 * const onCut = (event: Events.StreamFailed) =>
 *   Effect.logWarning(`the stream of ${event.target} broke after ${Duration.toSeconds(event.duration)} s: ${event.error._tag}`)
 * const logCuts = Effect.flatMap(Router.Router, (router) =>
 *   Stream.runForEach(router.events, (event) => (event._tag === "StreamFailed" ? onCut(event) : Effect.void))
 * )
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export interface StreamFailed extends TargetFields {
  readonly _tag: "StreamFailed"
  /** The attempt whose stream it was, as its `AttemptSucceeded` numbered it. */
  readonly attempt: number
  readonly error: ProviderError
  /** From the attempt's start to the failure. */
  readonly duration: Duration.Duration
}

/**
 * The router moved on from one target to another:
 * - to the next step of its chain (`at`: when it moved on); after a race or
 *   a hedge that failed whole, one event from each of its members;
 * - in a race or a hedge, to the member that answered after `from` failed,
 *   one event for each member that had failed, or had failed an attempt and
 *   was still retrying (`at`: when the group ended); a member that only
 *   answered first, none having failed, is no fallback;
 * - from a stream's target that failed after content was sent, to the
 *   target that resumed it (`continueStreams`).
 *
 * So a served request's events count what its `Meta.fallbacks` counts, but
 * for a request handed to a content-policy chain out of a race or a hedge:
 * the hand-over is one event, from the member that refused.
 *
 * @example
 * ```ts
 * import type { Events } from "effect-llm-failover/router"
 *
 * // which errors push traffic from one target to another
 * const moves = new Map<string, number>()
 * const onFallback = (event: Events.Fallback) => {
 *   const key = `${event.from} -> ${event.to} (${event.reason})`
 *   moves.set(key, (moves.get(key) ?? 0) + 1)
 * }
 * const listener: Events.Listener = (event) => (event._tag === "Fallback" ? onFallback(event) : undefined)
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export interface Fallback extends Base {
  readonly _tag: "Fallback"
  readonly from: string
  readonly to: string
  /** The `_tag` of the error that made it move. */
  readonly reason: string
}

/**
 * The retry budget refused a retry or a hedge on a target.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { type Events, Router } from "effect-llm-failover/router"
 *
 * const onBudget = (event: Events.BudgetExhausted) =>
 *   Effect.logWarning(`retry budget spent on ${event.target}: chain ${event.chain} fails over without retrying`)
 * const program = Effect.scoped(
 *   Effect.flatMap(Router.Router, (router) => router.listen((event) => (event._tag === "BudgetExhausted" ? onBudget(event) : undefined)))
 * )
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export interface BudgetExhausted extends Base {
  readonly _tag: "BudgetExhausted"
  readonly target: string
}

/**
 * Every target failed and the router answered from degraded mode.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Events } from "effect-llm-failover/router"
 *
 * const onDegraded = (event: Events.DegradedResponse) =>
 *   Effect.logError(`chain ${event.chain} is down: answered from ${event.source === "cache" ? "a cached answer" : "its static answer"}`)
 * const listener: Events.Listener = (event) => (event._tag === "DegradedResponse" ? onDegraded(event) : undefined)
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export interface DegradedResponse extends Base {
  readonly _tag: "DegradedResponse"
  readonly source: "cache" | "static"
}

/**
 * One target's billed share of a request that another target answered, or
 * that failed: the part of a continued stream before its cut, an answer its
 * provider stopped on content policy before the content-policy chain took
 * the request over, a completion its provider was asked and did not answer
 * (it timed out, lost its race or hedge, or its caller went away: billed its
 * prompt, the router's estimate, as a stream cut before its count is).
 *
 * @example
 * import type { Events } from "effect-llm-failover/router"
 *
 * const cut: Events.BilledPart = {
 *   target: "mini",
 *   provider: "openai",
 *   model: "gpt-4.1-mini",
 *   usage: { inputTokens: 1_200, outputTokens: 80 },
 *   cost: 0.000608
 * }
 *
 * @since 0.1.0
 * @category models
 */
export interface BilledPart {
  readonly target: string
  readonly provider: string
  readonly model: string
  readonly usage: Usage
  readonly cost: number
}

/**
 * A request finished: served, answered from degraded mode, failed, or
 * cancelled (its caller stopped waiting or stopped reading its stream).
 *
 * @example
 * ```ts
 * import type { Events } from "effect-llm-failover/router"
 *
 * // what failover cost: served requests' spend over their chain's first target
 * let extra = 0
 * const onFinished = (event: Events.RequestFinished) => {
 *   if (event.outcome === "success" && event.fallbacks > 0) extra += event.costDelta
 * }
 * const listener: Events.Listener = (event) => (event._tag === "RequestFinished" ? onFinished(event) : undefined)
 * ```
 *
 * @since 0.1.0
 * @category events
 */
export interface RequestFinished extends Base {
  readonly _tag: "RequestFinished"
  /**
   * The chain the request was made on (named by the caller or its
   * classifier), even when another served it: counts and alerts per chain
   * see each request under the chain it was asked of.
   */
  readonly chain: string
  /**
   * The content-policy chain that took the request over after a target
   * refused it on content policy, when one did (its other events, and the
   * answer's `meta.chain`, name this chain); absent when the request's own
   * chain served it.
   */
  readonly servingChain?: string
  readonly outcome: "success" | "degraded" | "failure" | "cancelled"
  /**
   * The target that served it, if one did; for a failure, the one whose
   * answer the provider billed: a stream cut after content, or an answer
   * the provider stopped on content policy with its usage.
   */
  readonly target?: string
  /**
   * The provider and model of `target`, as they were when it answered (a
   * config reload may since have pointed its name at another model): the
   * model that `cost` and `usage` (less `billed`) are charged to. Present
   * whenever `target` is, in the router's events.
   */
  readonly provider?: string
  /** See `provider`. */
  readonly model?: string
  readonly fallbacks: number
  readonly latency: Duration.Duration
  readonly cost: number
  /** What the request cost over what the chain's first target would have charged. */
  readonly costDelta: number
  /**
   * What other targets than `target` billed for it (see {@link BilledPart}),
   * which `cost` and `usage` include: each is charged to its own model.
   */
  readonly billed?: ReadonlyArray<BilledPart>
  /**
   * The tokens of the answer that served it (both parts of a continued
   * stream), absent when no target served it. For a stream this is the only
   * event that carries its usage: its `AttemptSucceeded` comes at the first
   * token.
   */
  readonly usage?: Usage
  /** The caller's span when the request started, if it ran inside one: tracing makes the request its child. */
  readonly parentSpan?: Tracer.AnySpan
}

/**
 * Everything the router reports.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { Router } from "effect-llm-failover/router"
 *
 * const logFallbacks = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   yield* Stream.runForEach(router.events, (event) =>
 *     event._tag === "Fallback" ? Effect.logWarning(`fallback ${event.from} -> ${event.to}`) : Effect.void
 *   )
 * })
 *
 * @since 0.1.0
 * @category events
 */
export type RouterEvent =
  | AttemptStarted
  | AttemptFailed
  | AttemptSucceeded
  | AttemptCancelled
  | StreamFailed
  | Fallback
  | BudgetExhausted
  | DegradedResponse
  | RequestFinished

/**
 * A synchronous recorder of router events, for `Router.Service.listen`: it
 * is called with each event in the fiber that emits it, before the event
 * reaches `events`, so it must be quick and must not block (count, add to a
 * window, build a span). It may return an effect to run there (a log line,
 * an alert), or nothing.
 *
 * @example
 * import { Effect } from "effect"
 * import { type Events, Router } from "effect-llm-failover/router"
 *
 * let fallbacks = 0
 * const countFallbacks: Events.Listener = (event) => {
 *   if (event._tag === "Fallback") fallbacks++
 * }
 * const program = Effect.scoped(Effect.flatMap(Router.Router, (router) => router.listen(countFallbacks)))
 *
 * @since 0.1.0
 * @category events
 */
export type Listener = (event: RouterEvent) => Effect.Effect<void> | void
