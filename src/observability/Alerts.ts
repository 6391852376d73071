/**
 * The fallback-rate alert: fallback is invisible to users, so operators are
 * told when too many requests need it.
 *
 * The rate is the share of finished requests that fell back (to another
 * target, or to degraded mode) over a sliding window of Effect's `Clock`
 * (a ring of time buckets: `TestClock` drives it). The alert is raised once
 * when, with at least `minimumRequests` in the window, the rate reaches
 * `threshold`; it is resolved once when the rate falls below `resolveBelow`,
 * or when the window empties. A window of fewer than `minimumRequests`
 * counts as that many for resolving, the missing ones answered without
 * fallback (its fallbacks over `minimumRequests`): low but healthy traffic
 * resolves, a few fallbacks in it do not. Between
 * the two the state holds, so a rate hovering around the threshold does not
 * flap. Each change is one event on the alert's stream and one log line (a
 * warning when raised, info when resolved).
 *
 * The window is evaluated on every finished request and once per bucket,
 * so an alert resolves as its window drains even without traffic.
 *
 * @since 0.1.0
 */
import type { Queue, Scope } from "effect"
import { Cause, Clock, Duration, Effect, Option, PubSub, Stream } from "effect"
import type { Listener, RouterEvent } from "../router/Events.js"
import { fellBack } from "./internal/events.js"
import { Counts } from "./internal/window.js"

/**
 * Options of {@link fallbackRate}.
 *
 * | option | default |
 * |---|---|
 * | `threshold` | `0.05` (5%) |
 * | `resolveBelow` | `threshold * 0.8` |
 * | `window` | 5 minutes |
 * | `buckets` | 10 |
 * | `minimumRequests` | 20 |
 *
 * @example
 * import { Alerts } from "effect-llm-failover/observability"
 *
 * // alert when more than 10% of the "support" chain's requests fall back over 10 minutes
 * const options: Alerts.FallbackRateOptions = {
 *   threshold: 0.1,
 *   resolveBelow: 0.05,
 *   window: "10 minutes",
 *   minimumRequests: 50,
 *   chain: "support"
 * }
 * const alert = Alerts.fallbackRate(options)
 *
 * @since 0.1.0
 * @category models
 */
export interface FallbackRateOptions {
  /** Raise when the fallback rate reaches this, in (0, 1]. */
  readonly threshold?: number
  /** Resolve when the rate falls below this, in [0, threshold] (under `minimumRequests`: fallbacks over `minimumRequests`). */
  readonly resolveBelow?: number
  /** How far back the rate looks. */
  readonly window?: Duration.DurationInput
  /** Time buckets in the window (a positive integer). */
  readonly buckets?: number
  /** No decision on fewer requests in the window (a positive integer). */
  readonly minimumRequests?: number
  /** Only this chain's requests count (default: every chain's). */
  readonly chain?: string
}

/**
 * The figures of the alert's window at one moment.
 *
 * @example
 * import { Effect } from "effect"
 * import { Alerts } from "effect-llm-failover/observability"
 *
 * declare const alert: Alerts.FallbackRateAlert
 *
 * const program = Effect.gen(function* () {
 *   const state: Alerts.WindowState = yield* alert.window
 *   yield* Effect.log(`${state.fallbacks}/${state.requests} fell back (${(state.rate * 100).toFixed(1)}%)`)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface WindowState {
  readonly requests: number
  readonly fallbacks: number
  /** fallbacks / requests; 0 with no request. */
  readonly rate: number
}

/**
 * The alert was raised: the fallback rate reached the threshold.
 *
 * @example
 * import { Effect, Option } from "effect"
 * import { Alerts } from "effect-llm-failover/observability"
 *
 * declare const alert: Alerts.FallbackRateAlert
 *
 * const program = Effect.gen(function* () {
 *   const active = yield* alert.active
 *   if (Option.isSome(active)) {
 *     const raised: Alerts.AlertRaised = active.value
 *     yield* Effect.logWarning(`${raised.alert} raised at ${new Date(raised.at).toISOString()}: rate ${raised.rate}`)
 *   }
 * })
 *
 * @since 0.1.0
 * @category events
 */
export interface AlertRaised extends WindowState {
  readonly _tag: "AlertRaised"
  readonly alert: string
  /** Epoch millis, by Effect's `Clock`. */
  readonly at: number
  readonly threshold: number
  readonly windowMillis: number
}

/**
 * The alert was resolved: the fallback rate fell back below `resolveBelow`.
 *
 * @example
 * import { Effect } from "effect"
 * import { Alerts } from "effect-llm-failover/observability"
 *
 * const onResolved = (event: Alerts.AlertResolved) =>
 *   Effect.log(`${event.alert} resolved after ${(event.at - event.raisedAt) / 1000} s (rate ${event.rate})`)
 *
 * @since 0.1.0
 * @category events
 */
export interface AlertResolved extends WindowState {
  readonly _tag: "AlertResolved"
  readonly alert: string
  readonly at: number
  readonly resolveBelow: number
  readonly windowMillis: number
  /** When the alert it resolves was raised. */
  readonly raisedAt: number
}

/**
 * A change of an alert's state.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { Alerts } from "effect-llm-failover/observability"
 *
 * declare const alert: Alerts.FallbackRateAlert
 *
 * const page = (event: Alerts.AlertEvent) =>
 *   event._tag === "AlertRaised"
 *     ? Effect.logWarning(`page on-call: fallback rate ${event.rate} >= ${event.threshold}`)
 *     : Effect.log(`all clear: fallback rate ${event.rate} < ${event.resolveBelow}`)
 *
 * const program = Stream.runForEach(alert.events, page)
 *
 * @since 0.1.0
 * @category events
 */
export type AlertEvent = AlertRaised | AlertResolved

/**
 * A running fallback-rate alert.
 *
 * @example
 * import { Effect } from "effect"
 * import { Alerts } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const alert: Alerts.FallbackRateAlert = yield* Alerts.fallbackRate()
 *   yield* router.listen(alert.listener)
 *   const window = yield* alert.window
 *   yield* Effect.log(`${alert.name}: ${window.rate}`)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface FallbackRateAlert {
  /** `"fallback-rate"`, or `"fallback-rate:<chain>"` for one chain. */
  readonly name: string
  /** Counts a finished request (other events are ignored) and re-evaluates. */
  readonly record: (event: RouterEvent) => Effect.Effect<void>
  /** As `record`, at once, for `Router.listen` (a raise or resolve is the effect it returns). */
  readonly listener: Listener
  /** Re-evaluates the window now. */
  readonly evaluate: Effect.Effect<void>
  /** Every raise and resolve from when the stream starts running. */
  readonly events: Stream.Stream<AlertEvent>
  /** A subscription to every raise and resolve from when this effect completes. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<AlertEvent>, never, Scope.Scope>
  /** The raise in force, if any. */
  readonly active: Effect.Effect<Option.Option<AlertRaised>>
  /** The window's figures now. */
  readonly window: Effect.Effect<WindowState>
}

const validate = (threshold: number, resolveBelow: number, windowMillis: number, buckets: number, minimum: number) =>
  !(threshold > 0 && threshold <= 1)
    ? `threshold must be in (0, 1], got ${threshold}`
    : !(resolveBelow >= 0 && resolveBelow <= threshold)
    ? `resolveBelow must be in [0, threshold], got ${resolveBelow}`
    : !(windowMillis > 0 && Number.isFinite(windowMillis))
    ? `window must be a positive finite duration`
    : !(Number.isInteger(buckets) && buckets > 0)
    ? `buckets must be a positive integer, got ${buckets}`
    : !(Number.isInteger(minimum) && minimum > 0)
    ? `minimumRequests must be a positive integer, got ${minimum}`
    : undefined

const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`

/**
 * Starts a fallback-rate alert. Feed it router events with `record`; its
 * periodic evaluation runs in the scope. Invalid options are a defect.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { Alerts } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const alert = yield* Alerts.fallbackRate({ threshold: 0.1, window: "10 minutes", minimumRequests: 50 })
 *   yield* router.listen(alert.listener)
 *   yield* Effect.forkScoped(
 *     Stream.runForEach(alert.events, (event) => Effect.log(`${event._tag}: ${event.rate}`))
 *   )
 * })
 *
 * @since 0.1.0
 * @category constructors
 */
export const fallbackRate = (options: FallbackRateOptions = {}): Effect.Effect<FallbackRateAlert, never, Scope.Scope> =>
  Effect.suspend(() => {
    const threshold = options.threshold ?? 0.05
    // rounded: 0.05 * 0.8 is 0.04000000000000001, which a rate of exactly 4% is below
    const resolveBelow = options.resolveBelow ?? Number((threshold * 0.8).toPrecision(12))
    const windowMillis = Duration.toMillis(options.window ?? Duration.minutes(5))
    const buckets = options.buckets ?? 10
    const minimum = options.minimumRequests ?? 20
    const problem = validate(threshold, resolveBelow, windowMillis, buckets, minimum)
    if (problem !== undefined) return Effect.die(new Cause.IllegalArgumentException(`Alerts.fallbackRate: ${problem}`))
    const name = options.chain === undefined ? "fallback-rate" : `fallback-rate:${options.chain}`
    return Effect.gen(function* () {
      const pubsub = yield* PubSub.sliding<AlertEvent>(256)
      const counts = new Counts<"requests" | "fallbacks">(windowMillis, buckets)
      let raised: AlertRaised | undefined

      const stateAt = (now: number): WindowState => {
        const requests = counts.get(now, "requests")
        const fallbacks = counts.get(now, "fallbacks")
        return { requests, fallbacks, rate: requests === 0 ? 0 : fallbacks / requests }
      }

      /** Decides synchronously, so two evaluations can never both raise. */
      const decide = (now: number): AlertEvent | undefined => {
        const state = stateAt(now)
        if (raised === undefined) {
          if (state.requests < minimum || state.rate < threshold) return undefined
          raised = { _tag: "AlertRaised", alert: name, at: now, threshold, windowMillis: counts.windowMillis, ...state }
          return raised
        }
        // a window of fewer than `minimum` requests counts as `minimum` of them, those missing answered without
        // fallback: low but healthy traffic resolves, and a fallback in it weighs as in a window of `minimum`
        const recovered = state.requests === 0 ||
          (state.requests >= minimum ? state.rate < resolveBelow : state.fallbacks / minimum < resolveBelow)
        if (!recovered) return undefined
        const resolved: AlertResolved = {
          _tag: "AlertResolved",
          alert: name,
          at: now,
          resolveBelow,
          windowMillis: counts.windowMillis,
          raisedAt: raised.at,
          ...state
        }
        raised = undefined
        return resolved
      }

      const announce = (event: AlertEvent): Effect.Effect<void> => {
        const annotations = {
          alert: event.alert,
          rate: percent(event.rate),
          requests: event.requests,
          fallbacks: event.fallbacks,
          window: Duration.format(Duration.millis(event.windowMillis))
        }
        const log = event._tag === "AlertRaised"
          ? Effect.logWarning(`LLM fallback rate ${percent(event.rate)} reached the alert threshold ${percent(event.threshold)}`)
          : Effect.logInfo(`LLM fallback rate ${percent(event.rate)} is back below ${percent(event.resolveBelow)}`)
        return Effect.zipRight(PubSub.publish(pubsub, event), Effect.annotateLogs(log, annotations))
      }

      const evaluateAt = (now: number) => {
        const event = decide(now)
        return event === undefined ? Effect.void : announce(event)
      }

      const evaluate = Effect.flatMap(Clock.currentTimeMillis, evaluateAt)

      const clock = yield* Effect.clock
      /** Counts a finished request now; the raise or resolve it causes is the effect it returns. */
      const listener = (event: RouterEvent): Effect.Effect<void> | undefined => {
        if (event._tag !== "RequestFinished") return undefined
        if (options.chain !== undefined && event.chain !== options.chain) return undefined
        const now = clock.unsafeCurrentTimeMillis()
        counts.add(now, "requests")
        if (fellBack(event)) counts.add(now, "fallbacks")
        const change = decide(now)
        return change === undefined ? undefined : announce(change)
      }
      const record = (event: RouterEvent): Effect.Effect<void> => Effect.suspend(() => listener(event) ?? Effect.void)

      const bucketMillis = Math.max(1, Math.ceil(windowMillis / buckets))
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(bucketMillis)), evaluate)))

      return {
        name,
        record,
        listener,
        evaluate,
        events: Stream.fromPubSub(pubsub),
        subscribe: PubSub.subscribe(pubsub),
        active: Effect.sync(() => Option.fromNullable(raised)),
        window: Effect.map(Clock.currentTimeMillis, stateAt)
      } satisfies FallbackRateAlert
    })
  })
