/**
 * `serve`'s trace export settings, read from OpenTelemetry's standard
 * environment variables, and its sampler.
 */
import { describe, expect, it } from "@effect/vitest"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { ConfigProvider, Context, Duration, Effect, Either, Exit, Layer, Logger, Option, Redacted, Tracer } from "effect"
import * as Otlp from "../src/cli/internal/otlp.js"

const settingsOf = (env: Record<string, string>) =>
  Effect.withConfigProvider(Otlp.settings, ConfigProvider.fromMap(new Map(Object.entries(env))))

const found = (env: Record<string, string>) => Effect.map(settingsOf(env), Option.getOrThrow)

describe("Otlp.settings", () => {
  it.effect("exports nothing unless an endpoint or the otlp exporter is named, or when turned off", () =>
    Effect.gen(function* () {
      expect(yield* settingsOf({})).toEqual(Option.none())
      expect(yield* settingsOf({ OTEL_SERVICE_NAME: "x", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toEqual(Option.none())
      expect(yield* settingsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" })).toEqual(Option.none())
      expect(yield* settingsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" })).toEqual(Option.none())
    })
  )

  it.effect("a base endpoint gets /v1/traces, a traces endpoint is the URL; protobuf by default; the otlp exporter alone posts to localhost:4318", () =>
    Effect.gen(function* () {
      const base = yield* found({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://collector.example:4318/" })
      expect([base.url, base.protocol, base.serviceName]).toEqual(["https://collector.example:4318/v1/traces", "http/protobuf", "llm-failover"])
      const own = yield* found({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://ignored:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/custom/traces" })
      expect(own.url).toBe("http://c:4318/custom/traces")
      expect((yield* found({ OTEL_TRACES_EXPORTER: "otlp" })).url).toBe("http://localhost:4318/v1/traces")
      expect((yield* found({ OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).protocol).toBe("http/json")
    })
  )

  it.effect("headers are percent-decoded, the traces' own over the general ones, and kept redacted", () =>
    Effect.gen(function* () {
      const settings = yield* found({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
        OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Basic%20abc, x-team = one",
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-team=two"
      })
      expect(Redacted.value(settings.headers)).toEqual({ authorization: "Basic abc", "x-team": "two" })
      expect(String(settings.headers)).not.toContain("abc")
      expect(Otlp.headerNames(settings)).toEqual(["authorization", "x-team"])
    })
  )

  it.effect("the service name: OTEL_SERVICE_NAME, else the resource attributes' service.name, else llm-failover", () =>
    Effect.gen(function* () {
      const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }
      expect((yield* found({ ...endpoint, OTEL_SERVICE_NAME: "gw", OTEL_RESOURCE_ATTRIBUTES: "service.name=other" })).serviceName).toBe("gw")
      expect((yield* found({ ...endpoint, OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod,service.name=other%20one" })).serviceName).toBe("other one")
      expect((yield* found({ ...endpoint, OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod" })).serviceName).toBe("llm-failover")
    })
  )

  it.effect("samplers by OpenTelemetry's names, parent-based ones following their parent", () =>
    Effect.gen(function* () {
      const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }
      expect((yield* found(endpoint)).sampler).toEqual({ name: "parentbased_always_on", ratio: 1, parentBased: true })
      expect((yield* found({ ...endpoint, OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" })).sampler).toEqual({ name: "traceidratio", ratio: 0.25, parentBased: false })
      expect((yield* found({ ...endpoint, OTEL_TRACES_SAMPLER: "parentbased_always_off" })).sampler).toEqual({ name: "parentbased_always_off", ratio: 0, parentBased: true })
      expect((yield* found({ ...endpoint, OTEL_TRACES_SAMPLER: "ALWAYS_ON" })).sampler).toEqual({ name: "always_on", ratio: 1, parentBased: false })
      const tenth = yield* found({ ...endpoint, OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.07" })
      expect(Otlp.describe(tenth)).toBe("http://c:4318/v1/traces (OTLP http/protobuf, sampler parentbased_traceidratio 0.07)")
    })
  )

  it.effect("every problem at once, naming its variable and never a header's value", () =>
    Effect.gen(function* () {
      const problems = yield* Effect.flip(
        settingsOf({
          OTEL_EXPORTER_OTLP_ENDPOINT: "not a url",
          OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/xml",
          OTEL_EXPORTER_OTLP_HEADERS: "good=1,x-key=hunter2%ZZ,=nameless-hunter3",
          OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-line=a%0Ab",
          OTEL_TRACES_EXPORTER: "zipkin",
          OTEL_TRACES_SAMPLER: "sometimes"
        })
      )
      expect(problems).toEqual([
        `OTEL_TRACES_EXPORTER: serve exports spans over OTLP only (otlp or none), not "zipkin"`,
        "OTEL_EXPORTER_OTLP_ENDPOINT: not a URL",
        `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: http/protobuf or http/json, not "http/xml"`,
        "OTEL_EXPORTER_OTLP_HEADERS: the value of x-key is not valid percent-encoding",
        "OTEL_EXPORTER_OTLP_HEADERS: entry 3 is not key=value with a header name for its key",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS: the value of x-line holds a line break or NUL",
        expect.stringMatching(/^OTEL_TRACES_SAMPLER: one of always_on, .* not "sometimes"$/)
      ])
      expect(JSON.stringify(problems)).not.toMatch(/hunter/)
    })
  )
})

describe("Otlp.settings, beyond the basics", () => {
  it.effect("an export's timeout; a certificate file, a client-set header and an empty service.name are problems", () =>
    Effect.gen(function* () {
      const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }
      expect((yield* found(endpoint)).timeout).toEqual(Duration.seconds(10))
      expect((yield* found({ ...endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: "3000", OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "2500" })).timeout).toEqual(Duration.millis(2500))
      const problems = yield* Effect.flip(
        settingsOf({
          ...endpoint,
          OTEL_EXPORTER_OTLP_TIMEOUT: "soon",
          OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: "/etc/ca.pem",
          OTEL_EXPORTER_OTLP_HEADERS: "Host=collector",
          OTEL_RESOURCE_ATTRIBUTES: "service.name="
        })
      )
      expect(problems).toEqual([
        "OTEL_EXPORTER_OTLP_HEADERS: host is set by the HTTP client, not by a header of the collector's",
        `OTEL_EXPORTER_OTLP_TIMEOUT: a whole number of milliseconds above 0, not "soon"`,
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: not supported; give a CA with NODE_EXTRA_CA_CERTS (client certificates are not sent)",
        "OTEL_RESOURCE_ATTRIBUTES: service.name is empty"
      ])
    })
  )

  for (const attributes of ["service.name=a=b", "service.name=ok", "deployment.environment=prod"]) {
    it.effect(`OTEL_RESOURCE_ATTRIBUTES=${attributes}: the exporter is built (Effect's reader would die without a service name)`, () =>
      Effect.gen(function* () {
        const provider = ConfigProvider.fromMap(new Map([["OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"], ["OTEL_RESOURCE_ATTRIBUTES", attributes]]))
        const settings = Option.getOrThrow(yield* Effect.withConfigProvider(Otlp.settings, provider))
        expect(settings.serviceName).toBe(attributes.startsWith("service.name=") ? attributes.slice("service.name=".length) : "llm-failover")
        const built = yield* Effect.exit(Effect.scoped(Layer.build(Otlp.layer(settings, "0.1.0"))).pipe(Effect.withConfigProvider(provider)))
        expect(Exit.isSuccess(built)).toBe(true)
      })
    )
  }

  it.live("a collector that never answers: two exports at most in flight, each given up at the timeout, and one warning with no URL", () =>
    Effect.gen(function* () {
      // requests held at once (never answered: each ends when the exporter gives it up and its socket closes)
      let open = 0
      let most = 0
      let seen = 0
      const collector = createServer((request) => {
        seen++
        most = Math.max(most, ++open)
        request.socket.once("close", () => open--)
        // read (a paused socket would not tell that its client closed it)
        request.resume()
      })
      yield* Effect.promise(() => new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve)))
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => collector.closeAllConnections()).pipe(Effect.zipRight(Effect.promise(() => new Promise((resolve) => collector.close(resolve)))))
      )
      const url = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces/s3cret-path`
      const settings: Otlp.Settings = {
        url,
        protocol: "http/json",
        headers: Redacted.make({}),
        serviceName: "t",
        sampler: { ratio: 1, parentBased: false },
        timeout: Duration.millis(300)
      }
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => {
        lines.push(String(Array.isArray(message) ? message.join(" ") : message))
      })
      yield* Effect.gen(function* () {
        for (let i = 0; i < 10_000; i++) yield* Effect.void.pipe(Effect.withSpan("s"))
        yield* Effect.sleep("1 second")
      }).pipe(Effect.provide(Otlp.layer(settings, "0.1.0")), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      expect(seen).toBeGreaterThan(0)
      expect(most).toBeLessThanOrEqual(2)
      expect(lines.filter((line) => line.startsWith("traces:"))).toEqual([
        "traces: an export to the OTLP collector failed (no answer within 300ms); spans are dropped until one succeeds"
      ])
      expect(lines.join("\n")).not.toContain("s3cret")
    }).pipe(Effect.scoped), 20_000)
})

describe("Otlp.layer's resource", () => {
  it.effect("OTEL_SERVICE_NAME beside an empty service.name among the resource attributes: the layer builds", () =>
    Effect.gen(function* () {
      const provider = ConfigProvider.fromMap(
        new Map([["OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"], ["OTEL_SERVICE_NAME", "gw"], ["OTEL_RESOURCE_ATTRIBUTES", "service.name="]])
      )
      const settings = Option.getOrThrow(yield* Effect.withConfigProvider(Otlp.settings, provider))
      expect(settings.serviceName).toBe("gw")
      const built = yield* Effect.exit(Effect.scoped(Layer.build(Otlp.layer(settings, "0.1.0"))).pipe(Effect.withConfigProvider(provider)))
      expect(Exit.isSuccess(built)).toBe(true)
    }))

  it.live("the exported resource names the service once, OTEL_SERVICE_NAME's, with the other attributes decoded", () =>
    Effect.gen(function* () {
      const bodies: Array<{ resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> } }> }> = []
      const collector = createServer((request, response) => {
        let text = ""
        request.on("data", (chunk) => (text += chunk))
        request.on("end", () => {
          bodies.push(JSON.parse(text))
          response.end("{}")
        })
      })
      yield* Effect.promise(() => new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve)))
      yield* Effect.addFinalizer(() => Effect.promise(() => new Promise((resolve) => collector.close(resolve))))
      const url = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`
      const provider = ConfigProvider.fromMap(
        new Map([
          ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url],
          ["OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"],
          ["OTEL_SERVICE_NAME", "gw"],
          ["OTEL_RESOURCE_ATTRIBUTES", "service.name=other,deployment.environment=eu%20prod"]
        ])
      )
      const settings = Option.getOrThrow(yield* Effect.withConfigProvider(Otlp.settings, provider))
      yield* Effect.void.pipe(Effect.withSpan("s"), Effect.provide(Otlp.layer(settings, "0.1.0")), Effect.withConfigProvider(provider))
      const attributes = bodies[0]!.resourceSpans[0]!.resource.attributes
      expect(attributes.filter((a) => a.key === "service.name").map((a) => a.value.stringValue)).toEqual(["gw"])
      expect(attributes).toContainEqual({ key: "deployment.environment", value: { stringValue: "eu prod" } })
    }).pipe(Effect.scoped), 10_000)
})

/** A tracer that records the names of the spans it made that ended (what an exporter sends). */
const recording = (traceId = "a".repeat(32)) => {
  const names: Array<string> = []
  const inner = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      return {
        _tag: "Span",
        name,
        spanId: "1".repeat(16),
        traceId: Option.isSome(parent) ? parent.value.traceId : traceId,
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes: new Map(),
        links,
        sampled: true,
        kind,
        end: () => {
          names.push(name)
        },
        attribute: () => {},
        event: () => {},
        addLinks: () => {}
      }
    },
    context: (f) => f()
  })
  return { names, inner }
}

const external = (traceId: string, sampled: boolean) => Tracer.externalSpan({ traceId, spanId: "2".repeat(16), sampled })

describe("Otlp.sampling", () => {
  it.effect("an unchosen root and its children go nowhere, and share a trace id; a chosen root's children are exported", () =>
    Effect.gen(function* () {
      const none = recording()
      const sampler = Otlp.sampling(none.inner, { ratio: 0, parentBased: true })
      const child = yield* Effect.currentSpan.pipe(Effect.withSpan("child"), Effect.withSpan("root"), Effect.withTracer(sampler))
      expect(none.names).toEqual([])
      expect(child.sampled).toBe(false)
      expect(Option.getOrThrow(child.parent).traceId).toBe(child.traceId)
      expect(child.traceId).toMatch(/^[0-9a-f]{32}$/)

      const all = recording()
      yield* Effect.void.pipe(Effect.withSpan("child"), Effect.withSpan("root"), Effect.withTracer(Otlp.sampling(all.inner, { ratio: 1, parentBased: true })))
      expect(all.names).toEqual(["child", "root"])

      // a root is chosen by its trace id, as a service downstream on the same ratio chooses it
      for (const [traceId, kept] of [["f".repeat(18) + "0".repeat(14), true], ["0".repeat(18) + "f".repeat(14), false]] as const) {
        const rooted = recording(traceId)
        const root = yield* Effect.currentSpan.pipe(Effect.withSpan("root"), Effect.withTracer(Otlp.sampling(rooted.inner, { ratio: 0.5, parentBased: true })))
        expect([root.sampled, root.traceId, rooted.names]).toEqual([kept, traceId, kept ? ["root"] : []])
      }
    })
  )

  it.effect("a client's trace: parent-based samplers follow its sampled flag; traceidratio decides by its trace id", () =>
    Effect.gen(function* () {
      const spanUnder = (parent: Tracer.AnySpan, sampler: Otlp.Sampler) =>
        Effect.gen(function* () {
          const { names, inner } = recording()
          yield* Effect.void.pipe(Effect.withSpan("server", { parent }), Effect.withTracer(Otlp.sampling(inner, sampler)))
          return names.length === 1
        })
      const low = "f".repeat(18) + "0".repeat(14) // its fraction: 0
      const high = "0".repeat(18) + "f".repeat(14) // nearly 1
      expect(yield* spanUnder(external(high, true), { ratio: 0, parentBased: true })).toBe(true)
      expect(yield* spanUnder(external(low, false), { ratio: 1, parentBased: true })).toBe(false)
      expect(yield* spanUnder(external(low, false), { ratio: 0.5, parentBased: false })).toBe(true)
      expect(yield* spanUnder(external(high, true), { ratio: 0.5, parentBased: false })).toBe(false)
    })
  )

  it("an unsampled span ends, holds its attributes and links, and keeps its exit", () => {
    const { names, inner } = recording()
    const span = Otlp.sampling(inner, { ratio: 0, parentBased: false }).span("work", Option.none(), Context.empty(), [], 1n, "internal")
    span.attribute("k", "v")
    span.addLinks([{ _tag: "SpanLink", span: external("b".repeat(32), true), attributes: {} }])
    span.end(2n, Exit.fail("boom"))
    expect(names).toEqual([])
    expect(span.sampled).toBe(false)
    expect(span.status).toEqual({ _tag: "Ended", startTime: 1n, endTime: 2n, exit: Exit.fail("boom") })
    expect(span.attributes.get("k")).toBe("v")
    expect(span.links).toHaveLength(1)
  })
})

describe("Otlp.metricsSettings", () => {
  const metricsOf = (env: Record<string, string>) =>
    Effect.withConfigProvider(Otlp.metricsSettings, ConfigProvider.fromMap(new Map(Object.entries(env))))
  const pushed = (env: Record<string, string>) => Effect.map(metricsOf(env), Option.getOrThrow)
  const allOf = (env: Record<string, string>) =>
    Effect.withConfigProvider(Otlp.allSettings, ConfigProvider.fromMap(new Map(Object.entries(env))))

  it.effect("no push unless OTEL_METRICS_EXPORTER names otlp or a metrics endpoint is set: the general endpoint alone (traces') starts none", () =>
    Effect.gen(function* () {
      expect(yield* metricsOf({})).toEqual(Option.none())
      expect(yield* metricsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).toEqual(Option.none())
      expect(yield* metricsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_METRICS_EXPORTER: "prometheus" })).toEqual(Option.none())
      expect(yield* metricsOf({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://c:4318/v1/metrics", OTEL_METRICS_EXPORTER: "none" })).toEqual(Option.none())
      expect(yield* metricsOf({ OTEL_METRICS_EXPORTER: "otlp", OTEL_SDK_DISABLED: "TRUE" })).toEqual(Option.none())
      // refused variables of a push not asked for are not problems
      expect(yield* metricsOf({ OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "grpc", OTEL_METRIC_EXPORT_INTERVAL: "often" })).toEqual(Option.none())
      // but a misspelt exporter is, even beside an endpoint: it would push nothing, silently (found by a diff review)
      const misspelt = yield* Effect.either(metricsOf({ OTEL_METRICS_EXPORTER: "oltp", OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://c:4318/v1/metrics" }))
      expect(misspelt).toEqual(
        Either.left([`OTEL_METRICS_EXPORTER: serve pushes metrics over OTLP only (otlp; prometheus is its /metrics, always served; none), not "oltp"`])
      )
      // the traces go on as before
      const both = yield* allOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })
      expect([Option.isSome(both.traces), Option.isSome(both.metrics)]).toEqual([true, false])
    })
  )

  it.effect("the metrics endpoint is the URL, a base gets /v1/metrics, otlp alone posts to localhost:4318; every 60 s, cumulative, protobuf by default", () =>
    Effect.gen(function* () {
      const own = yield* pushed({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://c:4318/custom", OTEL_EXPORTER_OTLP_ENDPOINT: "http://ignored:4318" })
      expect([own.url, own.protocol, own.interval, own.timeout, own.serviceName]).toEqual([
        "http://c:4318/custom",
        "http/protobuf",
        Duration.seconds(60),
        Duration.seconds(10),
        "llm-failover"
      ])
      expect((yield* pushed({ OTEL_METRICS_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_ENDPOINT: "https://c.example:4318/" })).url).toBe("https://c.example:4318/v1/metrics")
      expect((yield* pushed({ OTEL_METRICS_EXPORTER: " Prometheus , OTLP " })).url).toBe("http://localhost:4318/v1/metrics")
      const json = yield* pushed({
        OTEL_METRICS_EXPORTER: "otlp",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/json",
        OTEL_METRIC_EXPORT_INTERVAL: "15000",
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "Cumulative"
      })
      expect([json.protocol, json.interval]).toEqual(["http/json", Duration.seconds(15)])
      expect(Otlp.describeMetrics(json)).toBe("http://localhost:4318/v1/metrics (OTLP http/json, every 15 s)")
      expect(Otlp.describeMetrics({ ...json, url: "https://user:pw@c.example/v1/metrics?token=t", interval: Duration.millis(250) }))
        .toBe("https://c.example/v1/metrics (OTLP http/json, every 250 ms)")
    })
  )

  it.effect("headers: the metrics' own over the general ones, redacted; an export's time is the shorter of the OTLP timeout and OTEL_METRIC_EXPORT_TIMEOUT", () =>
    Effect.gen(function* () {
      const on = { OTEL_METRICS_EXPORTER: "otlp" }
      const settings = yield* pushed({
        ...on,
        OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Basic%20abc,x-team=one",
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-team=traces",
        OTEL_EXPORTER_OTLP_METRICS_HEADERS: "x-team=two"
      })
      expect(Redacted.value(settings.headers)).toEqual({ authorization: "Basic abc", "x-team": "two" })
      expect(String(settings.headers)).not.toContain("abc")
      expect(Otlp.headerNames(settings)).toEqual(["authorization", "x-team"])
      expect((yield* pushed({ ...on, OTEL_EXPORTER_OTLP_TIMEOUT: "4000", OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "1" })).timeout).toEqual(Duration.seconds(4))
      expect((yield* pushed({ ...on, OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: "20000" })).timeout).toEqual(Duration.seconds(20))
      expect((yield* pushed({ ...on, OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: "20000", OTEL_METRIC_EXPORT_TIMEOUT: "5000" })).timeout).toEqual(Duration.seconds(5))
    })
  )

  it.effect("every problem at once, the traces' and the metrics' together (a shared one said once), never a header's value", () =>
    Effect.gen(function* () {
      const problems = yield* Effect.flip(
        allOf({
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
          OTEL_EXPORTER_OTLP_HEADERS: "x-key=hunter2%ZZ",
          OTEL_TRACES_SAMPLER_ARG: "2",
          OTEL_METRICS_EXPORTER: "otlp,console",
          OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "grpc",
          OTEL_EXPORTER_OTLP_METRICS_HEADERS: "=hunter3",
          OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: "0",
          OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY: "/etc/key.pem",
          OTEL_METRIC_EXPORT_INTERVAL: "1m",
          OTEL_METRIC_EXPORT_TIMEOUT: "-5",
          OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "delta"
        })
      )
      expect(problems).toEqual([
        "OTEL_EXPORTER_OTLP_HEADERS: the value of x-key is not valid percent-encoding",
        `OTEL_TRACES_SAMPLER_ARG: a ratio from 0 to 1, not "2"`,
        `OTEL_METRICS_EXPORTER: serve pushes metrics over OTLP only (otlp; prometheus is its /metrics, always served; none), not "console"`,
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: grpc is not supported; use http/protobuf (port 4318 on a collector) or http/json",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS: entry 1 is not key=value with a header name for its key",
        `OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: a whole number of milliseconds above 0, not "0"`,
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY: not supported; give a CA with NODE_EXTRA_CA_CERTS (client certificates are not sent)",
        `OTEL_METRIC_EXPORT_INTERVAL: a whole number of milliseconds above 0, not "1m"`,
        `OTEL_METRIC_EXPORT_TIMEOUT: a whole number of milliseconds above 0, not "-5"`,
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: delta is not supported; serve pushes cumulative metrics only (the exporter's one temporality)"
      ])
      expect(JSON.stringify(problems)).not.toMatch(/hunter/)
      expect(yield* Effect.flip(metricsOf({
        OTEL_METRICS_EXPORTER: "otlp",
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "sometimes",
        OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION: "base2_exponential_bucket_histogram"
      }))).toEqual([
        `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: cumulative (delta and lowmemory are not supported), not "sometimes"`,
        `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION: explicit_bucket_histogram only (the router's latency buckets), not "base2_exponential_bucket_histogram"`
      ])
      expect(Option.isSome(yield* metricsOf({ OTEL_METRICS_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION: "Explicit_Bucket_Histogram" }))).toBe(true)
    })
  )
})
