/**
 * The resilience policy the router wraps around each target: retries,
 * timeouts, circuit breaker, bulkhead and retry budget. A policy is plain
 * data, merged field by field in this order, later winning: the built-in
 * defaults, the router's policy, the target's policy, then the chain's.
 * A chain's policy wins because a chain is the request's intent (a
 * latency-critical tier sets tight timeouts for every target in it).
 * Breaker, bulkhead and budget belong to the target itself (one provider
 * model is one failure domain, whichever chain calls it), so a chain cannot
 * set them: only the defaults, the router's and the target's policy do.
 *
 * @since 0.1.0
 */
import { Duration } from "effect"
import type { BackoffOptions } from "../resilience/Backoff.js"
import type { BulkheadOptions } from "../resilience/Bulkhead.js"
import * as CircuitBreaker from "../resilience/CircuitBreaker.js"
import type { RetryBudgetOptions } from "../resilience/RetryBudget.js"

/**
 * Retries on the same target: backoff settings (`maxAttempts` counts the
 * first call) plus the longest Retry-After worth waiting for; a longer one
 * fails over at once, and holds the target's breaker open for its length.
 * `honourRetryAfter: false` reads no Retry-After at all: a retry waits its
 * backoff alone and no breaker is held open by a server, as a hand-written
 * loop would (the simulator's `naive` policy). Default true.
 *
 * @example
 * ```ts
 * import type { Policy, Router } from "effect-llm-failover/router"
 *
 * // three calls a target; a Retry-After over 2 seconds fails over at once
 * const retry: Policy.RetryPolicy = { maxAttempts: 3, base: "500 millis", jitter: "full", retryAfterCap: "2 seconds" }
 * declare const base: Router.Config
 * const config: Router.Config = { ...base, policy: { ...base.policy, retry } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryPolicy extends BackoffOptions {
  readonly retryAfterCap?: Duration.DurationInput
  readonly honourRetryAfter?: boolean
}

/**
 * Deadlines: per attempt, to a stream's first content chunk, and for the
 * whole request across every attempt and target.
 *
 * `attempt`, when no layer of the policy sets it, is half the `total` (60 s
 * at most, the default's; `Policy.defaults` given as a layer sets none), so that a target that hangs leaves the chain the
 * other half for its next target. A target that timed out is tried again
 * only while a whole attempt still fits before the total deadline (its
 * backoff, then the attempt's timeout); otherwise the chain moves on at
 * once. The last target to try (none comes after it) is tried again with
 * whatever time is left. An `attempt` as long as the `total` never fires: a target that hangs
 * then holds the request to its deadline, which `Router.warnings` points out.
 *
 * @example
 * ```ts
 * import type { Policy, Router } from "effect-llm-failover/router"
 *
 * // an interactive chain: a first token within 3 seconds, an answer within 15
 * // (an attempt within 7.5, half of it: a target that hangs leaves the next one the rest)
 * const timeouts: Policy.TimeoutPolicy = { firstToken: "3 seconds", total: "15 seconds" }
 * const chat: Router.ChainConfig = { targets: ["haiku", "mini"], policy: { timeouts } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TimeoutPolicy {
  readonly attempt?: Duration.DurationInput
  readonly firstToken?: Duration.DurationInput
  /**
   * After a stream's first content, the longest gap between two chunks of
   * a model that keeps no deadline of its own (a `LanguageModel` written by
   * hand: the HTTP adapters keep their own `timeouts.idle`); past it the
   * stream fails with `Timeout` (`idle`), a `StreamInterrupted`. Default 30 s.
   */
  readonly idle?: Duration.DurationInput
  readonly total?: Duration.DurationInput
}

/**
 * Hedging: start the next target when the current one has not answered
 * after `delay` (fixed, or `"p95"`: the primary's observed 95th percentile
 * latency), at most `maxHedges` extra calls.
 *
 * @example
 * ```ts
 * import type { Policy, Router } from "effect-llm-failover/router"
 *
 * // a second call to the next target once the first is slower than its usual 95th percentile
 * const hedge: Policy.HedgePolicy = { delay: "p95", maxHedges: 1 }
 * const chain: Router.ChainConfig = { targets: ["sonnet", "gpt-4.1"], hedge }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HedgePolicy {
  readonly delay: Duration.DurationInput | "p95"
  readonly maxHedges?: number
}

/**
 * The calls a rate trip looks at: a number is the last N calls, a duration
 * the calls of that last period.
 *
 * @example
 * ```ts
 * import type { Policy } from "effect-llm-failover/router"
 *
 * const lastHundredCalls: Policy.WindowPolicy = 100
 * const lastMinute: Policy.WindowPolicy = "1 minute"
 * const breaker: Policy.BreakerPolicy = {
 *   failureRate: { threshold: 0.5, window: lastHundredCalls, minimumCalls: 20 },
 *   slowCallRate: { threshold: 0.8, slowCall: "20 seconds", window: lastMinute }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type WindowPolicy = number | Duration.DurationInput

/**
 * When a target's circuit breaker opens, as plain data (a config file can
 * hold it): N consecutive failures, and optionally a failure rate or a
 * slow-call rate over a window, after a minimum of calls. Open durations
 * back off from `openDuration.base` by `factor` up to `cap`.
 *
 * @example
 * ```ts
 * import type { LanguageModel, ProviderError } from "effect-llm-failover/llm"
 * import type { Policy, Router } from "effect-llm-failover/router"
 *
 * declare const sonnet: LanguageModel.Service<ProviderError>
 * // opens on 3 failures in a row, for 10 seconds at first, 2 minutes at most
 * const breaker: Policy.BreakerPolicy = { consecutiveFailures: 3, openDuration: { base: "10 seconds", cap: "2 minutes" } }
 * const target: Router.TargetConfig = { model: sonnet, policy: { breaker } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BreakerPolicy {
  /** Failures in a row that open it (default 5; 0 turns this trip off). */
  readonly consecutiveFailures?: number
  /**
   * Calls in a row abandoned as slow (lost hedges, and race losers slower
   * than `slowCallRate.slowCall`) that open it (default 5; 0 turns this trip
   * off): a target that hangs or fails only after tens of seconds is found
   * after 5 lost hedges, where the slow-call rate waits until slow calls are
   * half the last minute's. See `CircuitBreaker.consecutiveSlowCalls`.
   */
  readonly consecutiveSlowCalls?: number
  readonly failureRate?: {
    readonly threshold: number
    readonly window: WindowPolicy
    readonly minimumCalls?: number
  }
  /** Default: half the calls of the last minute (5 at least) slower than 60 s or lost hedges; `false` turns it off. */
  readonly slowCallRate?: {
    readonly threshold: number
    readonly slowCall: Duration.DurationInput
    readonly window: WindowPolicy
    readonly minimumCalls?: number
  } | false
  readonly openDuration?: CircuitBreaker.OpenDuration
  readonly halfOpenProbes?: number
  /**
   * One failure short of a trip, admit one call at a time, and send the
   * other requests to the chain's next target meanwhile (default true; see
   * `CircuitBreaker`'s `probeBeforeTrip`). A request for which no other
   * target is available is not held back.
   */
  readonly probeBeforeTrip?: boolean
  /**
   * When every breaker of a chain is open, one request a second probes the
   * target whose open duration ends first, so a recovery is found at once
   * rather than at its deadline (default true). `false` keeps this target
   * out for its whole open duration: a chain whose every breaker is open
   * then fails each request at once, and the target sees no call until its
   * breaker lets a half-open probe through.
   */
  readonly probeWhenAllOpen?: boolean
}

const slidingWindow = (window: WindowPolicy): CircuitBreaker.SlidingWindow =>
  typeof window === "number" ? CircuitBreaker.countWindow(window) : CircuitBreaker.timeWindow(window)

/**
 * The circuit-breaker options a {@link BreakerPolicy} stands for.
 *
 * @example
 * import { Policy } from "effect-llm-failover/router"
 *
 * const options = Policy.breakerOptions({ consecutiveFailures: 3, failureRate: { threshold: 0.5, window: "1 minute" } })
 *
 * @since 0.1.0
 * @category conversions
 */
export const breakerOptions = (policy: BreakerPolicy): CircuitBreaker.Options => {
  const trip: Array<CircuitBreaker.TripPolicy> = []
  const consecutive = policy.consecutiveFailures ?? 5
  if (consecutive > 0) trip.push(CircuitBreaker.consecutiveFailures(consecutive))
  const consecutiveSlow = policy.consecutiveSlowCalls ?? 5
  if (consecutiveSlow > 0) trip.push(CircuitBreaker.consecutiveSlowCalls(consecutiveSlow))
  if (policy.failureRate !== undefined) {
    const { threshold, window, minimumCalls } = policy.failureRate
    trip.push(
      CircuitBreaker.failureRate({
        threshold,
        window: slidingWindow(window),
        ...(minimumCalls === undefined ? {} : { minimumCalls })
      })
    )
  }
  if (policy.slowCallRate !== undefined && policy.slowCallRate !== false) {
    const { threshold, window, minimumCalls, slowCall } = policy.slowCallRate
    trip.push(
      CircuitBreaker.slowCallRate({
        threshold,
        slowCallDuration: slowCall,
        window: slidingWindow(window),
        ...(minimumCalls === undefined ? {} : { minimumCalls })
      })
    )
  }
  return {
    trip,
    ...(policy.openDuration === undefined ? {} : { openDuration: policy.openDuration }),
    ...(policy.halfOpenProbes === undefined ? {} : { halfOpenProbes: policy.halfOpenProbes }),
    probeBeforeTrip: policy.probeBeforeTrip ?? true
  }
}

/**
 * A target's or the router's whole policy; every field is optional.
 *
 * @example
 * import type { Policy } from "effect-llm-failover/router"
 *
 * const policy: Policy.Policy = {
 *   retry: { maxAttempts: 2, base: "250 millis", jitter: "full", retryAfterCap: "5 seconds" },
 *   timeouts: { attempt: "30 seconds", firstToken: "8 seconds", total: "60 seconds" },
 *   breaker: { consecutiveFailures: 3, openDuration: { base: "30 seconds", cap: "5 minutes" } },
 *   bulkhead: { maxConcurrent: 64, maxQueued: 128 }
 * }
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  readonly retry?: RetryPolicy
  readonly timeouts?: TimeoutPolicy
  readonly breaker?: BreakerPolicy
  /** `false` turns the bulkhead off. */
  readonly bulkhead?: BulkheadOptions | false
  readonly budget?: RetryBudgetOptions
}

/**
 * The part of a policy a chain may override.
 *
 * @example
 * ```ts
 * import type { Policy, Router } from "effect-llm-failover/router"
 *
 * // a batch chain: more retries, a long deadline; its targets keep their own breakers
 * const batch: Policy.ChainPolicy = { retry: { maxAttempts: 5 }, timeouts: { total: "10 minutes" } }
 * const chain: Router.ChainConfig = { targets: ["mini", "flash"], policy: batch }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ChainPolicy = Pick<Policy, "retry" | "timeouts">

/**
 * The router's defaults: 2 attempts a target with full-jitter backoff from
 * 200 ms, Retry-After honoured up to 10 s; 60 s an attempt, 20 s to the first
 * token, 30 s between a stream's chunks after it, 120 s in all (with another total and no `attempt` of its own, an
 * attempt has half the total, 60 s at most: see {@link TimeoutPolicy}); a breaker that opens on 5 failures in a row (its own
 * default), on 5 calls in a row abandoned as slow (lost hedges: `consecutiveSlowCalls`), or when half the calls of the last
 * minute (5 at least) were slow: slower than 60 s (the default attempt timeout; a shorter one times such a call out, a
 * failure), or abandoned as slow because they lost a hedge, so a target that hangs, or keeps losing its hedges during a
 * latency spike, is skipped until it recovers; the budget's own defaults; a bulkhead of 256
 * concurrent calls and 256 queued a target.
 *
 * @example
 * import { Policy } from "effect-llm-failover/router"
 *
 * Policy.defaults.timeouts.total // "120 seconds"
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaults = {
  retry: { maxAttempts: 2, base: "200 millis", factor: 2, cap: "10 seconds", jitter: "full", retryAfterCap: "10 seconds" },
  timeouts: { attempt: "60 seconds", firstToken: "20 seconds", idle: "30 seconds", total: "120 seconds" },
  breaker: { slowCallRate: { threshold: 0.5, slowCall: "60 seconds", window: "1 minute", minimumCalls: 5 } },
  bulkhead: { maxConcurrent: 256, maxQueued: 256 },
  budget: {}
} as const satisfies Required<Policy>

const defaultAttempt = Duration.decode(defaults.timeouts.attempt)

/**
 * A policy with every section present, as the router runs it.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { Policy } from "effect-llm-failover/router"
 *
 * const resolved: Policy.Resolved = Policy.resolve({ timeouts: { total: "30 seconds" } })
 * Duration.toSeconds(resolved.timeouts.total) // 30
 * Duration.toSeconds(resolved.timeouts.firstToken) // 20: the default
 * resolved.bulkhead === false ? "no bulkhead" : resolved.bulkhead.maxConcurrent // 256
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly retry: RetryPolicy
  readonly timeouts: {
    readonly attempt: Duration.Duration
    readonly firstToken: Duration.Duration
    readonly idle: Duration.Duration
    readonly total: Duration.Duration
  }
  readonly breaker: BreakerPolicy
  readonly bulkhead: BulkheadOptions | false
  readonly budget: RetryBudgetOptions
}

const section = <K extends keyof Policy>(key: K, layers: ReadonlyArray<Policy | undefined>): Policy[K] => {
  let merged: Policy[K] | undefined = undefined
  for (const layer of layers) {
    const value = layer?.[key]
    if (value === undefined) continue
    merged =
      value === false || merged === false || merged === undefined
        ? value
        : ({ ...(merged as object), ...(value as object) } as Policy[K])
  }
  return merged as Policy[K]
}

/**
 * Merges policies, later ones winning field by field within each section.
 *
 * @example
 * import { Policy } from "effect-llm-failover/router"
 *
 * const resolved = Policy.resolve(Policy.defaults, { retry: { maxAttempts: 3 } })
 * resolved.retry.maxAttempts // 3
 * resolved.retry.base // "200 millis"
 *
 * @since 0.1.0
 * @category combinators
 */
export const resolve = (...layers: ReadonlyArray<Policy | undefined>): Resolved => {
  const all = [defaults, ...layers]
  const timeouts = section("timeouts", all)!
  const total = Duration.decode(timeouts.total ?? defaults.timeouts.total)
  // an attempt no layer times has half the total (60 s at most): one that hangs leaves the chain the other half;
  // `defaults` passed as a layer times none (its attempt is the default's), and resets one an earlier layer set
  let attempt: Duration.DurationInput | undefined = undefined
  for (const layer of layers) {
    const own = layer?.timeouts
    if (own === defaults.timeouts) attempt = undefined
    else if (own?.attempt !== undefined) attempt = own.attempt
  }
  return {
    retry: section("retry", all)!,
    timeouts: {
      attempt: attempt === undefined ? Duration.min(defaultAttempt, Duration.times(total, 0.5)) : Duration.decode(attempt),
      firstToken: Duration.decode(timeouts.firstToken ?? defaults.timeouts.firstToken),
      idle: Duration.decode(timeouts.idle ?? defaults.timeouts.idle),
      total
    },
    breaker: section("breaker", all)!,
    bulkhead: section("bulkhead", all)!,
    budget: section("budget", all)!
  }
}
