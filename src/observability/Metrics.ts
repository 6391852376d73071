/**
 * The router's metrics, as Effect `Metric`s: requests, attempts, fallbacks,
 * circuit-breaker states, latency and time-to-first-token histograms,
 * tokens, cost, retry-budget exhaustion, rejections and degraded answers.
 *
 * They live in Effect's process-wide metric registry, so `Metric.snapshot`,
 * `@effect/opentelemetry` and {@link Prometheus.render} all see them. A
 * {@link Recorder} turns router events into updates of these metrics.
 *
 * ## Labels
 *
 * Label values come only from names in the router's config (chain, target,
 * provider, model), error tags, rejection reasons and fixed enums; never
 * from a prompt, a response, an error message or a key. Constant labels
 * (`RecorderOptions.labels`) are added to every series, e.g. to tell two
 * routers of one process apart.
 *
 * | metric | type | labels |
 * |---|---|---|
 * | `llm_requests_total` | counter | chain, outcome (success, degraded, failure, cancelled) |
 * | `llm_request_duration_seconds` | histogram | chain, outcome |
 * | `llm_attempts_total` | counter | provider, model, outcome (success, error, rejected, cancelled), reason (error tag, rejection reason, or why it was cancelled: lost, deadline, cancelled; absent on success) |
 * | `llm_attempt_duration_seconds` | histogram | provider, model, outcome (success, error) |
 * | `llm_time_to_first_token_seconds` | histogram | provider, model |
 * | `llm_stream_failures_total` | counter | provider, model, reason (error tag): streams that failed after their first content, whose attempt counted a success at that content |
 * | `llm_fallbacks_total` | counter | chain, from, to, reason |
 * | `llm_fallback_extra_cost_usd_total` | counter | chain |
 * | `llm_circuit_breaker_state` | gauge | target, provider, model (0 closed, 1 half-open, 2 open, 3 isolated); a target a config reload removed, or moved to another model, leaves the Prometheus text |
 * | `llm_circuit_breaker_transitions_total` | counter | target, from, to |
 * | `llm_tokens_total` | counter | provider, model, direction (input, output; cache_read, cache_write: the prompt tokens of input the provider's cache served or stored, counted in input too): of every served answer, streams included (counted when the request finishes), and of shadow calls |
 * | `llm_cost_usd_total` | counter | provider, model, kind (served, shadow) |
 * | `llm_rejections_total` | counter | target, reason (circuit-open, bulkhead-full, ...) |
 * | `llm_retry_budget_exhausted_total` | counter | chain, target |
 * | `llm_degraded_responses_total` | counter | chain, source (cache, static) |
 * | `llm_fallback_rate` | gauge | (none): the alert window's fallback rate |
 * | `llm_webhook_notifications_total` | counter | outcome (delivered, failed, dropped): `Webhook`'s posts |
 * | `llm_alert_active` | gauge | alert |
 *
 * @since 0.1.0
 */
import type { MetricLabel } from "effect"
import { Duration, Effect, FiberRef, Metric, MetricBoundaries } from "effect"
import type { Usage } from "../llm/Chat.js"
import type { Listener, RouterEvent } from "../router/Events.js"
import type { TargetStatus } from "../router/Router.js"
import type * as CircuitBreaker from "../resilience/CircuitBreaker.js"
import { errorClass, fellBack, sharesOf, targetsOf } from "./internal/events.js"
import { labelsProblem, type RecorderKey } from "./internal/options.js"
import { Series, show, unshow } from "./internal/series.js"

/**
 * The latency buckets, in seconds: 50 ms to 2 minutes, spaced for LLM calls
 * (a short answer in under a second, a long generation in tens of seconds).
 *
 * @example
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * Metrics.latencyBuckets.at(-1) // 120: the last finite bucket, 2 minutes
 *
 * @since 0.1.0
 * @category metrics
 */
export const latencyBuckets: ReadonlyArray<number> = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120]

const boundaries = MetricBoundaries.fromIterable(latencyBuckets)

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

/**
 * Finished requests, by chain and outcome.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // the default chain's served requests, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.requests.pipe(Metric.tagged("chain", "default"), Metric.tagged("outcome", "success")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const requests = counter("llm_requests_total", "LLM requests finished, by chain and outcome")

/**
 * Request latency in seconds (all attempts and fallbacks), by chain and outcome.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // the default chain's served requests' latency histogram, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.requestDuration.pipe(Metric.tagged("chain", "default"), Metric.tagged("outcome", "success")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestDuration = Metric.histogram(
  "llm_request_duration_seconds",
  boundaries,
  "LLM request latency in seconds, all attempts included, by chain and outcome"
)

/**
 * Attempts on targets, by provider, model, outcome and reason.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // a model's calls that lost a race or hedge, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.attempts.pipe(Metric.tagged("provider", "openai"), Metric.tagged("model", "gpt-4.1-mini"), Metric.tagged("outcome", "cancelled"), Metric.tagged("reason", "lost")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const attempts = counter(
  "llm_attempts_total",
  "Attempts on LLM targets, by provider, model, outcome (success, error, rejected, cancelled) and reason (error tag, rejection reason, or lost, deadline, cancelled)"
)

/**
 * Streams that failed after their first content, by provider, model and
 * reason (the error's tag). Their attempts count a success in
 * {@link attempts} at that content; this counts what became of them.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // a model's streams cut after their first content, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.streamFailures.pipe(Metric.tagged("provider", "anthropic"), Metric.tagged("model", "claude-haiku-4-5"), Metric.tagged("reason", "TransportError")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const streamFailures = counter(
  "llm_stream_failures_total",
  "LLM streams that failed after their first content (their attempt counted a success then), by provider, model and reason (error tag)"
)

/**
 * Attempt latency in seconds, by provider, model and outcome (streams: see
 * {@link timeToFirstToken}).
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // a model's successful calls' latency histogram, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.attemptDuration.pipe(Metric.tagged("provider", "openai"), Metric.tagged("model", "gpt-4.1-mini"), Metric.tagged("outcome", "success")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const attemptDuration = Metric.histogram(
  "llm_attempt_duration_seconds",
  boundaries,
  "LLM attempt latency in seconds, by provider, model and outcome"
)

/**
 * Time to the first content chunk of streamed answers, in seconds.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // a model's time to first content, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.timeToFirstToken.pipe(Metric.tagged("provider", "openai"), Metric.tagged("model", "gpt-4.1-mini")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const timeToFirstToken = Metric.histogram(
  "llm_time_to_first_token_seconds",
  boundaries,
  "Time to the first content chunk of streamed LLM answers in seconds, by provider and model"
)

/**
 * Fallbacks from one target to the next, by chain, from, to and reason.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // fallbacks from primary to backup on overload, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.fallbacks.pipe(Metric.tagged("chain", "default"), Metric.tagged("from", "primary"), Metric.tagged("to", "backup"), Metric.tagged("reason", "Overloaded")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const fallbacks = counter("llm_fallbacks_total", "Fallbacks from one LLM target to the next, by chain, from, to and reason")

/**
 * What fallbacks cost over the chain's first target, in US dollars (only
 * requests that cost more; the cost report has the signed sum).
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // what the default chain's fallbacks cost over its first target, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.fallbackExtraCost.pipe(Metric.tagged("chain", "default")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const fallbackExtraCost = counter(
  "llm_fallback_extra_cost_usd_total",
  "Extra cost in US dollars of requests served after a fallback, over the chain's first target, by chain (a counter: a cheaper fallback adds nothing; /v1/usage has the net difference)"
)

const breakerStateName = "llm_circuit_breaker_state"

/**
 * Each target's circuit breaker: 0 closed, 1 half-open, 2 open, 3 isolated.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // a target's breaker as a number: Metrics.breakerStateValue("open") is 2
 * const state = Metric.value(Metrics.breakerState.pipe(Metric.tagged("target", "primary"), Metric.tagged("provider", "openai"), Metric.tagged("model", "gpt-4.1-mini")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const breakerState = Metric.gauge(breakerStateName, {
  description: "Circuit breaker state per LLM target: 0 closed, 1 half-open, 2 open, 3 isolated"
})

/**
 * Circuit-breaker transitions, by target, from and to.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // how often primary's breaker opened, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.breakerTransitions.pipe(Metric.tagged("target", "primary"), Metric.tagged("from", "closed"), Metric.tagged("to", "open")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const breakerTransitions = counter(
  "llm_circuit_breaker_transitions_total",
  "Circuit breaker transitions per LLM target, by from and to state"
)

/**
 * Tokens, by provider, model and direction (input, output; cache_read and
 * cache_write, the part of input the provider's prompt cache served or
 * stored, when there was one).
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // input tokens a model's prompt cache served, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.tokens.pipe(Metric.tagged("provider", "anthropic"), Metric.tagged("model", "claude-sonnet-4-5"), Metric.tagged("direction", "cache_read")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const tokens = counter("llm_tokens_total", "LLM tokens, by provider, model and direction (input, output; cache_read, cache_write: of input)")

/**
 * Cost in US dollars, by provider, model and kind (served, shadow).
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // what a model's served answers cost, in US dollars, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.cost.pipe(Metric.tagged("provider", "openai"), Metric.tagged("model", "gpt-4.1"), Metric.tagged("kind", "served")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const cost = counter("llm_cost_usd_total", "LLM cost in US dollars, by provider, model and kind (served, shadow)")

/**
 * Targets passed over without a call, by target and reason.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // requests that passed primary over while its breaker was open, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.rejections.pipe(Metric.tagged("target", "primary"), Metric.tagged("reason", "circuit-open")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const rejections = counter(
  "llm_rejections_total",
  "LLM targets passed over without a call, by target and reason (circuit-open, bulkhead-full, budget-exhausted, ...)"
)

/**
 * Retries or hedges the retry budget refused, by chain and target.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // retries and hedges on primary the budget refused, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.budgetExhausted.pipe(Metric.tagged("chain", "default"), Metric.tagged("target", "primary")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const budgetExhausted = counter(
  "llm_retry_budget_exhausted_total",
  "Retries or hedges refused by the retry budget, by chain and target"
)

/**
 * Answers from degraded mode, by chain and source (cache, static).
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // the default chain's answers from the degraded cache, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.degradedResponses.pipe(Metric.tagged("chain", "default"), Metric.tagged("source", "cache")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const degradedResponses = counter(
  "llm_degraded_responses_total",
  "LLM answers served from degraded mode, by chain and source (cache, static)"
)

/**
 * The share of requests that fell back over the fallback-rate alert's window.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // the share of requests that fell back over the alert's window, as the last alert check set it
 * const rate = Metric.value(Metrics.fallbackRate)
 *
 * @since 0.1.0
 * @category metrics
 */
export const fallbackRate = Metric.gauge("llm_fallback_rate", {
  description: "Share of LLM requests that fell back over the alert window (0..1)"
})

/**
 * Whether an alert is raised (1) or not (0), by alert.
 *
 * @example
 * import { Metric } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * // whether the fallback-rate alert is raised, in this process (the recorder's labels, in its order)
 * const value = Metric.value(Metrics.alertActive.pipe(Metric.tagged("alert", "fallback-rate")))
 *
 * @since 0.1.0
 * @category metrics
 */
export const alertActive = Metric.gauge("llm_alert_active", { description: "Whether an alert is raised (1) or not (0)" })

/**
 * The gauge value of a breaker state: 0 closed, 1 half-open, 2 open, 3 isolated.
 *
 * @example
 * import { Metrics } from "effect-llm-failover/observability"
 *
 * Metrics.breakerStateValue("open") // 2
 *
 * @since 0.1.0
 * @category utils
 */
export const breakerStateValue = (state: CircuitBreaker.Status): number => {
  switch (state) {
    case "closed":
      return 0
    case "half-open":
      return 1
    case "open":
      return 2
    case "isolated":
      return 3
  }
}

/**
 * Options of {@link recorder}.
 *
 * @example
 * import { Effect } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   // every series of this router carries `region="eu"`
 *   const options: Metrics.RecorderOptions = { targets: yield* router.status, labels: { region: "eu" } }
 *   return Metrics.recorder(options)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface RecorderOptions {
  /** The router's targets (from `router.status`): resolves a target name to its provider and model. */
  readonly targets: ReadonlyArray<Pick<TargetStatus, "name" | "provider" | "model">>
  /**
   * Constant labels added to every series, e.g. `{ router: "main" }`: each
   * name a Prometheus label name (letters, digits and `_`), none of
   * Prometheus's (`le`, `quantile`, `__*`) nor of the series' own
   * (`provider`, `model`, `chain`, `outcome`, `reason`, `target`, ...).
   */
  readonly labels?: Readonly<Record<string, string>>
}

/**
 * Updates the metrics from what a router reports.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const recorder: Metrics.Recorder = Metrics.recorder({ targets: yield* router.status })
 *   yield* router.listen(recorder.listener)
 *   // keep the breaker gauges current, and count the primary's transitions
 *   yield* recorder.breakers(yield* router.status)
 *   const breaker = router.breaker("primary")
 *   if (breaker !== undefined) yield* Effect.forkScoped(Stream.runForEach(breaker.changes, recorder.transition))
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Recorder {
  /** Counts one router event. */
  readonly record: (event: RouterEvent) => Effect.Effect<void>
  /**
   * Counts one router event at once, for `Router.listen`: as `record`,
   * without the emitting fiber's metric labels (`labels` applies).
   */
  readonly listener: Listener
  /** Counts one breaker transition and sets the breaker's gauge. */
  readonly transition: (transition: CircuitBreaker.Transition) => Effect.Effect<void>
  /** Sets every breaker gauge from the router's status, and learns its targets' providers and models (a new router's). */
  readonly breakers: (status: ReadonlyArray<TargetStatus>) => Effect.Effect<void>
  /** Sets the fallback-rate gauge and one alert's gauge. */
  readonly alert: (name: string, active: boolean, rate: number) => Effect.Effect<void>
}

const seconds = (duration: Duration.Duration) => Duration.toMillis(duration) / 1000

const noTags: ReadonlyArray<MetricLabel.MetricLabel> = []

/**
 * A recorder of router events into the metrics above. Constant labels
 * Prometheus cannot carry throw an `ObservabilityOptionsError` naming the
 * label (`Observability.attach` fails with it instead).
 *
 * @example
 * import { Effect } from "effect"
 * import { Metrics } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const recorder = Metrics.recorder({ targets: yield* router.status, labels: { router: "main" } })
 *   yield* router.listen(recorder.listener)
 * })
 *
 * @since 0.1.0
 * @category constructors
 */
export const recorder = (options: RecorderOptions): Recorder => {
  const problem = labelsProblem(options.labels, "labels")
  if (problem !== undefined) throw problem
  const series = new Series(options.labels)
  // learns a target it did not know from `breakers` (a swapped router's, after a config reload)
  const targets = new Map(targetsOf(options.targets))
  const unknown = { provider: "unknown", model: "unknown" }

  // only the keys a constant label may not take (`recorderKeys`)
  const labelled = <M extends Metric.Metric<any, any, any>>(metric: M, ...keys: ReadonlyArray<RecorderKey>) =>
    series.labelled(metric, ...keys)
  const by = {
    attempts: labelled(attempts, "provider", "model", "outcome"),
    attemptsWhy: labelled(attempts, "provider", "model", "outcome", "reason"),
    streamFailures: labelled(streamFailures, "provider", "model", "reason"),
    timeToFirstToken: labelled(timeToFirstToken, "provider", "model"),
    attemptDuration: labelled(attemptDuration, "provider", "model", "outcome"),
    tokens: labelled(tokens, "provider", "model", "direction"),
    cost: labelled(cost, "provider", "model", "kind"),
    rejections: labelled(rejections, "target", "reason"),
    fallbacks: labelled(fallbacks, "chain", "from", "to", "reason"),
    budgetExhausted: labelled(budgetExhausted, "chain", "target"),
    degradedResponses: labelled(degradedResponses, "chain", "source"),
    requests: labelled(requests, "chain", "outcome"),
    requestDuration: labelled(requestDuration, "chain", "outcome"),
    fallbackExtraCost: labelled(fallbackExtraCost, "chain"),
    breakerState: labelled(breakerState, "target", "provider", "model"),
    breakerTransitions: labelled(breakerTransitions, "target", "from", "to"),
    fallbackRate: labelled(fallbackRate),
    alertActive: labelled(alertActive, "alert")
  }

  /** Adds a served answer's cost and tokens to its model's series. */
  const charge = (
    model: { readonly provider: string; readonly model: string },
    cost: number,
    usage: Usage | undefined,
    tags: ReadonlyArray<MetricLabel.MetricLabel>
  ): void => {
    if (cost > 0) by.cost(model.provider, model.model, "served").unsafeUpdate(cost, tags)
    if (usage === undefined) return
    by.tokens(model.provider, model.model, "input").unsafeUpdate(usage.inputTokens, tags)
    by.tokens(model.provider, model.model, "output").unsafeUpdate(usage.outputTokens, tags)
    if (usage.cacheReadTokens) by.tokens(model.provider, model.model, "cache_read").unsafeUpdate(usage.cacheReadTokens, tags)
    if (usage.cacheWriteTokens) by.tokens(model.provider, model.model, "cache_write").unsafeUpdate(usage.cacheWriteTokens, tags)
  }

  /** Counts one event, with `tags` added to every series (a fiber's metric labels). */
  const count = (event: RouterEvent, tags: ReadonlyArray<MetricLabel.MetricLabel>): void => {
    switch (event._tag) {
      case "AttemptStarted":
        return
      case "AttemptSucceeded": {
        const { provider, model } = event
        if (!event.shadow) {
          by.attempts(provider, model, "success").unsafeUpdate(1, tags)
          if (event.usage === undefined) by.timeToFirstToken(provider, model).unsafeUpdate(seconds(event.duration), tags)
          else by.attemptDuration(provider, model, "success").unsafeUpdate(seconds(event.duration), tags)
        }
        // a served answer's tokens are counted once its request finishes (a stream's are known only then)
        if (event.shadow && event.usage !== undefined) {
          by.tokens(provider, model, "input").unsafeUpdate(event.usage.inputTokens, tags)
          by.tokens(provider, model, "output").unsafeUpdate(event.usage.outputTokens, tags)
          if (event.usage.cacheReadTokens) by.tokens(provider, model, "cache_read").unsafeUpdate(event.usage.cacheReadTokens, tags)
          if (event.usage.cacheWriteTokens) by.tokens(provider, model, "cache_write").unsafeUpdate(event.usage.cacheWriteTokens, tags)
        }
        if (event.shadow && event.cost !== undefined) by.cost(provider, model, "shadow").unsafeUpdate(event.cost, tags)
        return
      }
      case "AttemptFailed": {
        const { provider, model } = event
        const reason = errorClass(event.error)
        if (event.error._tag === "Rejected") {
          by.attemptsWhy(provider, model, "rejected", reason).unsafeUpdate(1, tags)
          by.rejections(event.target, reason).unsafeUpdate(1, tags)
          return
        }
        by.attemptsWhy(provider, model, "error", reason).unsafeUpdate(1, tags)
        by.attemptDuration(provider, model, "error").unsafeUpdate(seconds(event.duration), tags)
        return
      }
      // a call stopped before it ended: upstream all the same, and maybe billed
      case "AttemptCancelled":
        return by.attemptsWhy(event.provider, event.model, "cancelled", event.reason).unsafeUpdate(1, tags)
      case "StreamFailed":
        return by.streamFailures(event.provider, event.model, errorClass(event.error)).unsafeUpdate(1, tags)
      case "Fallback":
        return by.fallbacks(event.chain, event.from, event.to, event.reason).unsafeUpdate(1, tags)
      case "BudgetExhausted":
        return by.budgetExhausted(event.chain, event.target).unsafeUpdate(1, tags)
      case "DegradedResponse":
        return by.degradedResponses(event.chain, event.source).unsafeUpdate(1, tags)
      case "RequestFinished": {
        by.requests(event.chain, event.outcome).unsafeUpdate(1, tags)
        by.requestDuration(event.chain, event.outcome).unsafeUpdate(seconds(event.latency), tags)
        // each model is charged what it billed: the one that served, and any other before it (`billed`)
        const { served, others } = sharesOf(event)
        // the model the target was when it answered (a reload may have moved its name since); by name for an event without
        const target = event.target === undefined
          ? undefined
          : event.provider !== undefined && event.model !== undefined
          ? { provider: event.provider, model: event.model }
          : targets.get(event.target) ?? unknown
        if (target !== undefined) charge(target, served.cost, served.usage, tags)
        for (const part of others) charge(part, part.cost, part.usage, tags)
        if (fellBack(event) && event.costDelta > 0) by.fallbackExtraCost(event.chain).unsafeUpdate(event.costDelta, tags)
        return
      }
    }
  }

  const record = (event: RouterEvent): Effect.Effect<void> =>
    FiberRef.getWith(FiberRef.currentMetricLabels, (tags) => Effect.sync(() => count(event, tags)))

  const setBreaker = (name: string, state: CircuitBreaker.Status) => {
    const target = targets.get(name) ?? unknown
    return Metric.set(by.breakerState(name, target.provider, target.model), breakerStateValue(state))
  }

  // the breaker series a router's status last set, by target: one a reload removed (or gave another model) is
  // retired, so the exporters stop showing its last state ("open" for ever on a dashboard); set again, it is back
  type Labelled = { readonly provider: string; readonly model: string }
  let shown = new Map<string, Labelled>()
  const same = (a: Labelled | undefined, b: Labelled | undefined) =>
    a !== undefined && b !== undefined && a.provider === b.provider && a.model === b.model
  const breakerLabels = (name: string, target: Labelled) =>
    series.labels(["target", "provider", "model"], [name, target.provider, target.model])
  const showOnly = (status: ReadonlyArray<TargetStatus>): void => {
    const now = new Map<string, Labelled>(status.map((s) => [s.name, s]))
    for (const [name, was] of shown) if (!same(now.get(name), was)) unshow(breakerStateName, breakerLabels(name, was))
    for (const [name, is] of now) if (!same(shown.get(name), is)) show(breakerStateName, breakerLabels(name, is))
    shown = now
  }

  return {
    record,
    listener: (event) => count(event, noTags),
    transition: (t) =>
      Effect.zipRight(
        Metric.increment(by.breakerTransitions(t.name, t.from, t.to)),
        setBreaker(t.name, t.to)
      ),
    breakers: (status) =>
      Effect.suspend(() => {
        for (const s of status) targets.set(s.name, { provider: s.provider, model: s.model })
        showOnly(status)
        return Effect.forEach(status, (s) => setBreaker(s.name, s.breaker.state), { discard: true })
      }),
    alert: (name, active, rate) =>
      Effect.zipRight(Metric.set(by.fallbackRate(), rate), Metric.set(by.alertActive(name), active ? 1 : 0))
  }
}
