/**
 * The health dashboard's data: per target, a state at a glance (healthy,
 * degraded, down), its circuit breaker and when it retries, success rate,
 * latency quantiles and error counts by class over a window; plus the last
 * fallbacks and the alerts in force. JSON-serialisable, with a `Schema` to
 * decode it on the other side of the wire.
 *
 * - `state`: `down` when the breaker is open or isolated; `degraded` when it
 *   is half-open, when the router's own health window says degraded (the
 *   same judgement health-aware routing uses, which waits for a minimum of
 *   calls), or when the breaker counts failures in a row and this window
 *   holds calls but no success (too few calls for the router to judge, all
 *   of them failed); else `healthy`.
 * - `calls`, `successRate` and `errors` count this module's window (default
 *   5 minutes) of attempt events. As in the router's health, calls leave out
 *   rejections (the target was not called) and the request's own faults
 *   (`InvalidRequest`, `ContentFiltered`, `ContextLengthExceeded`); `errors`
 *   counts every class, rejections by reason. Shadow calls (background
 *   copies of served requests) are left out, as from `llm_attempts_total`:
 *   the router reports their successes, not their failures.
 * - `latencyMillis` and `timeToFirstTokenMillis` are the router's health
 *   window's approximate quantiles of successful calls. A stream's latency
 *   there is its time to first content, as its breaker's slow-call rule
 *   reads it; `timeToFirstTokenMillis` has the streams alone.
 *
 * @since 0.1.0
 */
import type { Scope } from "effect"
import { Clock, Duration, Effect, Option, Schema } from "effect"
import type { Listener, RouterEvent } from "../router/Events.js"
import type * as Router from "../router/Router.js"
import type * as Alerts from "./Alerts.js"
import { errorClass } from "./internal/events.js"
import { Counts, RingBuffer } from "./internal/window.js"

/**
 * A target's state at a glance.
 *
 * @example
 * import { Schema } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * // a target's state as `/status.json` gives it, read back by a client
 * const decode = Schema.decodeUnknown(HealthSnapshot.TargetState)
 *
 * @since 0.1.0
 * @category schemas
 */
export const TargetState = Schema.Literal("healthy", "degraded", "down")

/**
 * A target's state at a glance: a decoded {@link TargetState}.
 *
 * @example
 * import { Effect } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * declare const health: HealthSnapshot.Tracker
 *
 * const icon = (state: HealthSnapshot.TargetState) => (state === "healthy" ? "🟢" : state === "degraded" ? "🟡" : "🔴")
 * const lines = Effect.map(health.snapshot, (snapshot) => snapshot.targets.map((t) => `${icon(t.state)} ${t.name}`))
 *
 * @since 0.1.0
 * @category models
 */
export type TargetState = typeof TargetState.Type

/**
 * A circuit breaker's state.
 *
 * @example
 * import { Schema } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * // a breaker's part of `/status.json`, read back by a client
 * const decode = Schema.decodeUnknown(HealthSnapshot.BreakerState)
 *
 * @since 0.1.0
 * @category schemas
 */
export const BreakerState = Schema.Literal("closed", "half-open", "open", "isolated")

/**
 * Median and 95th percentile, in milliseconds.
 *
 * @example
 * import { Schema } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * // latency quantiles in milliseconds, as `/status.json` gives them
 * const decode = Schema.decodeUnknown(HealthSnapshot.Quantiles)
 *
 * @since 0.1.0
 * @category schemas
 */
export const Quantiles = Schema.Struct({ p50: Schema.Number, p95: Schema.Number })

/**
 * One target's health.
 *
 * @example
 * import { Schema } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * // one target's entry of `/status.json`, read back by a client
 * const decode = Schema.decodeUnknown(HealthSnapshot.TargetHealth)
 *
 * @since 0.1.0
 * @category schemas
 */
export const TargetHealth = Schema.Struct({
  name: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  state: TargetState,
  breaker: Schema.Struct({
    state: BreakerState,
    /** Milliseconds until an open breaker admits a probe; null when not open. */
    retryInMillis: Schema.NullOr(Schema.Number),
    trips: Schema.Number,
    consecutiveFailures: Schema.Number
  }),
  /** Calls that ended over the window (the request's own faults, such as a 400, are not among them). */
  calls: Schema.Number,
  successes: Schema.Number,
  /** Failed calls, streams that failed after their first content among them (as the breaker counts them). */
  failures: Schema.Number,
  rejections: Schema.Number,
  /** successes / calls over the window; null with no call. */
  successRate: Schema.NullOr(Schema.Number),
  latencyMillis: Schema.NullOr(Quantiles),
  timeToFirstTokenMillis: Schema.NullOr(Quantiles),
  /** Error counts over the window, by class (error tag, or rejection reason). */
  errors: Schema.Record({ key: Schema.String, value: Schema.Number })
})

/**
 * One target's health: a decoded {@link TargetHealth}.
 *
 * @example
 * import { Effect } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * declare const health: HealthSnapshot.Tracker
 *
 * const describe = (target: HealthSnapshot.TargetHealth) =>
 *   `${target.name} (${target.provider}/${target.model}): breaker ${target.breaker.state}, ` +
 *   `success ${target.successRate ?? "n/a"}, p95 ${target.latencyMillis?.p95 ?? "n/a"} ms`
 *
 * const report = Effect.map(health.snapshot, (snapshot) => snapshot.targets.map(describe))
 *
 * @since 0.1.0
 * @category models
 */
export interface TargetHealth extends Schema.Schema.Type<typeof TargetHealth> {}

/**
 * One fallback, as the dashboard lists it.
 *
 * @example
 * import { Schema } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * // one of the last fallbacks `/status.json` lists
 * const decode = Schema.decodeUnknown(HealthSnapshot.FallbackRecord)
 *
 * @since 0.1.0
 * @category schemas
 */
export const FallbackRecord = Schema.Struct({
  at: Schema.Number,
  requestId: Schema.Number,
  chain: Schema.String,
  from: Schema.String,
  to: Schema.String,
  reason: Schema.String
})

/**
 * One fallback, as the dashboard lists it: a decoded {@link FallbackRecord}.
 *
 * @example
 * import { Effect } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * declare const health: HealthSnapshot.Tracker
 *
 * const program = Effect.gen(function* () {
 *   const fallbacks: ReadonlyArray<HealthSnapshot.FallbackRecord> = yield* health.recentFallbacks
 *   for (const f of fallbacks) yield* Effect.log(`#${f.requestId} ${f.chain}: ${f.from} -> ${f.to} (${f.reason})`)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface FallbackRecord extends Schema.Schema.Type<typeof FallbackRecord> {}

/**
 * An alert in force: since when, and its window now (`rate`, `requests`,
 * `fallbacks` as the alert counts them at the snapshot, not as they were
 * when it was raised).
 *
 * @example
 * import { Schema } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * // an alert raised now, as `/status.json` lists it
 * const decode = Schema.decodeUnknown(HealthSnapshot.ActiveAlert)
 *
 * @since 0.1.0
 * @category schemas
 */
export const ActiveAlert = Schema.Struct({
  alert: Schema.String,
  since: Schema.Number,
  rate: Schema.Number,
  threshold: Schema.Number,
  requests: Schema.Number,
  fallbacks: Schema.Number
})

/**
 * An alert in force: a decoded {@link ActiveAlert}.
 *
 * @example
 * import { Effect } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * declare const health: HealthSnapshot.Tracker
 *
 * const banner = (alert: HealthSnapshot.ActiveAlert) =>
 *   `${alert.alert}: ${alert.fallbacks}/${alert.requests} fell back since ${new Date(alert.since).toISOString()}`
 * const banners = Effect.map(health.snapshot, (snapshot) => snapshot.alerts.map(banner))
 *
 * @since 0.1.0
 * @category models
 */
export interface ActiveAlert extends Schema.Schema.Type<typeof ActiveAlert> {}

/**
 * The whole dashboard at one moment.
 *
 * @example
 * import { Effect, Schema } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * // a dashboard reading the gateway's `/status.json`
 * const read = (url: string) =>
 *   Effect.promise(() => fetch(url).then((response) => response.json())).pipe(
 *     Effect.flatMap(Schema.decodeUnknown(HealthSnapshot.Snapshot))
 *   )
 *
 * @since 0.1.0
 * @category schemas
 */
export const Snapshot = Schema.Struct({
  /** Epoch millis, by Effect's `Clock`. */
  at: Schema.Number,
  windowMillis: Schema.Number,
  targets: Schema.Array(TargetHealth),
  /** The last fallbacks, newest first. */
  recentFallbacks: Schema.Array(FallbackRecord),
  alerts: Schema.Array(ActiveAlert)
})

/**
 * The whole dashboard at one moment: a decoded {@link Snapshot}.
 *
 * @example
 * import { Effect } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * declare const body: unknown
 *
 * const program = Effect.gen(function* () {
 *   const snapshot: HealthSnapshot.Snapshot = yield* HealthSnapshot.decode(body)
 *   const down = snapshot.targets.filter((t) => t.state === "down").map((t) => t.name)
 *   yield* Effect.log(`${down.length} of ${snapshot.targets.length} targets down: ${down.join(", ")}`)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot extends Schema.Schema.Type<typeof Snapshot> {}

/**
 * Options of {@link tracker} and {@link make}.
 *
 * @example
 * import { Effect } from "effect"
 * import { Alerts, HealthSnapshot } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const alert = yield* Alerts.fallbackRate()
 *   const options: HealthSnapshot.Options = { window: "15 minutes", buckets: 15, recentFallbacks: 50, alerts: [alert] }
 *   return yield* HealthSnapshot.make(router, options)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The window of calls and error counts. Default 5 minutes. */
  readonly window?: Duration.DurationInput
  /** Time buckets in the window. Default 10. */
  readonly buckets?: number
  /** How many recent fallbacks to keep. Default 20. */
  readonly recentFallbacks?: number
  /** Alerts whose raises the snapshot lists. */
  readonly alerts?: ReadonlyArray<Alerts.FallbackRateAlert>
}

/**
 * Keeps the windowed counts and recent fallbacks a snapshot needs.
 *
 * @example
 * import { Effect } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const health: HealthSnapshot.Tracker = yield* HealthSnapshot.make(router)
 *   const snapshot = yield* health.snapshot
 *   return HealthSnapshot.toJson(snapshot)
 * }).pipe(Effect.scoped)
 *
 * @since 0.1.0
 * @category models
 */
export interface Tracker {
  /** Counts one router event. */
  readonly record: (event: RouterEvent) => Effect.Effect<void>
  /** As `record`, at once, for `Router.listen`. */
  readonly listener: Listener
  /** The dashboard now. */
  readonly snapshot: Effect.Effect<Snapshot>
  /** The last fallbacks, newest first. */
  readonly recentFallbacks: Effect.Effect<ReadonlyArray<FallbackRecord>>
}

/** The request's own faults: they say nothing of the target's health. */
const ownFaults = new Set(["InvalidRequest", "ContentFiltered", "ContextLengthExceeded"])

const CALLS = "\u0000calls"
const SUCCESSES = "\u0000successes"
const FAILURES = "\u0000failures"
const REJECTIONS = "\u0000rejections"

const millis = (d: Duration.Duration) => Duration.toMillis(d)

const stateOf = (breaker: Router.TargetStatus["breaker"]["state"], degraded: boolean): TargetState =>
  breaker === "open" || breaker === "isolated" ? "down" : breaker === "half-open" || degraded ? "degraded" : "healthy"

/** Calls in the window, every one failed, and the latest still unanswered by a success: not healthy, whatever the count. */
const failingOnly = (status: Router.TargetStatus, calls: number, successes: number): boolean =>
  calls > 0 && successes === 0 && status.breaker.consecutiveFailures > 0

/**
 * A tracker to feed with router events yourself (as `Observability.attach` does).
 *
 * @example
 * import { Effect } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const health = yield* HealthSnapshot.tracker(router, { window: "10 minutes" })
 *   yield* router.listen(health.listener)
 *   return yield* health.snapshot
 * })
 *
 * @since 0.1.0
 * @category constructors
 */
export const tracker = (router: Pick<Router.Service, "status">, options: Options = {}): Effect.Effect<Tracker> =>
  Effect.sync(() => {
    const windowMillis = Duration.toMillis(options.window ?? Duration.minutes(5))
    const buckets = options.buckets ?? 10
    const counts = new Map<string, Counts<string>>()
    const fallbacks = new RingBuffer<FallbackRecord>(options.recentFallbacks ?? 20)

    const countsOf = (target: string) => {
      let c = counts.get(target)
      if (c === undefined) {
        c = new Counts<string>(windowMillis, buckets)
        counts.set(target, c)
      }
      return c
    }

    const listener = (event: RouterEvent): void => {
      switch (event._tag) {
        case "AttemptSucceeded": {
          // a shadow call's failure sends no event: counting its successes alone would flatter the target
          if (event.shadow) return
          const c = countsOf(event.target)
          c.add(event.at, CALLS)
          c.add(event.at, SUCCESSES)
          return
        }
        case "AttemptFailed": {
          const c = countsOf(event.target)
          const cls = errorClass(event.error)
          c.add(event.at, cls)
          if (event.error._tag === "Rejected") c.add(event.at, REJECTIONS)
          else if (!ownFaults.has(cls)) {
            c.add(event.at, CALLS)
            c.add(event.at, FAILURES)
          }
          return
        }
        // the stream's call, a success at its first content, failed after all: as its breaker counts it
        case "StreamFailed": {
          const c = countsOf(event.target)
          const cls = errorClass(event.error)
          c.add(event.at, cls)
          if (!ownFaults.has(cls)) {
            c.add(event.at, SUCCESSES, -1)
            c.add(event.at, FAILURES)
          }
          return
        }
        case "Fallback":
          fallbacks.push({
            at: event.at,
            requestId: event.requestId,
            chain: event.chain,
            from: event.from,
            to: event.to,
            reason: event.reason
          })
          return
      }
    }
    const record = (event: RouterEvent): Effect.Effect<void> => Effect.sync(() => listener(event))

    const recentFallbacks = Effect.sync(() => fallbacks.toArray().reverse())

    const targetHealth = (status: Router.TargetStatus, now: number): TargetHealth => {
      const totals = counts.get(status.name)?.totals(now) ?? new Map<string, number>()
      const errors: Record<string, number> = {}
      for (const [key, n] of totals) if (!key.startsWith("\u0000") && n > 0) errors[key] = n
      const calls = totals.get(CALLS) ?? 0
      // a stream's success can leave the window before its failure after content does
      const successes = Math.max(0, totals.get(SUCCESSES) ?? 0)
      const retryAfter = status.breaker.retryAfter
      return {
        name: status.name,
        provider: status.provider,
        model: status.model,
        state: stateOf(status.breaker.state, status.health.degraded || failingOnly(status, calls, successes)),
        breaker: {
          state: status.breaker.state,
          retryInMillis: status.breaker.state === "open" && Duration.isFinite(retryAfter) ? millis(retryAfter) : null,
          trips: status.breaker.trips,
          consecutiveFailures: status.breaker.consecutiveFailures
        },
        calls,
        successes,
        failures: Math.min(calls, totals.get(FAILURES) ?? 0),
        rejections: totals.get(REJECTIONS) ?? 0,
        successRate: calls === 0 ? null : successes / calls,
        latencyMillis: Option.match(status.health.latency, {
          onNone: () => null,
          onSome: (q) => ({ p50: millis(q.p50), p95: millis(q.p95) })
        }),
        timeToFirstTokenMillis: Option.match(status.health.timeToFirstToken, {
          onNone: () => null,
          onSome: (q) => ({ p50: millis(q.p50), p95: millis(q.p95) })
        }),
        errors
      }
    }

    // an alert in force with its window now (the rate it was raised at is history: its log line has it),
    // evaluated first: a window emptied since the alert's last tick resolves it, not shown in force at 0 of 0
    const alerts = Effect.map(
      Effect.forEach(options.alerts ?? [], (alert) => Effect.zipRight(alert.evaluate, Effect.zip(alert.active, alert.window))),
      (raised) =>
        raised.flatMap(([o, now]) =>
          Option.isSome(o)
            ? [{
              alert: o.value.alert,
              since: o.value.at,
              rate: now.rate,
              threshold: o.value.threshold,
              requests: now.requests,
              fallbacks: now.fallbacks
            }]
            : []
        )
    )

    const snapshot = Effect.gen(function* () {
      const status = yield* router.status
      const now = yield* Clock.currentTimeMillis
      return {
        at: now,
        windowMillis: buckets * Math.max(1, Math.ceil(windowMillis / buckets)),
        targets: status.map((s) => targetHealth(s, now)),
        recentFallbacks: yield* recentFallbacks,
        alerts: yield* alerts
      } satisfies Snapshot
    })

    return { record, listener, snapshot, recentFallbacks } satisfies Tracker
  })

/**
 * A tracker subscribed to the router's events for the life of the scope.
 *
 * @example
 * import { Effect } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.Router
 *   const { snapshot, recentFallbacks } = yield* HealthSnapshot.make(router)
 *   const now = yield* snapshot
 *   console.log(JSON.stringify(now, null, 2))
 * }).pipe(Effect.scoped)
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  router: Pick<Router.Service, "status" | "listen">,
  options: Options = {}
): Effect.Effect<Tracker, never, Scope.Scope> =>
  Effect.tap(tracker(router, options), (t) => router.listen(t.listener))

/**
 * Encodes a snapshot as JSON text.
 *
 * @example
 * import { Effect } from "effect"
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * declare const health: HealthSnapshot.Tracker
 * const json = Effect.map(health.snapshot, HealthSnapshot.toJson)
 *
 * @since 0.1.0
 * @category utils
 */
export const toJson = (snapshot: Snapshot): string => JSON.stringify(snapshot)

/**
 * Decodes a snapshot read from the wire (e.g. `GET /status.json`).
 *
 * @example
 * import { HealthSnapshot } from "effect-llm-failover/observability"
 *
 * declare const body: unknown
 * const snapshot = HealthSnapshot.decode(body) // Effect<Snapshot, ParseError>
 *
 * @since 0.1.0
 * @category utils
 */
export const decode = Schema.decodeUnknown(Snapshot)
