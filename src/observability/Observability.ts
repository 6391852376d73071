/**
 * One call to make a router observable: fallback stays invisible to users
 * and becomes very visible to operators.
 *
 * `attach(router)` listens to the router's events and subscribes to every
 * target's circuit breaker, and keeps, for as long as its scope lives:
 *
 * - the {@link Metrics} (Effect `Metric`s), exposed as Prometheus text;
 * - log lines and spans through Effect's `Logger` and `Tracer` ({@link Telemetry});
 * - the health dashboard's data ({@link HealthSnapshot}) and its page ({@link StatusPage});
 * - the fallback-rate alert ({@link Alerts});
 * - the cost ledger ({@link CostReport}).
 *
 * It also gives the HTTP handlers a server mounts: `GET /metrics`,
 * `GET /status`, `GET /status.json` and `GET /v1/usage` ({@link paths},
 * {@link httpRouter}).
 *
 * Events are counted as the router emits them, in the request's fiber
 * (`Router.listen`: counters, windows and spans, with no queue or fiber
 * between the router and them). What an event makes happen beyond that (a
 * log line, an alert raised or resolved) and breaker transitions are
 * handled by background fibers in `attach`'s context (its logger), a moment
 * later; {@link Service.flush} waits until everything so far is handled.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type { Fiber } from "effect"
import { Context, Effect, ExecutionStrategy, Exit, Layer, Option, PubSub, Queue, Scope, Stream } from "effect"
import type { Listener } from "../router/Events.js"
import type * as CircuitBreaker from "../resilience/CircuitBreaker.js"
import * as Router from "../router/Router.js"
import * as Alerts from "./Alerts.js"
import * as CostReport from "./CostReport.js"
import * as HealthSnapshot from "./HealthSnapshot.js"
import { awaitIdle, forkQueue } from "./internal/consumer.js"
import { labelsProblem, ledgerPeriods, prefixProblem } from "./internal/options.js"
import * as Metrics from "./Metrics.js"
import type { ObservabilityOptionsError } from "./OptionsError.js"
import * as Prometheus from "./Prometheus.js"
import * as StatusPage from "./StatusPage.js"
import * as Telemetry from "./Telemetry.js"

/**
 * Options of {@link attach}; every part has its defaults.
 *
 * @example
 * import { Effect } from "effect"
 * import { Observability } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const options: Observability.Options = {
 *   labels: { router: "main" },
 *   alert: { threshold: 0.1, window: "10 minutes" },
 *   health: { window: "15 minutes" },
 *   statusPage: { title: "Support bot LLMs", refreshSeconds: 10 },
 *   telemetry: { tracing: false },
 *   prometheus: { prefix: "support" }
 * }
 * const program = Effect.flatMap(Router.Router, (router) => Observability.attach(router, options))
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Constant labels on every metric series of this router, e.g. `{ router: "main" }`;
   * names as `Metrics.RecorderOptions.labels` allows them.
   */
  readonly labels?: Readonly<Record<string, string>>
  /** The fallback-rate alert (`false`: none). Default 5% over 5 minutes, from 20 requests. */
  readonly alert?: Alerts.FallbackRateOptions | false
  /** The health window and how many recent fallbacks to keep. */
  readonly health?: Omit<HealthSnapshot.Options, "alerts">
  /** The cost ledger's buckets and retention. */
  readonly cost?: Omit<CostReport.LedgerOptions, "targets">
  /** The status page's title and refresh period. */
  readonly statusPage?: StatusPage.Options
  /** Logs and spans. */
  readonly telemetry?: Telemetry.Options
  /** The Prometheus prefix and `target_info`. */
  readonly prometheus?: Prometheus.Options
}

/**
 * The HTTP handlers to mount (see {@link paths}).
 *
 * @example
 * import { HttpRouter } from "@effect/platform"
 * import { Observability } from "effect-llm-failover/observability"
 *
 * declare const observability: Observability.Service
 *
 * // only the metrics and the dashboard, under /ops
 * const { metrics, status, statusJson }: Observability.Handlers = observability.handlers
 * const ops = HttpRouter.empty.pipe(
 *   HttpRouter.get("/ops/metrics", metrics),
 *   HttpRouter.get("/ops/status", status),
 *   HttpRouter.get("/ops/status.json", statusJson)
 * )
 *
 * @since 0.1.0
 * @category models
 */
export interface Handlers {
  /** Prometheus text, `text/plain; version=0.0.4`. */
  readonly metrics: HttpApp.Default
  /** The HTML dashboard, refreshing itself. */
  readonly status: HttpApp.Default
  /** The dashboard's data as JSON ({@link HealthSnapshot.Snapshot}). */
  readonly statusJson: HttpApp.Default
  /** The cost report as JSON ({@link CostReport.Report}), `?since=` epoch millis or ISO date. */
  readonly usage: HttpApp.Default
}

/**
 * Where the handlers are meant to be mounted, all `GET`.
 *
 * @example
 * import { Observability } from "effect-llm-failover/observability"
 *
 * Observability.paths.metrics // "/metrics", where Prometheus scrapes
 *
 * @since 0.1.0
 * @category constants
 */
export const paths = {
  metrics: "/metrics",
  status: "/status",
  statusJson: "/status.json",
  usage: "/v1/usage"
} as const

/**
 * A router made observable.
 *
 * @example
 * import { Effect, Option, Stream } from "effect"
 * import { Observability } from "effect-llm-failover/observability"
 *
 * const program = Effect.gen(function* () {
 *   const observability: Observability.Service = yield* Observability.Observability
 *   yield* Effect.forkScoped(Stream.runForEach(observability.alerts, (event) => Effect.log(event._tag)))
 *   yield* observability.flush
 *   const snapshot = yield* observability.snapshot
 *   yield* Effect.log(`${snapshot.targets.length} targets, alert ${Option.isSome(observability.alert) ? "on" : "off"}`)
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The Prometheus text of every metric, breaker and alert gauges refreshed first. */
  readonly render: Effect.Effect<string>
  /** The health dashboard's data now. */
  readonly snapshot: Effect.Effect<HealthSnapshot.Snapshot>
  /** The last fallbacks, newest first. */
  readonly recentFallbacks: Effect.Effect<ReadonlyArray<HealthSnapshot.FallbackRecord>>
  /** The fallback-rate alert, unless turned off. */
  readonly alert: Option.Option<Alerts.FallbackRateAlert>
  /** Every alert raised or resolved, from when the stream starts running (empty without an alert). */
  readonly alerts: Stream.Stream<Alerts.AlertEvent>
  /**
   * Every breaker transition of the router's targets (a reload's new ones
   * too), from when the stream starts running; a subscriber more than 1,024
   * behind loses the oldest.
   */
  readonly transitions: Stream.Stream<CircuitBreaker.Transition>
  /** What the router spent. */
  readonly costReport: (options?: CostReport.ReportOptions) => Effect.Effect<CostReport.Report>
  readonly handlers: Handlers
  /** Waits until every event and transition so far has been handled: its log lines written, its alerts raised. */
  readonly flush: Effect.Effect<void>
}

/**
 * The observability service tag, for {@link layer}.
 *
 * @example
 * import { Effect } from "effect"
 * import { Observability } from "effect-llm-failover/observability"
 *
 * // what the requests so far cost, from the service the layer provides
 * const spent = Effect.flatMap(Observability.Observability, (observability) => observability.costReport()).pipe(
 *   Effect.map((report) => report.totals.cost)
 * )
 *
 * @since 0.1.0
 * @category tags
 */
export class Observability extends Context.Tag("effect-llm-failover/Observability")<Observability, Service>() {}

/** The breakers of a router's targets now. */
const breakersOf = (router: Router.Service): ReadonlyArray<CircuitBreaker.CircuitBreaker> =>
  router.targets.flatMap((name) => router.breaker(name) ?? [])

/**
 * Makes a router observable for the life of the scope. Options that would
 * make broken output (a constant label or Prometheus prefix the text format
 * cannot carry) or a cost ledger of more than 100,000 buckets fail with an
 * `ObservabilityOptionsError` naming the option, before anything is attached.
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { Observability } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Router.Config
 *
 * const program = Effect.gen(function* () {
 *   const router = yield* Router.make(config)
 *   const observability = yield* Observability.attach(router, { alert: { threshold: 0.05 } })
 *   yield* router.complete(Chat.prompt("Hello"))
 *   yield* observability.flush
 *   console.log(yield* observability.render)
 *   console.log((yield* observability.costReport()).totals.cost)
 * }).pipe(Effect.scoped)
 *
 * @since 0.1.0
 * @category constructors
 */
export const attach = (router: Router.Service, options: Options = {}): Effect.Effect<Service, ObservabilityOptionsError, Scope.Scope> =>
  Effect.gen(function* () {
    // options that would make broken output are refused before anything is attached
    const problem = labelsProblem(options.labels, "labels") ?? prefixProblem(options.prometheus?.prefix, "prometheus.prefix")
    if (problem !== undefined) return yield* problem
    yield* ledgerPeriods(options.cost ?? {}, "cost")
    // each breaker's transitions, in a scope of its own: subscribed now, so none after `attach` is missed
    const scope = yield* Effect.scope
    const watched = new Map<CircuitBreaker.CircuitBreaker, { readonly scope: Scope.CloseableScope; readonly queue: Queue.Dequeue<CircuitBreaker.Transition> }>()
    for (const breaker of breakersOf(router)) {
      const own = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      watched.set(breaker, { scope: own, queue: yield* Scope.extend(breaker.subscribe, own) })
    }
    const initial = yield* router.status
    const recorder = Metrics.recorder({ targets: initial, ...(options.labels === undefined ? {} : { labels: options.labels }) })
    const telemetry = yield* Telemetry.make(options.telemetry)
    const alert = options.alert === false ? undefined : yield* Alerts.fallbackRate(options.alert)
    const health = yield* HealthSnapshot.tracker(router, { ...options.health, alerts: alert === undefined ? [] : [alert] })
    const ledger = yield* CostReport.ledger({ ...options.cost, targets: initial })
    const prometheus = yield* Prometheus.make(options.prometheus)
    yield* recorder.breakers(initial)

    // counted in the emitting fiber; what a listener asks to run (log lines, alerts) runs in a fiber of ours
    const later = yield* Queue.unbounded<Effect.Effect<void>>()
    const deferring = (listener: Listener): Listener => (event) => {
      const follow = listener(event)
      if (follow !== undefined) later.unsafeOffer(follow)
    }
    // a swappable router (serve's config reload) brings targets and breakers of its own: label them, count their
    // transitions; a breaker no target has any more (replaced, or its target removed) is let go, its subscription
    // and consumer with it, so reload after reload holds no old breaker alive (nor does a gauge hear an old one)
    let seenTargets = router.targets
    const follow: Effect.Effect<void> = Effect.gen(function* () {
      yield* Effect.flatMap(router.status, recorder.breakers)
      const current = new Set(breakersOf(router))
      for (const [breaker, { scope: own }] of watched) {
        if (current.has(breaker)) continue
        watched.delete(breaker)
        consumers.delete(breaker)
        yield* Scope.close(own, Exit.void)
      }
      for (const breaker of current) {
        if (watched.has(breaker)) continue
        const own = yield* Scope.fork(scope, ExecutionStrategy.sequential)
        const queue = yield* Scope.extend(breaker.subscribe, own)
        watched.set(breaker, { scope: own, queue })
        consumers.set(breaker, yield* Scope.extend(forkQueue(queue, onTransition), own))
      }
    })
    const watching: Listener = () => {
      if (router.targets === seenTargets) return
      seenTargets = router.targets
      later.unsafeOffer(follow)
    }
    for (const listener of [watching, recorder.listener, health.listener, ledger.listener, alert?.listener, telemetry.listener]) {
      if (listener !== undefined) yield* router.listen(listener === watching ? listener : deferring(listener))
    }
    const runLater = (effect: Effect.Effect<void>) =>
      Effect.catchAllCause(effect, (cause) => Effect.logError("observability: an event could not be handled", cause))

    const transitions = yield* PubSub.sliding<CircuitBreaker.Transition>(1_024)
    const onTransition = (t: CircuitBreaker.Transition) =>
      Effect.zipRight(Effect.zipRight(recorder.transition(t), telemetry.transition(t)), PubSub.publish(transitions, t))

    const laterFiber = yield* forkQueue(later, runLater)
    const consumers = new Map<CircuitBreaker.CircuitBreaker, Fiber.RuntimeFiber<unknown, unknown>>()
    for (const [breaker, { scope: own, queue }] of watched) consumers.set(breaker, yield* Scope.extend(forkQueue(queue, onTransition), own))

    const refreshGauges = Effect.gen(function* () {
      yield* Effect.flatMap(router.status, recorder.breakers)
      if (alert !== undefined) {
        const window = yield* alert.window
        const active = yield* alert.active
        yield* recorder.alert(alert.name, Option.isSome(active), window.rate)
      }
    })

    const render = Effect.zipRight(refreshGauges, prometheus.render)
    const costReport = (reportOptions?: CostReport.ReportOptions) => ledger.report(reportOptions)

    return {
      render,
      snapshot: health.snapshot,
      recentFallbacks: health.recentFallbacks,
      alert: Option.fromNullable(alert),
      alerts: alert === undefined ? Stream.empty : alert.events,
      transitions: Stream.fromPubSub(transitions),
      costReport,
      handlers: {
        metrics: Prometheus.respond(render),
        status: StatusPage.handler(health.snapshot, options.statusPage),
        statusJson: StatusPage.jsonHandler(health.snapshot),
        usage: CostReport.handler(costReport)
      },
      flush: Effect.suspend(() => Effect.forEach([laterFiber, ...consumers.values()], awaitIdle, { discard: true }))
    } satisfies Service
  })

/**
 * A layer making the `Router` in context observable.
 *
 * @example
 * import { Effect, Layer } from "effect"
 * import { Observability } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * declare const config: Router.Config
 *
 * const live = Observability.layer({ labels: { router: "main" } }).pipe(Layer.provideMerge(Router.layer(config)))
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Observability, ObservabilityOptionsError, Router.Router> =>
  Layer.scoped(Observability, Effect.flatMap(Router.Router, (router) => attach(router, options)))

/**
 * The four handlers as an `HttpRouter` at {@link paths}, to mount or concat
 * into a server's router.
 *
 * @example
 * import { HttpRouter } from "@effect/platform"
 * import { Effect } from "effect"
 * import { Observability } from "effect-llm-failover/observability"
 *
 * declare const observability: Observability.Service
 * declare const api: HttpRouter.HttpRouter
 *
 * const app = HttpRouter.concat(api, Observability.httpRouter(observability))
 *
 * @since 0.1.0
 * @category handlers
 */
export const httpRouter = (service: Pick<Service, "handlers">): HttpRouter.HttpRouter =>
  HttpRouter.empty.pipe(
    HttpRouter.get(paths.metrics, service.handlers.metrics),
    HttpRouter.get(paths.status, service.handlers.status),
    HttpRouter.get(paths.statusJson, service.handlers.statusJson),
    HttpRouter.get(paths.usage, service.handlers.usage)
  )
