/**
 * `serve`'s trace export (and metrics push) over OTLP/HTTP, set by OpenTelemetry's standard
 * environment variables, as every OpenTelemetry SDK reads them:
 *
 * - on when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the whole URL) or
 *   `OTEL_EXPORTER_OTLP_ENDPOINT` (a base, `/v1/traces` added) is set, or
 *   `OTEL_TRACES_EXPORTER=otlp` (then `http://localhost:4318`); off with
 *   `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true`;
 * - `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`: `http/protobuf` (the default) or
 *   `http/json`; `grpc` is refused, as Effect's exporter speaks HTTP only;
 * - `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`: `key=value,...`, values
 *   percent-decoded: a collector's credentials, kept `Redacted` and
 *   redacted in any header dump;
 * - `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT`: an export's time, in
 *   milliseconds (default 10,000); one that takes longer is given up, and
 *   the exporter sends nothing for a minute (it holds at most two exports
 *   at once, on two connections of its own);
 * - `OTEL_SERVICE_NAME` (default `llm-failover`), `OTEL_RESOURCE_ATTRIBUTES`;
 * - a client certificate or a CA file (`..._CERTIFICATE`, `..._CLIENT_KEY`,
 *   `..._CLIENT_CERTIFICATE`) is refused: Node takes a CA from
 *   `NODE_EXTRA_CA_CERTS`; `..._COMPRESSION` is read as none;
 * - `OTEL_TRACES_SAMPLER` (`parentbased_always_on`, the default,
 *   `parentbased_always_off`, `parentbased_traceidratio`, `always_on`,
 *   `always_off`, `traceidratio`) and `OTEL_TRACES_SAMPLER_ARG` (the ratio,
 *   0 to 1, default 1).
 *
 * A span not sampled is still made (Effect's code runs under a span) but
 * goes nowhere; its children follow it. An export that fails (a refused
 * connection, a 401, a timeout) is logged once a minute at most, as a
 * warning that never holds the URL or a header.
 *
 * Metrics (Effect's registry, the router's among them) are pushed too, by
 * `@effect/opentelemetry`'s `OtlpMetrics`, when asked for by name:
 *
 * - on when `OTEL_METRICS_EXPORTER` (a comma-separated list) names `otlp`,
 *   or, it unset, `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` is set; not by
 *   `OTEL_EXPORTER_OTLP_ENDPOINT` alone (the spec's default is `otlp`, but
 *   that endpoint is set for traces, and `/metrics` is served to be
 *   scraped: a push nobody asked for would count twice where both are
 *   collected); off with `none` or `OTEL_SDK_DISABLED=true`; `prometheus`
 *   names `/metrics`, always served;
 * - the endpoint, protocol, headers and timeout as the traces' (the
 *   `METRICS_` variables over the general ones; `/v1/metrics` after a base);
 * - `OTEL_METRIC_EXPORT_INTERVAL` (ms, default 60,000) and
 *   `OTEL_METRIC_EXPORT_TIMEOUT` (ms, default 30,000): an export, the last
 *   one at shutdown too, takes the shorter of it and the OTLP timeout, and
 *   is one request (not retried: the next carries the totals);
 * - `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`: `cumulative`, the
 *   exporter's one temporality; `delta` and `lowmemory` are refused, as is
 *   a `..._DEFAULT_HISTOGRAM_AGGREGATION` but `explicit_bucket_histogram`.
 *
 * @internal
 */
import * as OtlpMetrics from "@effect/opentelemetry/OtlpMetrics"
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Clock, Config, ConfigProvider, Context, Duration, Effect, Either, Layer, Option, Redacted, Tracer } from "effect"
import { Agent } from "undici"
import * as Series from "../../observability/internal/series.js"
import * as UndiciHttpClient from "../../providers/UndiciHttpClient.js"

/** How spans are chosen for export. @internal */
export interface Sampler {
  /** OpenTelemetry's name of it (`parentbased_traceidratio`, ...), for the banner. */
  readonly name?: string
  /** A root span's (one with no parent) chance of being exported, 0 to 1, by its trace id. */
  readonly ratio: number
  /** Whether a span with a parent follows its parent's choice (a remote one's too); else its trace id decides by the ratio. */
  readonly parentBased: boolean
}

/** Where an exporter posts, and the resource it names: what the spans' and the metrics' settings share. @internal */
export interface Exporting {
  /** The URL exports are posted to. */
  readonly url: string
  readonly protocol: "http/protobuf" | "http/json"
  /** The collector's headers: credentials, often. */
  readonly headers: Redacted.Redacted<Readonly<Record<string, string>>>
  /** OTEL_SERVICE_NAME, else the resource attributes' `service.name`, else `llm-failover`. */
  readonly serviceName: string
  /** The resource's other attributes (`OTEL_RESOURCE_ATTRIBUTES`, decoded). */
  readonly resourceAttributes?: Readonly<Record<string, string>>
}

/** Where and how `serve` exports its spans. @internal */
export interface Settings extends Exporting {
  readonly sampler: Sampler
  /** How long one export may take. Default 10 seconds. */
  readonly timeout?: Duration.Duration
}

/** Where and how `serve` pushes its metrics (its resource read from the same variables as the spans'). @internal */
export interface MetricsSettings extends Exporting {
  /** Time between two exports (`OTEL_METRIC_EXPORT_INTERVAL`). Default 60 seconds. */
  readonly interval: Duration.Duration
  /**
   * How long one export may take, the last one's at shutdown too: the shorter of
   * `OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT` (default 10 s) and `OTEL_METRIC_EXPORT_TIMEOUT` (default 30 s).
   */
  readonly timeout: Duration.Duration
}

const defaultEndpoint = "http://localhost:4318"

const optional = (name: string) => Config.option(Config.string(name))

/** One signal's own variables (`OTEL_EXPORTER_OTLP_TRACES_...`), or the general ones (`OTEL_EXPORTER_OTLP_...`). */
const exportVariables = (signal?: "TRACES" | "METRICS") => {
  const prefix = signal === undefined ? "OTEL_EXPORTER_OTLP_" : `OTEL_EXPORTER_OTLP_${signal}_`
  return Config.all({
    endpoint: optional(`${prefix}ENDPOINT`),
    protocol: optional(`${prefix}PROTOCOL`),
    headers: Config.option(Config.redacted(`${prefix}HEADERS`)),
    timeout: optional(`${prefix}TIMEOUT`),
    files: Config.all(
      ["CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE"].map((what) => Config.map(optional(`${prefix}${what}`), (value) => [`${prefix}${what}`, value] as const))
    )
  })
}

const raw = Config.all({
  disabled: optional("OTEL_SDK_DISABLED"),
  general: exportVariables(),
  traces: exportVariables("TRACES"),
  metrics: exportVariables("METRICS"),
  serviceName: optional("OTEL_SERVICE_NAME"),
  resourceAttributes: optional("OTEL_RESOURCE_ATTRIBUTES"),
  tracesExporter: optional("OTEL_TRACES_EXPORTER"),
  sampler: optional("OTEL_TRACES_SAMPLER"),
  samplerArg: optional("OTEL_TRACES_SAMPLER_ARG"),
  metricsExporter: optional("OTEL_METRICS_EXPORTER"),
  interval: optional("OTEL_METRIC_EXPORT_INTERVAL"),
  exportTimeout: optional("OTEL_METRIC_EXPORT_TIMEOUT"),
  temporality: optional("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"),
  histogram: optional("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION")
})

type Raw = Config.Config.Success<typeof raw>

const present = (value: Option.Option<string>): string | undefined =>
  Option.isSome(value) && value.value.trim() !== "" ? value.value.trim() : undefined

/** An http(s) URL, or a problem. */
const httpUrl = (name: string, value: string): Either.Either<string, string> => {
  try {
    const url = new URL(value)
    return url.protocol === "http:" || url.protocol === "https:"
      ? Either.right(value)
      : Either.left(`${name}: an http:// or https:// URL, not ${url.protocol}`)
  } catch {
    return Either.left(`${name}: not a URL`)
  }
}

/** A base endpoint with a signal's path: `http://c:4318` and `http://c:4318/` both give `http://c:4318/v1/traces`. */
const withPath = (base: string, path: string): string => `${base.replace(/\/+$/, "")}${path}`

/** The headers the HTTP client sets from the request itself: one given would fail every export. */
const clientSet = new Set(["host", "content-length", "transfer-encoding", "connection", "content-type"])

/** `k=v,k2=v2` with percent-encoded values, as the spec writes them; a problem never shows a value. */
const parseHeaders = (name: string, text: string): Either.Either<Record<string, string>, ReadonlyArray<string>> => {
  const headers: Record<string, string> = {}
  const problems: Array<string> = []
  text.split(",").forEach((entry, index) => {
    if (entry.trim() === "") return
    const at = entry.indexOf("=")
    const key = at < 0 ? "" : entry.slice(0, at).trim().toLowerCase()
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(key)) {
      problems.push(`${name}: entry ${index + 1} is not key=value with a header name for its key`)
      return
    }
    if (clientSet.has(key)) {
      problems.push(`${name}: ${key} is set by the HTTP client, not by a header of the collector's`)
      return
    }
    try {
      const value = decodeURIComponent(entry.slice(at + 1).trim())
      if (/[\r\n\0]/.test(value)) problems.push(`${name}: the value of ${key} holds a line break or NUL`)
      else headers[key] = value
    } catch {
      problems.push(`${name}: the value of ${key} is not valid percent-encoding`)
    }
  })
  return problems.length === 0 ? Either.right(headers) : Either.left(problems)
}

/** A whole number of milliseconds above 0 from `name`'s text, else `fallback`; a problem otherwise. */
const millis = (name: string, text: string | undefined, fallback: number, problems: Array<string>): number => {
  const value = text === undefined ? fallback : Number(text)
  if (Number.isInteger(value) && value > 0) return value
  problems.push(`${name}: a whole number of milliseconds above 0, not ${JSON.stringify(text)}`)
  return fallback
}

/** Where one signal goes and how: the same variables for traces and metrics, each signal's own over the general ones. */
interface Destination {
  readonly url: Either.Either<string, string>
  readonly protocol: "http/protobuf" | "http/json"
  readonly headers: Record<string, string>
  readonly timeoutMillis: number
}

/** A signal's settings shared by both (see `Exporting`), from its parsed destination (its URL valid) and resource. */
const exporting = (to: Destination, resource: Pick<Exporting, "serviceName" | "resourceAttributes">): Exporting => ({
  url: Either.getOrThrow(to.url),
  protocol: to.protocol,
  headers: Redacted.make(to.headers),
  ...resource
})

const destination = (env: Raw, signal: "traces" | "metrics", problems: Array<string>): Destination => {
  const own = env[signal]
  const SIGNAL = signal.toUpperCase()
  const ownName = (what: string) => `OTEL_EXPORTER_OTLP_${SIGNAL}_${what}`
  const nameOf = (what: string, value: Option.Option<string>) => present(value) === undefined ? `OTEL_EXPORTER_OTLP_${what}` : ownName(what)

  const ownEndpoint = present(own.endpoint)
  const url = ownEndpoint !== undefined
    ? httpUrl(ownName("ENDPOINT"), ownEndpoint)
    : Either.map(httpUrl("OTEL_EXPORTER_OTLP_ENDPOINT", present(env.general.endpoint) ?? defaultEndpoint), (base) => withPath(base, `/v1/${signal}`))
  if (Either.isLeft(url)) problems.push(url.left)

  const protocolName = nameOf("PROTOCOL", own.protocol)
  const protocol = present(own.protocol) ?? present(env.general.protocol) ?? "http/protobuf"
  if (protocol !== "http/protobuf" && protocol !== "http/json") {
    problems.push(
      protocol === "grpc"
        ? `${protocolName}: grpc is not supported; use http/protobuf (port 4318 on a collector) or http/json`
        : `${protocolName}: http/protobuf or http/json, not ${JSON.stringify(protocol)}`
    )
  }

  const headers: Record<string, string> = {}
  for (const [name, value] of [["OTEL_EXPORTER_OTLP_HEADERS", env.general.headers], [ownName("HEADERS"), own.headers]] as const) {
    if (Option.isNone(value)) continue
    // the signal's own headers come second, over the general ones of the same name
    Either.match(parseHeaders(name, Redacted.value(value.value)), { onLeft: (found) => problems.push(...found), onRight: (parsed) => Object.assign(headers, parsed) })
  }

  const timeoutMillis = millis(nameOf("TIMEOUT", own.timeout), present(own.timeout) ?? present(env.general.timeout), 10_000, problems)
  for (const [name, value] of [...env.general.files, ...own.files]) {
    if (present(value) !== undefined) problems.push(`${name}: not supported; give a CA with NODE_EXTRA_CA_CERTS (client certificates are not sent)`)
  }
  return { url, protocol: protocol as Destination["protocol"], headers, timeoutMillis }
}

const samplers: Readonly<Record<string, (ratio: number) => Omit<Sampler, "name">>> = {
  always_on: () => ({ ratio: 1, parentBased: false }),
  always_off: () => ({ ratio: 0, parentBased: false }),
  traceidratio: (ratio) => ({ ratio, parentBased: false }),
  parentbased_always_on: () => ({ ratio: 1, parentBased: true }),
  parentbased_always_off: () => ({ ratio: 0, parentBased: true }),
  parentbased_traceidratio: (ratio) => ({ ratio, parentBased: true })
}

/**
 * `OTEL_RESOURCE_ATTRIBUTES` (`k=v,...`, values percent-encoded), decoded;
 * an entry without `=` is passed over, as the spec's readers do, and a
 * `service.name` that is empty or not valid percent-encoding is a problem.
 */
const resourceAttributes = (text: string): Either.Either<Record<string, string>, string> => {
  const attributes: Record<string, string> = {}
  for (const entry of text.split(",")) {
    const at = entry.indexOf("=")
    const key = at < 0 ? "" : entry.slice(0, at).trim()
    if (key === "") continue
    let value: string
    try {
      value = decodeURIComponent(entry.slice(at + 1).trim())
    } catch {
      if (key === "service.name") return Either.left("OTEL_RESOURCE_ATTRIBUTES: the value of service.name is not valid percent-encoding")
      continue
    }
    if (key === "service.name" && value === "") return Either.left("OTEL_RESOURCE_ATTRIBUTES: service.name is empty")
    attributes[key] = value
  }
  return Either.right(attributes)
}

/** The service's name and the resource's other attributes: OTEL_SERVICE_NAME over a service.name among the attributes, over ours. */
const resourceOf = (env: Raw, problems: Array<string>) => {
  const resource = resourceAttributes(present(env.resourceAttributes) ?? "")
  if (Either.isLeft(resource) && present(env.serviceName) === undefined) problems.push(resource.left)
  const { "service.name": resourceName, ...attributes } = Either.getOrElse(resource, () => ({}) as Record<string, string>)
  return { serviceName: present(env.serviceName) ?? resourceName ?? "llm-failover", resourceAttributes: attributes }
}

/** The variables as read, or none when they cannot be (a provider that fails: nothing is asked then). */
const environment = Effect.orElseSucceed(raw, () => undefined)

const disabled = (env: Raw) => present(env.disabled)?.toLowerCase() === "true"

const traces = (env: Raw): Either.Either<Option.Option<Settings>, ReadonlyArray<string>> => {
  const exporter = present(env.tracesExporter)?.toLowerCase()
  const endpoint = present(env.traces.endpoint) ?? present(env.general.endpoint)
  if (disabled(env) || exporter === "none") return Either.right(Option.none())
  if (endpoint === undefined && exporter !== "otlp") return Either.right(Option.none())

  const problems: Array<string> = []
  if (exporter !== undefined && exporter !== "otlp") {
    problems.push(`OTEL_TRACES_EXPORTER: serve exports spans over OTLP only (otlp or none), not ${JSON.stringify(exporter)}`)
  }
  const to = destination(env, "traces", problems)
  const resource = resourceOf(env, problems)
  const samplerName = present(env.sampler)?.toLowerCase() ?? "parentbased_always_on"
  const makeSampler = samplers[samplerName]
  if (makeSampler === undefined) problems.push(`OTEL_TRACES_SAMPLER: one of ${Object.keys(samplers).join(", ")}, not ${JSON.stringify(samplerName)}`)
  const arg = present(env.samplerArg)
  const ratio = arg === undefined ? 1 : Number(arg)
  if (!(ratio >= 0 && ratio <= 1)) problems.push(`OTEL_TRACES_SAMPLER_ARG: a ratio from 0 to 1, not ${JSON.stringify(arg)}`)

  if (problems.length > 0) return Either.left(problems)
  return Either.right(Option.some({
    ...exporting(to, resource),
    sampler: { name: samplerName, ...makeSampler!(ratio) },
    timeout: Duration.millis(to.timeoutMillis)
  }))
}

/** What `OTEL_METRICS_EXPORTER` may name: `prometheus` is `/metrics`, served whatever it says. */
const metricsExporters = new Set(["otlp", "prometheus", "none"])

const metrics = (env: Raw): Either.Either<Option.Option<MetricsSettings>, ReadonlyArray<string>> => {
  const text = present(env.metricsExporter)?.toLowerCase()
  const named = text === undefined ? undefined : text.split(",").map((name) => name.trim()).filter((name) => name !== "")
  // a push only when asked for it by name, or by an endpoint of metrics' own: the general endpoint alone (set for
  // traces, often) does not start one, as serve's /metrics is there to be scraped
  const asked = named === undefined ? present(env.metrics.endpoint) !== undefined : named.includes("otlp") && !named.includes("none")
  if (disabled(env)) return Either.right(Option.none())
  // a name not known is reported whether or not a push was asked for: a misspelt `otlp` would silently push nothing
  const unknown = (named ?? []).filter((name) => !metricsExporters.has(name)).map((name) =>
    `OTEL_METRICS_EXPORTER: serve pushes metrics over OTLP only (otlp; prometheus is its /metrics, always served; none), not ${JSON.stringify(name)}`
  )
  if (!asked) return unknown.length > 0 ? Either.left(unknown) : Either.right(Option.none())

  const problems: Array<string> = [...unknown]
  const to = destination(env, "metrics", problems)
  const resource = resourceOf(env, problems)
  const interval = millis("OTEL_METRIC_EXPORT_INTERVAL", present(env.interval), 60_000, problems)
  const exportTimeout = millis("OTEL_METRIC_EXPORT_TIMEOUT", present(env.exportTimeout), 30_000, problems)
  const temporality = present(env.temporality)?.toLowerCase() ?? "cumulative"
  if (temporality !== "cumulative") {
    problems.push(
      temporality === "delta" || temporality === "lowmemory"
        ? `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: ${temporality} is not supported; serve pushes cumulative metrics only (the exporter's one temporality)`
        : `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: cumulative (delta and lowmemory are not supported), not ${JSON.stringify(temporality)}`
    )
  }

  const histogram = present(env.histogram)?.toLowerCase() ?? "explicit_bucket_histogram"
  if (histogram !== "explicit_bucket_histogram") {
    problems.push(
      `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION: explicit_bucket_histogram only (the router's latency buckets), not ${JSON.stringify(histogram)}`
    )
  }

  if (problems.length > 0) return Either.left(problems)
  return Either.right(Option.some({
    ...exporting(to, resource),
    interval: Duration.millis(interval),
    timeout: Duration.millis(Math.min(to.timeoutMillis, exportTimeout))
  }))
}

/**
 * `serve`'s trace export settings from the environment (through Effect's
 * `ConfigProvider`): `None` when no trace export is asked for, or every
 * problem of the variables at once.
 *
 * @internal
 */
export const settings: Effect.Effect<Option.Option<Settings>, ReadonlyArray<string>> = Effect.flatMap(
  environment,
  (env) => (env === undefined ? Effect.succeed(Option.none()) : traces(env))
)

/**
 * `serve`'s metrics push settings from the environment: `None` unless
 * `OTEL_METRICS_EXPORTER` names `otlp`, or (that unset)
 * `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` is set; or every problem at once.
 *
 * @internal
 */
export const metricsSettings: Effect.Effect<Option.Option<MetricsSettings>, ReadonlyArray<string>> = Effect.flatMap(
  environment,
  (env) => (env === undefined ? Effect.succeed(Option.none()) : metrics(env))
)

/**
 * Both exports' settings, or every problem of either at once (one shared
 * by both, a general header's, said once).
 *
 * @internal
 */
export const allSettings: Effect.Effect<
  { readonly traces: Option.Option<Settings>; readonly metrics: Option.Option<MetricsSettings> },
  ReadonlyArray<string>
> = Effect.flatMap(environment, (env) => {
  if (env === undefined) return Effect.succeed({ traces: Option.none(), metrics: Option.none() })
  const [t, m] = [traces(env), metrics(env)]
  if (Either.isRight(t) && Either.isRight(m)) return Effect.succeed({ traces: t.right, metrics: m.right })
  return Effect.fail([...new Set([...(Either.isLeft(t) ? t.left : []), ...(Either.isLeft(m) ? m.left : [])])])
})

const hex = (length: number): string => {
  let id = ""
  for (let i = 0; i < length; i++) id += "0123456789abcdef"[Math.floor(Math.random() * 16)]
  return id
}

/** The trace id's last 14 hex digits (56 bits, random in every id) as a number in [0, 1). */
const traceFraction = (traceId: string): number => {
  const low = Number.parseInt(traceId.slice(-14), 16)
  return Number.isFinite(low) ? low / 2 ** 56 : 1
}

/** A span that goes nowhere: made, annotated and ended as any, exported by nobody. */
const unsampled = (
  name: string,
  parent: Option.Option<Tracer.AnySpan>,
  context: Context.Context<never>,
  links: ReadonlyArray<Tracer.SpanLink>,
  startTime: bigint,
  kind: Tracer.SpanKind,
  traceId: string = Option.isSome(parent) ? parent.value.traceId : hex(32)
): Tracer.Span => {
  const attributes = new Map<string, unknown>()
  const linked = [...links]
  const span: { -readonly [K in keyof Tracer.Span]: Tracer.Span[K] } = {
    _tag: "Span",
    name,
    spanId: hex(16),
    traceId,
    parent,
    context,
    status: { _tag: "Started", startTime },
    attributes,
    links: linked,
    sampled: false,
    kind,
    end: (endTime, exit) => {
      span.status = { _tag: "Ended", startTime, endTime, exit }
    },
    attribute: (key, value) => {
      attributes.set(key, value)
    },
    event: () => {},
    addLinks: (more) => {
      linked.push(...more)
    }
  }
  return span
}

/**
 * `tracer` with a sampler before it: a span chosen is `tracer`'s, one not
 * is made here and exported by nobody. A root span is chosen by its trace
 * id against the ratio, as OpenTelemetry's `TraceIdRatioBased` sampler
 * does; a child of a span of this process follows it; a child of a remote
 * span (a client's `traceparent`) follows the client's choice when
 * parent-based, else its trace id decides.
 *
 * @internal
 */
export const sampling = (tracer: Tracer.Tracer, sampler: Sampler): Tracer.Tracer => {
  const byTraceId = (traceId: string) => sampler.ratio >= 1 || (sampler.ratio > 0 && traceFraction(traceId) < sampler.ratio)
  return Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      if (Option.isNone(parent)) {
        // a root span: its trace id decides, as a service downstream on the same ratio decides it (the span
        // made and dropped unended when not chosen: only an ended span is exported)
        const root = tracer.span(name, parent, context, links, startTime, kind, options)
        return byTraceId(root.traceId) ? root : unsampled(name, parent, context, links, startTime, kind, root.traceId)
      }
      const span = parent.value
      const chosen = span._tag === "Span" || sampler.parentBased ? span.sampled : byTraceId(span.traceId)
      return chosen ? tracer.span(name, parent, context, links, startTime, kind, options) : unsampled(name, parent, context, links, startTime, kind)
    },
    context: (f, fiber) => tracer.context(f, fiber)
  })
}

/** Where an exporter of `@effect/opentelemetry` posts, and the resource it names, from either signal's settings. */
const exporterTarget = (settings: Exporting, serviceVersion: string | undefined) => ({
  url: settings.url,
  headers: Redacted.value(settings.headers),
  resource: {
    serviceName: settings.serviceName,
    ...(serviceVersion === undefined ? {} : { serviceVersion }),
    attributes: { ...settings.resourceAttributes }
  }
})

/**
 * The tracer `settings` describe, exporting through an undici client of its
 * own, for the life of the layer; its last spans are sent as it closes.
 *
 * @internal
 */
export const layer = (settings: Settings, serviceVersion?: string): Layer.Layer<never> => {
  const exporting = Effect.map(
    OtlpTracer.make(exporterTarget(settings, serviceVersion)).pipe(
      // the resource read here (decoded, its service.name one): Effect's own reader of the variables would add
      // theirs raw, before ours
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
    ),
    (tracer) => Layer.setTracer(settings.sampler.ratio >= 1 && !settings.sampler.parentBased ? tracer : sampling(tracer, settings.sampler))
  )
  // the client lives as long as the tracer (built before it, closed after its last export)
  return Layer.unwrapScoped(exporting).pipe(
    Layer.provide(settings.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(exportClient(settings.timeout ?? Duration.seconds(10), "traces"))
  )
}

/** An OTLP data point's attributes, as Effect's exporter writes a metric's labels. */
interface Point {
  readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: { readonly stringValue?: string } }>
}

/** An OTLP metric as Effect's exporter writes it: one of these holds its points. */
interface OtlpMetric {
  readonly name: string
  readonly unit?: string
  readonly gauge?: { readonly dataPoints: ReadonlyArray<Point> }
  readonly sum?: { readonly dataPoints: ReadonlyArray<Point> }
  readonly histogram?: { readonly dataPoints: ReadonlyArray<Point> }
}

interface MetricsData {
  readonly resourceMetrics: ReadonlyArray<{ readonly scopeMetrics: ReadonlyArray<{ readonly metrics: ReadonlyArray<OtlpMetric> }> }>
}

const attributesOf = (point: Point): Record<string, unknown> =>
  Object.fromEntries((point.attributes ?? []).map((attribute) => [attribute.key, attribute.value.stringValue]))

/** `metric`'s points but its retired series' (a breaker's whose target a reload removed, as on /metrics). */
const withoutRetired = <P extends { readonly dataPoints: ReadonlyArray<Point> }>(name: string, points: P | undefined): P | undefined =>
  points === undefined ? undefined : { ...points, dataPoints: points.dataPoints.filter((point) => !Series.isRetired(name, attributesOf(point))) }

/**
 * What the metrics exporter sends, as `/metrics` shows it: no retired series, and
 * no unit where Effect's exporter gives every metric `1` (it knows none; a
 * collector's Prometheus exporter would name a gauge of unit `1`
 * `..._ratio`, unlike `/metrics`); a metric left with no points is left out.
 *
 * @internal
 */
export const current = (data: MetricsData): MetricsData => ({
  ...data,
  resourceMetrics: data.resourceMetrics.map((resource) => ({
    ...resource,
    scopeMetrics: resource.scopeMetrics.map((scope) => ({
      ...scope,
      metrics: scope.metrics.flatMap((metric): ReadonlyArray<OtlpMetric> => {
        const unit = metric.unit === "1" ? { unit: "" } : {}
        if (!Series.hasRetired(metric.name)) return [{ ...metric, ...unit }]
        const kept: OtlpMetric = {
          ...metric,
          ...unit,
          ...(metric.gauge === undefined ? {} : { gauge: withoutRetired(metric.name, metric.gauge)! }),
          ...(metric.sum === undefined ? {} : { sum: withoutRetired(metric.name, metric.sum)! }),
          ...(metric.histogram === undefined ? {} : { histogram: withoutRetired(metric.name, metric.histogram)! })
        }
        const points = (kept.gauge ?? kept.sum ?? kept.histogram)?.dataPoints.length ?? 0
        return points === 0 ? [] : [kept]
      })
    }))
  }))
})

/** The protocol's serialization, its metrics {@link current} first. */
const metricsSerialization = (protocol: MetricsSettings["protocol"]): Layer.Layer<OtlpSerialization.OtlpSerialization> =>
  Layer.effect(
    OtlpSerialization.OtlpSerialization,
    Effect.map(OtlpSerialization.OtlpSerialization, (base) => ({ ...base, metrics: (data: unknown) => base.metrics(current(data as MetricsData)) }))
  ).pipe(Layer.provide(protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf))

/**
 * The push of every metric of Effect's registry (the router's among them)
 * `settings` describe, cumulative, every `interval`, through an undici
 * client of its own, for the life of the layer: one export at a time (one
 * snapshot, no queue), each one request given up after `timeout` and not
 * retried (the next carries the totals); after a failure, none for a
 * minute; a last one as the layer closes, within `timeout`.
 *
 * @internal
 */
export const metricsLayer = (settings: MetricsSettings, serviceVersion?: string): Layer.Layer<never> =>
  Layer.scopedDiscard(
    OtlpMetrics.make({
      ...exporterTarget(settings, serviceVersion),
      exportInterval: settings.interval,
      shutdownTimeout: settings.timeout
    }).pipe(
      // the resource read here, as the traces' is
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
    )
  ).pipe(
    Layer.provide(metricsSerialization(settings.protocol)),
    Layer.provide(exportClient(settings.timeout, "metrics"))
  )

/** How often a failing export is logged at most. */
const warnEvery = 60_000

/**
 * An exporter's HTTP client: connections of its own (spans: two, a third
 * export waits for one; metrics: one, as one export runs at a time), each
 * export given up after `timeout`, as an error the exporter does not retry
 * (it then sends nothing for a minute), and so a 429 (whose Retry-After it
 * would sleep, holding its batch). The spans' exporter retries a transport
 * failure or a 5xx three times, a second apart; the metrics' none, so an
 * export is one request: the next one carries the totals. A failure is
 * logged once a minute at most, by its status or kind, never its URL.
 */
const exportClient = (timeout: Duration.Duration, signal: "traces" | "metrics"): Layer.Layer<HttpClient.HttpClient> =>
  Layer.scoped(
    HttpClient.HttpClient,
    Effect.gen(function* () {
      const agent = yield* Effect.acquireRelease(
        Effect.sync(() => new Agent({ connections: signal === "metrics" ? 1 : 2, headersTimeout: 0, bodyTimeout: 0 })),
        (agent) => Effect.promise(() => agent.destroy())
      )
      const dropped = signal === "metrics"
        ? "the next push is in a minute (its totals cumulative: nothing counted is lost)"
        : "spans are dropped until one succeeds"
      let warned = -Infinity
      const warn = (why: string) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (now - warned < warnEvery) return Effect.void
          warned = now
          return Effect.logWarning(`${signal}: an export to the OTLP collector failed (${why}); ${dropped}`)
        })
      // an error the exporter does not retry: a transport failure it retries three times, a second apart
      const final = (request: HttpClientRequest.HttpClientRequest, description: string) =>
        new HttpClientError.RequestError({ request, reason: "Encode", description })
      const ok = (status: number) => status >= 200 && status < 300
      return UndiciHttpClient.make(agent).pipe(
        HttpClient.transform((response, request) =>
          response.pipe(
            // the answer's body read within the same timeout (the exporters never read it): a body left unread, or
            // stalled, holds its connection, and the next exports would wait behind it (interrupted, the read
            // destroys it)
            Effect.tap((answer) => Effect.ignore(answer.arrayBuffer)),
            Effect.timeoutFail({ duration: timeout, onTimeout: () => final(request, `no answer within ${Duration.format(timeout)}`) }),
            Effect.tap((answer) => (ok(answer.status) ? Effect.void : warn(`HTTP ${answer.status}`))),
            // a 429's Retry-After would be slept holding the batch; metrics retry nothing
            Effect.filterOrFail(
              (answer) => (signal === "metrics" ? ok(answer.status) : answer.status !== 429),
              (answer) => final(request, `HTTP ${answer.status}`)
            ),
            Effect.tapError((error) =>
              // a transport error's description may name the collector's address: its kind only
              error._tag === "ResponseError" || error.description?.startsWith("HTTP ") === true
                ? Effect.void
                : warn(error.reason === "Encode" ? error.description ?? "failed" : `${error.reason} error`)
            ),
            Effect.mapError((error) =>
              signal === "traces" || (error._tag === "RequestError" && error.reason === "Encode") ? error : final(request, `${error.reason} error`)
            )
          )
        )
      )
    })
  )

/** The collector's header names, to redact in any header dump (a client error's request, say). @internal */
export const headerNames = (settings: Settings | MetricsSettings): ReadonlyArray<string> => Object.keys(Redacted.value(settings.headers))

/** Where spans go, for the banner: the URL without credentials or query. @internal */
export const describe = (settings: Settings): string => {
  const url = new URL(settings.url)
  const { name, ratio } = settings.sampler
  const sampler = name === undefined || name === "parentbased_always_on" || name === "always_on"
    ? ""
    : `, sampler ${name}${name.endsWith("traceidratio") ? ` ${Number(ratio.toPrecision(6))}` : ""}`
  return `${url.origin}${url.pathname} (OTLP ${settings.protocol}${sampler})`
}

/** Where metrics go, for the banner: the URL without credentials or query, and how often. @internal */
export const describeMetrics = (settings: MetricsSettings): string => {
  const url = new URL(settings.url)
  const millis = Duration.toMillis(settings.interval)
  const every = millis % 1000 === 0 ? `${millis / 1000} s` : `${millis} ms`
  return `${url.origin}${url.pathname} (OTLP ${settings.protocol}, every ${every})`
}
