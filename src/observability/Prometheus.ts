/**
 * Prometheus text exposition (format 0.0.4) of Effect's metrics, through
 * OpenTelemetry: `@effect/opentelemetry` bridges Effect's metric registry
 * into a `MetricProducer`, OpenTelemetry's `PrometheusExporter` reads it as a
 * `MetricReader` (with its own HTTP server never started) and its
 * `PrometheusSerializer` writes the text. Mount {@link handler} (or an
 * {@link Exporter}'s) on `GET /metrics` of your own server.
 *
 * What the bridge does to names: a counter gets the `_total` suffix unless
 * it has it; histograms are cumulative with a `+Inf` bucket. Every metric of
 * the process-wide Effect registry is exposed, this library's `llm_*` ones
 * and any of the application's, save the breaker gauge's series of a target
 * a config reload removed (Effect's registry keeps every series it had).
 *
 * @since 0.1.0
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as OtelResource from "@effect/opentelemetry/Resource"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import type { MetricData, MetricProducer } from "@opentelemetry/sdk-metrics"
import { Effect } from "effect"
import type { Scope } from "effect"
import { globalValue } from "effect/GlobalValue"
import { prefixProblem } from "./internal/options.js"
import { hasRetired, isRetired } from "./internal/series.js"
import type { ObservabilityOptionsError } from "./OptionsError.js"

/**
 * The content type of the Prometheus text format.
 *
 * @example
 * import { Prometheus } from "effect-llm-failover/observability"
 *
 * const headers = { "content-type": Prometheus.contentType }
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * Options of {@link make}.
 *
 * @example
 * import { Prometheus } from "effect-llm-failover/observability"
 *
 * // `myapp_llm_requests_total`, and a `target_info` with `service_name="gateway"`
 * const options: Prometheus.Options = { prefix: "myapp", serviceName: "gateway" }
 * const exporter = Prometheus.make(options)
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Prepended to every metric name with an underscore, e.g. `"myapp"` gives
   * `myapp_llm_requests_total`: letters, digits, `_` and `:`, not starting
   * with a digit (else an `ObservabilityOptionsError`).
   */
  readonly prefix?: string
  /**
   * When set, a `target_info` gauge carries OpenTelemetry's resource
   * attributes (`service_name` and the SDK's). Default: no `target_info`.
   */
  readonly serviceName?: string
}

/**
 * A Prometheus view of the metrics: the text, and an HTTP handler serving it.
 *
 * @example
 * import { HttpRouter } from "@effect/platform"
 * import { Effect } from "effect"
 * import { Prometheus } from "effect-llm-failover/observability"
 *
 * const routes = Effect.gen(function* () {
 *   const exporter: Prometheus.Exporter = yield* Prometheus.make({ prefix: "myapp" })
 *   return HttpRouter.empty.pipe(HttpRouter.get("/metrics", exporter.handler))
 * })
 *
 * @since 0.1.0
 * @category models
 */
export interface Exporter {
  /** The current metrics as Prometheus text. */
  readonly render: Effect.Effect<string>
  /** `GET /metrics`: the text with the Prometheus content type. */
  readonly handler: HttpApp.Default
}

/**
 * What the Effect runtime's own metrics count: Effect gives them no
 * description, and Prometheus's text then reads "description missing".
 */
const runtimeDescriptions: Readonly<Record<string, string>> = {
  effect_fiber_started: "Fibers the Effect runtime started",
  effect_fiber_active: "Fibers of the Effect runtime running now",
  effect_fiber_successes: "Fibers of the Effect runtime that succeeded",
  effect_fiber_failures: "Fibers of the Effect runtime that failed",
  effect_fiber_lifetimes: "How long fibers of the Effect runtime lived, in milliseconds"
}

const described = (descriptor: MetricData["descriptor"]): MetricData["descriptor"] => {
  const description = descriptor.description === "" ? runtimeDescriptions[descriptor.name] : undefined
  return { ...descriptor, unit: "", ...(description === undefined ? {} : { description }) }
}

/** A metric without its retired series (a breaker's whose target a reload removed). */
const current = (metric: MetricData): MetricData => {
  const name = metric.descriptor.name
  if (!hasRetired(name)) return metric
  const dataPoints = (metric.dataPoints as ReadonlyArray<MetricData["dataPoints"][number]>).filter((point) => !isRetired(name, point.attributes))
  return { ...metric, dataPoints } as MetricData
}

/**
 * OpenTelemetry's serializer writes a `# UNIT` line (an OpenMetrics
 * addition, and `1` for every Effect metric); without a unit it writes none,
 * which keeps the output plain format 0.0.4. The runtime's metrics get
 * their descriptions on the way, and retired series are left out.
 */
const exported = (producer: MetricProducer): MetricProducer => ({
  collect: (options) =>
    producer.collect(options).then((result) => ({
      ...result,
      resourceMetrics: {
        ...result.resourceMetrics,
        scopeMetrics: result.resourceMetrics.scopeMetrics.map((scope) => ({
          ...scope,
          metrics: scope.metrics.map((metric) => ({ ...current(metric), descriptor: described(metric.descriptor) }) as MetricData)
        }))
      }
    }))
})

const resourceLayer = (options: Options) =>
  options.serviceName === undefined ? OtelResource.layerEmpty : OtelResource.layer({ serviceName: options.serviceName })

const newExporter = (options: Options) =>
  new PrometheusExporter({
    preventServerStart: true,
    withoutScopeInfo: true,
    withoutTargetInfo: options.serviceName === undefined,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix })
  })

const newSerializer = (options: Options) =>
  new PrometheusSerializer(options.prefix, false, undefined, options.serviceName === undefined, true)

const collect = (reader: PrometheusExporter, serializer: PrometheusSerializer): Effect.Effect<string> =>
  Effect.map(
    Effect.promise(() => reader.collect()),
    (result) => serializer.serialize(result.resourceMetrics)
  )

/**
 * Serves the text of `render` with the Prometheus content type, uncached.
 *
 * @example
 * import { HttpRouter } from "@effect/platform"
 * import { Prometheus } from "effect-llm-failover/observability"
 *
 * const routes = HttpRouter.empty.pipe(HttpRouter.get("/metrics", Prometheus.respond(Prometheus.render)))
 *
 * @since 0.1.0
 * @category handlers
 */
export const respond = (render: Effect.Effect<string>): HttpApp.Default =>
  Effect.map(render, (text) =>
    HttpServerResponse.text(text, { contentType, headers: { "cache-control": "no-store" } }))

/**
 * A Prometheus exporter of Effect's metric registry, with its own options;
 * released (the reader shut down) with the scope. A prefix the text format
 * cannot carry fails with an `ObservabilityOptionsError` at `prefix`.
 *
 * @example
 * import { Effect } from "effect"
 * import { Prometheus } from "effect-llm-failover/observability"
 *
 * const program = Effect.gen(function* () {
 *   const prometheus = yield* Prometheus.make({ prefix: "myapp", serviceName: "gateway" })
 *   const text = yield* prometheus.render
 *   console.log(text)
 * }).pipe(Effect.scoped)
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Exporter, ObservabilityOptionsError, Scope.Scope> =>
  Effect.gen(function* () {
    const problem = prefixProblem(options.prefix, "prefix")
    if (problem !== undefined) return yield* problem
    const reader = newExporter(options)
    const producer = yield* OtelMetrics.makeProducer
    yield* OtelMetrics.registerProducer(exported(producer), () => reader)
    const render = collect(reader, newSerializer(options))
    return { render, handler: respond(render) }
  }).pipe(Effect.provide(resourceLayer(options)))

/** The process-wide default exporter, made on first use (its reader has no server to release). */
const shared = globalValue(Symbol.for("effect-llm-failover/observability/Prometheus"), () => {
  let exporter: Exporter | undefined
  return (): Exporter => {
    if (exporter === undefined) {
      const reader = newExporter({})
      const producer = Effect.runSync(Effect.provide(OtelMetrics.makeProducer, OtelResource.layerEmpty))
      reader.setMetricProducer(exported(producer))
      const render = collect(reader, newSerializer({}))
      exporter = { render, handler: respond(render) }
    }
    return exporter
  }
})

/**
 * Every metric of Effect's registry as Prometheus text, with the default
 * options (no prefix, no `target_info`).
 *
 * @example
 * import { Effect, Metric } from "effect"
 * import { Prometheus } from "effect-llm-failover/observability"
 *
 * const program = Effect.gen(function* () {
 *   yield* Metric.increment(Metric.counter("jobs_total", { incremental: true }))
 *   const text = yield* Prometheus.render // "# HELP jobs_total ...\n# TYPE jobs_total counter\njobs_total 1\n..."
 * })
 *
 * @since 0.1.0
 * @category rendering
 */
export const render: Effect.Effect<string> = Effect.suspend(() => shared().render)

/**
 * `GET /metrics` over {@link render}.
 *
 * @example
 * import { HttpRouter } from "@effect/platform"
 * import { Prometheus } from "effect-llm-failover/observability"
 *
 * const routes = HttpRouter.empty.pipe(HttpRouter.get("/metrics", Prometheus.handler))
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler: HttpApp.Default = respond(render)
