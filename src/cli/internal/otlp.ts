/**
 * `serve`'s trace export over OTLP/HTTP, set by OpenTelemetry's standard
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
 * - `OTEL_SERVICE_NAME` (default `llm-failover`), `OTEL_RESOURCE_ATTRIBUTES`;
 * - `OTEL_TRACES_SAMPLER` (`parentbased_always_on`, the default,
 *   `parentbased_always_off`, `parentbased_traceidratio`, `always_on`,
 *   `always_off`, `traceidratio`) and `OTEL_TRACES_SAMPLER_ARG` (the ratio,
 *   0 to 1, default 1).
 *
 * A span not sampled is still made (Effect's code runs under a span) but
 * goes nowhere; its children follow it.
 *
 * @internal
 */
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import { Config, Context, Effect, Either, Layer, Option, Redacted, Tracer } from "effect"
import * as UndiciHttpClient from "../../providers/UndiciHttpClient.js"

/** How spans are chosen for export. @internal */
export interface Sampler {
  /** A root span's (one with no parent) chance of being exported, 0 to 1. */
  readonly ratio: number
  /** Whether a span with a parent follows its parent's choice (a remote one's too); else its trace id decides by the ratio. */
  readonly parentBased: boolean
}

/** Where and how `serve` exports its spans. @internal */
export interface Settings {
  /** The URL spans are posted to. */
  readonly url: string
  readonly protocol: "http/protobuf" | "http/json"
  /** The collector's headers: credentials, often. */
  readonly headers: Redacted.Redacted<Readonly<Record<string, string>>>
  /** `undefined`: the `service.name` of `OTEL_RESOURCE_ATTRIBUTES`. */
  readonly serviceName: string | undefined
  readonly sampler: Sampler
}

const defaultEndpoint = "http://localhost:4318"

const optional = (name: string) => Config.option(Config.string(name))

const raw = Config.all({
  disabled: optional("OTEL_SDK_DISABLED"),
  exporter: optional("OTEL_TRACES_EXPORTER"),
  endpoint: optional("OTEL_EXPORTER_OTLP_ENDPOINT"),
  tracesEndpoint: optional("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  protocol: optional("OTEL_EXPORTER_OTLP_PROTOCOL"),
  tracesProtocol: optional("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
  headers: Config.option(Config.redacted("OTEL_EXPORTER_OTLP_HEADERS")),
  tracesHeaders: Config.option(Config.redacted("OTEL_EXPORTER_OTLP_TRACES_HEADERS")),
  serviceName: optional("OTEL_SERVICE_NAME"),
  resourceAttributes: optional("OTEL_RESOURCE_ATTRIBUTES"),
  sampler: optional("OTEL_TRACES_SAMPLER"),
  samplerArg: optional("OTEL_TRACES_SAMPLER_ARG")
})

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

/** A base endpoint with the traces path: `http://c:4318` and `http://c:4318/` both give `http://c:4318/v1/traces`. */
const withTracesPath = (base: string): string => `${base.replace(/\/+$/, "")}/v1/traces`

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

const samplers: Readonly<Record<string, (ratio: number) => Sampler>> = {
  always_on: () => ({ ratio: 1, parentBased: false }),
  always_off: () => ({ ratio: 0, parentBased: false }),
  traceidratio: (ratio) => ({ ratio, parentBased: false }),
  parentbased_always_on: () => ({ ratio: 1, parentBased: true }),
  parentbased_always_off: () => ({ ratio: 0, parentBased: true }),
  parentbased_traceidratio: (ratio) => ({ ratio, parentBased: true })
}

/**
 * `serve`'s export settings from the environment (through Effect's
 * `ConfigProvider`): `None` when no trace export is asked for, or every
 * problem of the variables at once.
 *
 * @internal
 */
export const settings: Effect.Effect<Option.Option<Settings>, ReadonlyArray<string>> = Effect.gen(function* () {
  const env = yield* Effect.orElseSucceed(raw, () => undefined)
  if (env === undefined) return Option.none()
  const exporter = present(env.exporter)?.toLowerCase()
  const endpoint = present(env.tracesEndpoint) ?? present(env.endpoint)
  if (present(env.disabled)?.toLowerCase() === "true" || exporter === "none") return Option.none()
  if (endpoint === undefined && exporter !== "otlp") return Option.none()

  const problems: Array<string> = []
  if (exporter !== undefined && exporter !== "otlp") {
    problems.push(`OTEL_TRACES_EXPORTER: serve exports spans over OTLP only (otlp or none), not ${JSON.stringify(exporter)}`)
  }
  const tracesEndpoint = present(env.tracesEndpoint)
  const url = tracesEndpoint !== undefined
    ? httpUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", tracesEndpoint)
    : Either.map(httpUrl("OTEL_EXPORTER_OTLP_ENDPOINT", present(env.endpoint) ?? defaultEndpoint), withTracesPath)
  if (Either.isLeft(url)) problems.push(url.left)

  const protocolName = present(env.tracesProtocol) === undefined ? "OTEL_EXPORTER_OTLP_PROTOCOL" : "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
  const protocol = present(env.tracesProtocol) ?? present(env.protocol) ?? "http/protobuf"
  if (protocol !== "http/protobuf" && protocol !== "http/json") {
    problems.push(
      protocol === "grpc"
        ? `${protocolName}: grpc is not supported; use http/protobuf (port 4318 on a collector) or http/json`
        : `${protocolName}: http/protobuf or http/json, not ${JSON.stringify(protocol)}`
    )
  }

  const headers: Record<string, string> = {}
  for (const [name, value] of [["OTEL_EXPORTER_OTLP_HEADERS", env.headers], ["OTEL_EXPORTER_OTLP_TRACES_HEADERS", env.tracesHeaders]] as const) {
    if (Option.isNone(value)) continue
    // the traces' own headers come second, over the general ones of the same name
    Either.match(parseHeaders(name, Redacted.value(value.value)), { onLeft: (found) => problems.push(...found), onRight: (parsed) => Object.assign(headers, parsed) })
  }

  const samplerName = present(env.sampler)?.toLowerCase() ?? "parentbased_always_on"
  const makeSampler = samplers[samplerName]
  if (makeSampler === undefined) problems.push(`OTEL_TRACES_SAMPLER: one of ${Object.keys(samplers).join(", ")}, not ${JSON.stringify(samplerName)}`)
  const arg = present(env.samplerArg)
  const ratio = arg === undefined ? 1 : Number(arg)
  if (!(ratio >= 0 && ratio <= 1)) problems.push(`OTEL_TRACES_SAMPLER_ARG: a ratio from 0 to 1, not ${JSON.stringify(arg)}`)

  if (problems.length > 0) return yield* Effect.fail(problems)
  return Option.some({
    url: Either.getOrThrow(url),
    protocol: protocol as Settings["protocol"],
    headers: Redacted.make(headers),
    // OTEL_SERVICE_NAME over a service.name among the resource's attributes, over ours
    serviceName: present(env.serviceName) ??
      (/(^|,)\s*service\.name\s*=/.test(present(env.resourceAttributes) ?? "") ? undefined : "llm-failover"),
    sampler: makeSampler!(ratio)
  })
})

const hex = (length: number): string => {
  let id = ""
  for (let i = 0; i < length; i++) id += "0123456789abcdef"[Math.floor(Math.random() * 16)]
  return id
}

/** The trace id's last 14 hex digits (56 bits, random in every id) as a number in [0, 1). */
const traceFraction = (traceId: string): number => {
  const low = Number.parseInt(traceId.slice(-14), 16)
  return Number.isFinite(low) ? low / 2 ** 56 : Math.random()
}

/** A span that goes nowhere: made, annotated and ended as any, exported by nobody. */
const unsampled = (
  name: string,
  parent: Option.Option<Tracer.AnySpan>,
  context: Context.Context<never>,
  links: ReadonlyArray<Tracer.SpanLink>,
  startTime: bigint,
  kind: Tracer.SpanKind
): Tracer.Span => {
  const attributes = new Map<string, unknown>()
  const linked = [...links]
  const span: { -readonly [K in keyof Tracer.Span]: Tracer.Span[K] } = {
    _tag: "Span",
    name,
    spanId: hex(16),
    traceId: Option.isSome(parent) ? parent.value.traceId : hex(32),
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
 * is made here and exported by nobody. A root span is chosen at random by
 * the ratio; a child of a span of this process follows it; a child of a
 * remote span (a client's `traceparent`) follows the client's choice when
 * parent-based, else its trace id decides, as OpenTelemetry's
 * `TraceIdRatioBased` sampler does.
 *
 * @internal
 */
export const sampling = (tracer: Tracer.Tracer, sampler: Sampler): Tracer.Tracer => {
  const chosen = (parent: Option.Option<Tracer.AnySpan>): boolean => {
    if (Option.isNone(parent)) return sampler.ratio >= 1 || Math.random() < sampler.ratio
    const span = parent.value
    if (span._tag === "Span" || sampler.parentBased) return span.sampled
    return traceFraction(span.traceId) < sampler.ratio
  }
  return Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) =>
      chosen(parent)
        ? tracer.span(name, parent, context, links, startTime, kind, options)
        : unsampled(name, parent, context, links, startTime, kind),
    context: (f, fiber) => tracer.context(f, fiber)
  })
}

/**
 * The tracer `settings` describe, exporting through an undici client of its
 * own, for the life of the layer; its last spans are sent as it closes.
 *
 * @internal
 */
export const layer = (settings: Settings, serviceVersion?: string): Layer.Layer<never> => {
  const exporting = Effect.map(
    OtlpTracer.make({
      url: settings.url,
      headers: Redacted.value(settings.headers),
      resource: {
        ...(settings.serviceName === undefined ? {} : { serviceName: settings.serviceName }),
        ...(serviceVersion === undefined ? {} : { serviceVersion })
      }
    }),
    (tracer) => Layer.setTracer(settings.sampler.ratio >= 1 && !settings.sampler.parentBased ? tracer : sampling(tracer, settings.sampler))
  )
  // the client lives as long as the tracer (built before it, closed after its last export)
  return Layer.unwrapScoped(exporting).pipe(
    Layer.provide(settings.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(UndiciHttpClient.layer)
  )
}

/** The collector's header names, to redact in any header dump (a client error's request, say). @internal */
export const headerNames = (settings: Settings): ReadonlyArray<string> => Object.keys(Redacted.value(settings.headers))

/** Where spans go, for the banner: the URL without credentials or query. @internal */
export const describe = (settings: Settings): string => {
  const url = new URL(settings.url)
  const sampled = settings.sampler.ratio >= 1 ? "" : `, ${settings.sampler.ratio * 100}% of traces`
  return `${url.origin}${url.pathname} (OTLP ${settings.protocol}${sampled})`
}
