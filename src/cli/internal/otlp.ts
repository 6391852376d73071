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
 * @internal
 */
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Clock, Config, ConfigProvider, Context, Duration, Effect, Either, Layer, Option, Redacted, Tracer } from "effect"
import { Agent } from "undici"
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

/** Where and how `serve` exports its spans. @internal */
export interface Settings {
  /** The URL spans are posted to. */
  readonly url: string
  readonly protocol: "http/protobuf" | "http/json"
  /** The collector's headers: credentials, often. */
  readonly headers: Redacted.Redacted<Readonly<Record<string, string>>>
  /** OTEL_SERVICE_NAME, else the resource attributes' `service.name`, else `llm-failover`. */
  readonly serviceName: string
  /** The resource's other attributes (`OTEL_RESOURCE_ATTRIBUTES`, decoded). */
  readonly resourceAttributes?: Readonly<Record<string, string>>
  readonly sampler: Sampler
  /** How long one export may take. Default 10 seconds. */
  readonly timeout?: Duration.Duration
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
  timeout: optional("OTEL_EXPORTER_OTLP_TIMEOUT"),
  tracesTimeout: optional("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
  files: Config.all(
    ["CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE"].flatMap((what) =>
      [`OTEL_EXPORTER_OTLP_${what}`, `OTEL_EXPORTER_OTLP_TRACES_${what}`].map((name) => Config.map(optional(name), (value) => [name, value] as const))
    )
  ),
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

  const timeoutName = present(env.tracesTimeout) === undefined ? "OTEL_EXPORTER_OTLP_TIMEOUT" : "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
  const timeoutText = present(env.tracesTimeout) ?? present(env.timeout)
  const timeoutMillis = timeoutText === undefined ? 10_000 : Number(timeoutText)
  if (!(Number.isInteger(timeoutMillis) && timeoutMillis > 0)) {
    problems.push(`${timeoutName}: a whole number of milliseconds above 0, not ${JSON.stringify(timeoutText)}`)
  }
  for (const [name, value] of env.files) {
    if (present(value) !== undefined) problems.push(`${name}: not supported; give a CA with NODE_EXTRA_CA_CERTS (client certificates are not sent)`)
  }
  const resource = resourceAttributes(present(env.resourceAttributes) ?? "")
  if (Either.isLeft(resource) && present(env.serviceName) === undefined) problems.push(resource.left)
  const { "service.name": resourceName, ...attributes } = Either.getOrElse(resource, () => ({}) as Record<string, string>)

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
    serviceName: present(env.serviceName) ?? resourceName ?? "llm-failover",
    resourceAttributes: attributes,
    sampler: { name: samplerName, ...makeSampler!(ratio) },
    timeout: Duration.millis(timeoutMillis)
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
        serviceName: settings.serviceName,
        ...(serviceVersion === undefined ? {} : { serviceVersion }),
        attributes: { ...settings.resourceAttributes }
      }
    }).pipe(
      // the resource read here (decoded, its service.name one): Effect's own reader of the variables would add
      // theirs raw, before ours
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
    ),
    (tracer) => Layer.setTracer(settings.sampler.ratio >= 1 && !settings.sampler.parentBased ? tracer : sampling(tracer, settings.sampler))
  )
  // the client lives as long as the tracer (built before it, closed after its last export)
  return Layer.unwrapScoped(exporting).pipe(
    Layer.provide(settings.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(exportClient(settings.timeout ?? Duration.seconds(10)))
  )
}

/** How often a failing export is logged at most. */
const warnEvery = 60_000

/**
 * The exporter's HTTP client: two connections of its own (a third export
 * waits for one), each export given up after `timeout`, as an error the
 * exporter does not retry (it then sends nothing for a minute), and so a 429
 * (whose Retry-After it would sleep, holding its batch); a failure logged
 * once a minute at most, by its status or kind, never its URL.
 */
const exportClient = (timeout: Duration.Duration): Layer.Layer<HttpClient.HttpClient> =>
  Layer.scoped(
    HttpClient.HttpClient,
    Effect.gen(function* () {
      const agent = yield* Effect.acquireRelease(
        Effect.sync(() => new Agent({ connections: 2, headersTimeout: 0, bodyTimeout: 0 })),
        (agent) => Effect.promise(() => agent.destroy())
      )
      let warned = -Infinity
      const warn = (why: string) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (now - warned < warnEvery) return Effect.void
          warned = now
          return Effect.logWarning(`traces: an export to the OTLP collector failed (${why}); spans are dropped until one succeeds`)
        })
      // an error the exporter does not retry: a transport failure it retries three times, a second apart
      const final = (request: HttpClientRequest.HttpClientRequest, description: string) =>
        new HttpClientError.RequestError({ request, reason: "Encode", description })
      return UndiciHttpClient.make(agent).pipe(
        HttpClient.transform((response, request) =>
          response.pipe(
            Effect.timeoutFail({ duration: timeout, onTimeout: () => final(request, `no answer within ${Duration.format(timeout)}`) }),
            Effect.tap((answer) => (answer.status >= 200 && answer.status < 300 ? Effect.void : warn(`HTTP ${answer.status}`))),
            // its Retry-After would be slept holding the batch
            Effect.filterOrFail((answer) => answer.status !== 429, () => final(request, "HTTP 429")),
            Effect.tapError((error) =>
              // a transport error's description may name the collector's address: its kind only
              error._tag === "ResponseError" || error.description === "HTTP 429"
                ? Effect.void
                : warn(error.reason === "Encode" ? error.description ?? "failed" : `${error.reason} error`)
            )
          )
        )
      )
    })
  )

/** The collector's header names, to redact in any header dump (a client error's request, say). @internal */
export const headerNames = (settings: Settings): ReadonlyArray<string> => Object.keys(Redacted.value(settings.headers))

/** Where spans go, for the banner: the URL without credentials or query. @internal */
export const describe = (settings: Settings): string => {
  const url = new URL(settings.url)
  const { name, ratio } = settings.sampler
  const sampler = name === undefined || name === "parentbased_always_on" || name === "always_on"
    ? ""
    : `, sampler ${name}${name.endsWith("traceidratio") ? ` ${Number(ratio.toPrecision(6))}` : ""}`
  return `${url.origin}${url.pathname} (OTLP ${settings.protocol}${sampler})`
}
