/**
 * `serve`'s OTLP metrics push, end to end: a collector on 127.0.0.1 (port 0)
 * receives the router's real metrics, as OTLP/HTTP JSON and protobuf, after
 * requests through a router of simulated providers in virtual time (an
 * export is due when the test clock says so); a removed target's breaker
 * series is left out, as on `/metrics`; a failing collector gets one request
 * an export and one warning with neither URL nor header; the last export is
 * sent as the exporter closes, within its timeout. Then `serve` itself
 * (from the source): its banner, and the last push at SIGTERM, with no key
 * in it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Logger, Redacted, Scope, TestClock } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import type * as Http from "node:http"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Otlp from "../src/cli/internal/otlp.js"
import { Chat } from "../src/llm/index.js"
import * as Metrics from "../src/observability/Metrics.js"
import * as Observability from "../src/observability/Observability.js"
import * as Router from "../src/router/Router.js"
import { claudeHello, serveFromSource } from "./support/serve.js"
import { settler, sim, succeeded } from "./support/virtual.js"

const settle = settler("5 seconds")

interface Post {
  readonly path: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: Buffer
}

/**
 * A collector: keeps each POST and answers `status` (200 by default) with
 * `{}`, or what `answer` gives for a path (such a request is not kept);
 * `received(n)` waits for the n-th kept post. `stall(n)`: the n-th kept
 * post gets its answer's head and a byte of its body, and no more.
 */
const collector = async (
  options: {
    readonly status?: () => number
    readonly answer?: (path: string) => string | undefined
    readonly stall?: (n: number) => boolean
  } = {}
) => {
  const posts: Array<Post> = []
  const waiting: Array<{ readonly n: number; readonly resolve: () => void }> = []
  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const own = options.answer?.(request.url ?? "")
      if (own === undefined) posts.push({ path: request.url ?? "", headers: request.headers, body: Buffer.concat(chunks) })
      for (const wait of waiting.filter((w) => posts.length >= w.n)) wait.resolve()
      const head = response.writeHead(own === undefined ? options.status?.() ?? 200 : 200, { "content-type": "application/json" })
      if (own === undefined && options.stall?.(posts.length) === true) head.write("{")
      else head.end(own ?? "{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    received: (n: number) => new Promise<void>((resolve) => (posts.length >= n ? resolve() : waiting.push({ n, resolve }))),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

const collectorIn = (options?: Parameters<typeof collector>[0]) =>
  Effect.acquireRelease(Effect.promise(() => collector(options)), (c) => Effect.promise(() => c.close()))

// ---------------------------------------------------------------------------
// OTLP's metrics as the JSON mapping writes them, and a reader of its protobuf
// ---------------------------------------------------------------------------

interface Attribute {
  readonly key: string
  readonly value: { readonly stringValue?: string }
}

interface DataPoint {
  readonly attributes: ReadonlyArray<Attribute>
  readonly asDouble?: number
  readonly asInt?: number | string
  readonly count?: number | string
  readonly sum?: number
  readonly bucketCounts?: ReadonlyArray<number | string>
  readonly explicitBounds?: ReadonlyArray<number>
}

interface Metric {
  readonly name: string
  readonly unit?: string
  readonly sum?: { readonly aggregationTemporality: number; readonly isMonotonic?: boolean; readonly dataPoints: ReadonlyArray<DataPoint> }
  readonly gauge?: { readonly dataPoints: ReadonlyArray<DataPoint> }
  readonly histogram?: { readonly aggregationTemporality: number; readonly dataPoints: ReadonlyArray<DataPoint> }
}

interface MetricsData {
  readonly resourceMetrics: ReadonlyArray<{
    readonly resource: { readonly attributes: ReadonlyArray<Attribute> }
    readonly scopeMetrics: ReadonlyArray<{ readonly metrics: ReadonlyArray<Metric> }>
  }>
}

const labelsOf = (point: DataPoint): Record<string, string | undefined> =>
  Object.fromEntries(point.attributes.map((a) => [a.key, a.value.stringValue]))

/** The points of metric `name` (every kind) whose labels are exactly `labels`, in every export given. */
const points = (exports: ReadonlyArray<MetricsData>, name: string, labels: Readonly<Record<string, string>>): ReadonlyArray<DataPoint> =>
  exports.flatMap((data) =>
    data.resourceMetrics.flatMap((r) =>
      r.scopeMetrics.flatMap((s) =>
        s.metrics
          .filter((m) => m.name === name)
          .flatMap((m) => (m.sum ?? m.gauge ?? m.histogram)?.dataPoints ?? [])
          .filter((p) => JSON.stringify(Object.entries(labelsOf(p)).sort()) === JSON.stringify(Object.entries(labels).sort()))
      )
    )
  )

/** The value of the one point of `name` with `labels` in the last export that has it. */
const valueIn = (exports: ReadonlyArray<MetricsData>, name: string, labels: Readonly<Record<string, string>>): number | undefined => {
  const found = points(exports.slice(-1), name, labels)
  if (found.length > 1) throw new Error(`${found.length} points of ${name} ${JSON.stringify(labels)}`)
  const point = found[0]
  return point === undefined ? undefined : Number(point.asDouble ?? point.asInt ?? point.count)
}

const metricNamed = (data: MetricsData, name: string): Metric | undefined =>
  data.resourceMetrics.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics)).find((m) => m.name === name)

type Field = { readonly number: number; readonly wire: number; readonly varint?: bigint; readonly bytes?: Buffer }

/** A protobuf message's fields, in order (wire types 0, 1, 2 and 5). */
const fields = (buffer: Buffer): ReadonlyArray<Field> => {
  const out: Array<Field> = []
  let at = 0
  const varint = (): bigint => {
    let value = 0n
    let shift = 0n
    for (;;) {
      const byte = buffer[at++]!
      value |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return value
      shift += 7n
    }
  }
  while (at < buffer.length) {
    const key = Number(varint())
    const [number, wire] = [key >>> 3, key & 7]
    if (wire === 0) out.push({ number, wire, varint: varint() })
    else if (wire === 1) out.push({ number, wire, bytes: buffer.subarray(at, (at += 8)) })
    else if (wire === 5) out.push({ number, wire, bytes: buffer.subarray(at, (at += 4)) })
    else if (wire === 2) {
      const length = Number(varint())
      out.push({ number, wire, bytes: buffer.subarray(at, (at += length)) })
    } else throw new Error(`wire type ${wire}`)
  }
  return out
}

const messages = (buffer: Buffer, number: number) => fields(buffer).filter((f) => f.number === number).map((f) => f.bytes!)
const text = (buffer: Buffer, number: number) => messages(buffer, number).map((b) => b.toString("utf8"))[0]

/** MetricsData (opentelemetry.proto.metrics.v1) in protobuf, read into the JSON mapping's shape (the fields the tests use). */
const fromProtobuf = (body: Buffer): MetricsData => {
  const attribute = (kv: Buffer): Attribute => ({ key: text(kv, 1)!, value: { stringValue: text(messages(kv, 2)[0]!, 1)! } })
  const point = (p: Buffer): DataPoint => {
    const own = fields(p)
    const double = own.find((f) => f.number === 4 && f.wire === 1)
    const int = own.find((f) => f.number === 6 && f.wire === 1)
    return {
      attributes: messages(p, 7).map(attribute),
      ...(double === undefined ? {} : { asDouble: double.bytes!.readDoubleLE() }),
      ...(int === undefined ? {} : { asInt: Number(int.bytes!.readBigInt64LE()) })
    }
  }
  const metric = (m: Buffer): Metric => {
    const [gauge] = messages(m, 5)
    const [sum] = messages(m, 7)
    return {
      name: text(m, 1)!,
      ...(gauge === undefined ? {} : { gauge: { dataPoints: messages(gauge, 1).map(point) } }),
      ...(sum === undefined
        ? {}
        : { sum: { aggregationTemporality: Number(fields(sum).find((f) => f.number === 2)?.varint ?? 0n), dataPoints: messages(sum, 1).map(point) } })
    }
  }
  return {
    resourceMetrics: messages(body, 1).map((r) => ({
      resource: { attributes: messages(messages(r, 1)[0]!, 1).map(attribute) },
      scopeMetrics: messages(r, 2).map((s) => ({ metrics: messages(s, 2).map(metric) }))
    }))
  }
}

// ---------------------------------------------------------------------------
// The exporter over a router
// ---------------------------------------------------------------------------

const settingsFor = (url: string, protocol: Otlp.MetricsSettings["protocol"], overrides: Partial<Otlp.MetricsSettings> = {}): Otlp.MetricsSettings => ({
  url,
  protocol,
  headers: Redacted.make({ authorization: "Bearer collector-s3cret" }),
  serviceName: "otlp-metrics-test",
  resourceAttributes: { "deployment.environment": "test" },
  interval: Duration.seconds(10),
  timeout: Duration.seconds(2),
  ...overrides
})

/** A router whose primary is down (its breaker opens at one failure) and its backup up, observed with `run`'s label. */
const failingOver = (run: string) =>
  Effect.gen(function* () {
    const router = yield* Router.make({
      targets: { [`${run}-primary`]: { model: yield* sim(`${run}-down`, { faults: [{ status: 529 }] }) }, [`${run}-backup`]: { model: yield* sim(`${run}-up`) } },
      chains: { [`${run}-chain`]: [`${run}-primary`, `${run}-backup`] },
      policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 1, openDuration: { base: "10 minutes" } } }
    })
    const observability = yield* Observability.attach(router, { labels: { run } })
    const ask = Effect.gen(function* () {
      const result = succeeded(yield* settle(router.complete(Chat.prompt("hello"), { chain: `${run}-chain` })))
      yield* observability.flush
      return result
    })
    return { router, ask }
  })

/** Waits (in real time, `most` ms at most) for `done`: what an export's answer does after the collector has its request. */
const until = (done: () => boolean, most = 5_000) =>
  Effect.promise(async () => {
    for (let waited = 0; waited < most && !done(); waited += 10) await new Promise((resolve) => setTimeout(resolve, 10))
  })

/** Every log line's text. */
const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

describe("Otlp.metricsLayer", () => {
  it.scoped("pushes the router's metrics as OTLP JSON every interval: names, labels and values, cumulative, with the collector's headers and the resource", () =>
    Effect.gen(function* () {
      const run = "otlpm-json"
      const c = yield* collectorIn()
      const { ask } = yield* failingOver(run)
      // (a request moves the clock on 5 s: asked before the exporter starts)
      const result = yield* ask
      expect(result.meta.target).toBe(`${run}-backup`)
      yield* Layer.build(Otlp.metricsLayer(settingsFor(`${c.base}/v1/metrics`, "http/json"), "9.9.9"))

      // nothing before the interval; then one export
      yield* TestClock.adjust("9 seconds")
      expect(c.posts).toHaveLength(0)
      yield* TestClock.adjust("1 second")
      yield* Effect.promise(() => c.received(1))
      const [post] = c.posts
      expect(post!.path).toBe("/v1/metrics")
      expect(post!.headers["content-type"]).toBe("application/json")
      expect(post!.headers["authorization"]).toBe("Bearer collector-s3cret")
      const first = JSON.parse(post!.body.toString("utf8")) as MetricsData
      expect(first.resourceMetrics[0]!.resource.attributes).toEqual(expect.arrayContaining([
        { key: "service.name", value: { stringValue: "otlp-metrics-test" } },
        { key: "service.version", value: { stringValue: "9.9.9" } },
        { key: "deployment.environment", value: { stringValue: "test" } }
      ]))
      const exports = [first]
      const chain = `${run}-chain`
      expect(valueIn(exports, "llm_requests_total", { run, chain, outcome: "success" })).toBe(1)
      expect(valueIn(exports, "llm_fallbacks_total", { run, chain, from: `${run}-primary`, to: `${run}-backup`, reason: "Overloaded" })).toBe(1)
      expect(valueIn(exports, "llm_attempts_total", { run, provider: `${run}-down`, model: `${run}-down-model`, outcome: "error", reason: "Overloaded" })).toBe(1)
      expect(valueIn(exports, "llm_circuit_breaker_state", { run, target: `${run}-primary`, provider: `${run}-down`, model: `${run}-down-model` })).toBe(2)
      expect(valueIn(exports, "llm_request_duration_seconds", { run, chain, outcome: "success" })).toBe(1)
      const requests = metricNamed(first, "llm_requests_total")!
      expect(requests.sum).toMatchObject({ aggregationTemporality: 2, isMonotonic: true })
      const duration = metricNamed(first, "llm_request_duration_seconds")!.histogram!
      expect(duration.aggregationTemporality).toBe(2)
      // the router's buckets, and a count a bucket (the last one above the last bound) that adds up to the count
      const [latency] = points(exports, "llm_request_duration_seconds", { run, chain, outcome: "success" })
      expect(latency!.explicitBounds).toEqual(Metrics.latencyBuckets)
      expect(latency!.bucketCounts!.map(Number)).toHaveLength(Metrics.latencyBuckets.length + 1)
      expect(latency!.bucketCounts!.map(Number).reduce((a, b) => a + b, 0)).toBe(1)
      // no unit of "1" (a collector's Prometheus exporter would make the gauge llm_circuit_breaker_state_ratio)
      expect(metricNamed(first, "llm_circuit_breaker_state")!.unit ?? "").toBe("")

      // the next interval: the totals so far (cumulative)
      yield* ask
      yield* TestClock.adjust("5 seconds")
      yield* Effect.promise(() => c.received(2))
      expect(valueIn([JSON.parse(c.posts[1]!.body.toString("utf8")) as MetricsData], "llm_requests_total", { run, chain, outcome: "success" })).toBe(2)
    }))

  it.scoped("pushes OTLP protobuf: the same names, labels and values", () =>
    Effect.gen(function* () {
      const run = "otlpm-proto"
      const c = yield* collectorIn()
      const { ask } = yield* failingOver(run)
      yield* ask
      yield* ask
      yield* Layer.build(Otlp.metricsLayer(settingsFor(`${c.base}/v1/metrics`, "http/protobuf")))
      yield* TestClock.adjust("10 seconds")
      yield* Effect.promise(() => c.received(1))
      expect(c.posts[0]!.headers["content-type"]).toBe("application/x-protobuf")
      const data = fromProtobuf(c.posts[0]!.body)
      expect(data.resourceMetrics[0]!.resource.attributes).toContainEqual({ key: "service.name", value: { stringValue: "otlp-metrics-test" } })
      const chain = `${run}-chain`
      expect(valueIn([data], "llm_requests_total", { run, chain, outcome: "success" })).toBe(2)
      expect(metricNamed(data, "llm_requests_total")!.sum?.aggregationTemporality).toBe(2)
      // the first request fell back (and opened the breaker); the second was sent past the open breaker
      expect(valueIn([data], "llm_fallbacks_total", { run, chain, from: `${run}-primary`, to: `${run}-backup`, reason: "Overloaded" })).toBe(1)
      expect(valueIn([data], "llm_fallbacks_total", { run, chain, from: `${run}-primary`, to: `${run}-backup`, reason: "circuit-open" })).toBe(1)
      expect(valueIn([data], "llm_circuit_breaker_state", { run, target: `${run}-primary`, provider: `${run}-down`, model: `${run}-down-model` })).toBe(2)
    }))

  it.scoped("leaves out the breaker series of a target a reload removed, as /metrics does; the kept target's stays", () =>
    Effect.gen(function* () {
      const c = yield* collectorIn()
      const gone = yield* sim("otlpm-prov-gone")
      const kept = yield* sim("otlpm-prov-kept")
      const first = yield* Router.make({
        targets: { "otlpm-gone": { model: gone }, "otlpm-kept": { model: kept } },
        chains: { "otlpm-reload": ["otlpm-gone", "otlpm-kept"] }
      })
      const swappable = yield* Router.swappable(first)
      const observability = yield* Observability.attach(swappable.router)
      yield* first.breaker("otlpm-gone")!.isolate
      yield* observability.flush
      yield* Layer.build(Otlp.metricsLayer(settingsFor(`${c.base}/v1/metrics`, "http/json")))
      const goneLabels = { target: "otlpm-gone", provider: "otlpm-prov-gone", model: "otlpm-prov-gone-model" }
      const keptLabels = { target: "otlpm-kept", provider: "otlpm-prov-kept", model: "otlpm-prov-kept-model" }
      yield* TestClock.adjust("10 seconds")
      yield* Effect.promise(() => c.received(1))
      const before = [JSON.parse(c.posts[0]!.body.toString("utf8")) as MetricsData]
      expect(valueIn(before, "llm_circuit_breaker_state", goneLabels)).toBe(3)
      expect(valueIn(before, "llm_circuit_breaker_state", keptLabels)).toBe(0)

      const second = yield* Router.make({ targets: { "otlpm-kept": { model: kept } }, chains: { "otlpm-reload": ["otlpm-kept"] } }, { previous: first })
      yield* swappable.swap(second)
      succeeded(yield* settle(swappable.router.complete(Chat.prompt("after"), { chain: "otlpm-reload" })))
      yield* observability.flush
      yield* TestClock.adjust("10 seconds")
      yield* Effect.promise(() => c.received(2))
      const after = [JSON.parse(c.posts[1]!.body.toString("utf8")) as MetricsData]
      expect(points(after, "llm_circuit_breaker_state", goneLabels)).toEqual([])
      expect(valueIn(after, "llm_circuit_breaker_state", keptLabels)).toBe(0)
    }))

  it.scoped("a failing collector: one request an export (no retry), nothing for a minute after, one warning with neither URL nor header", () =>
    Effect.gen(function* () {
      const c = yield* collectorIn({ status: () => 503 })
      const logs = captureLogs()
      yield* Layer.build(Otlp.metricsLayer(settingsFor(`${c.base}/v1/metrics/s3cret-path`, "http/json"))).pipe(Effect.provide(logs.layer))
      yield* TestClock.adjust("10 seconds")
      yield* Effect.promise(() => c.received(1))
      const warned = () => logs.lines.filter((line) => line.startsWith("metrics:"))
      yield* until(() => warned().length === 1)
      // the exporter's 1 s retry waits are virtual: a retry would come now (the collector would have it in ms)
      yield* TestClock.adjust("3 seconds")
      yield* until(() => c.posts.length > 1, 300)
      expect(c.posts).toHaveLength(1)
      // the exporter's next exports in the minute after a failure send nothing
      for (let i = 0; i < 5; i++) yield* TestClock.adjust("10 seconds")
      yield* until(() => c.posts.length > 1, 300)
      expect(c.posts).toHaveLength(1)
      // the collector's 503, or, on a machine too busy to read it within the export's 2 s (real time), that timeout
      const warning = /^metrics: an export to the OTLP collector failed \((HTTP 503|no answer within 2s)\); the next push is in a minute \(its totals cumulative: nothing counted is lost\)$/
      expect(warned()).toHaveLength(1)
      expect(warned()[0]).toMatch(warning)
      // a minute on, the next export (and its warning, a minute after the first)
      yield* TestClock.adjust("10 seconds")
      yield* Effect.promise(() => c.received(2))
      yield* until(() => warned().length === 2)
      expect(warned()).toHaveLength(2)
      for (const line of warned()) expect(line).toMatch(warning)
      expect(logs.lines.join("\n")).not.toMatch(/s3cret|127\.0\.0\.1/)
    }))

  it.scoped("a collector that stalls one answer's body: that export is given up at the timeout, and the next ones go out", () =>
    Effect.gen(function* () {
      // found by a diff review: the body was never read, so a stalled one held the exporter's one connection (its
      // body timeout off) until collected, and every later export, the last at shutdown too, timed out behind it
      const c = yield* collectorIn({ stall: (n) => n === 1 })
      yield* Layer.build(Otlp.metricsLayer(settingsFor(`${c.base}/v1/metrics`, "http/json")))
      yield* TestClock.adjust("10 seconds")
      yield* Effect.promise(() => c.received(1))
      yield* TestClock.adjust("2 seconds") // the timeout: the export is given up, its connection closed
      // the minute without exports after a failure, then the next one reaches the collector
      for (let i = 0; i < 7; i++) yield* TestClock.adjust("10 seconds")
      yield* until(() => c.posts.length > 1)
      expect(c.posts.length).toBeGreaterThan(1)
    }))

  it.scoped("the last export as the exporter closes, what was counted since the last one in it; a collector that never answers holds the close for the timeout at most", () =>
    Effect.gen(function* () {
      const run = "otlpm-last"
      const c = yield* collectorIn()
      const { ask } = yield* failingOver(run)
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(Otlp.metricsLayer(settingsFor(`${c.base}/v1/metrics`, "http/json", { interval: Duration.minutes(1) })), scope)
      yield* ask
      yield* Scope.close(scope, Exit.void)
      yield* Effect.promise(() => c.received(1))
      expect(valueIn([JSON.parse(c.posts[0]!.body.toString("utf8")) as MetricsData], "llm_requests_total", { run, chain: `${run}-chain`, outcome: "success" })).toBe(1)

      // a collector that takes the request and never answers
      const silent = createServer((request) => request.resume())
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))),
        () => Effect.promise(() => new Promise((resolve) => { silent.closeAllConnections(); silent.close(resolve) }))
      )
      const arrived = yield* Deferred.make<void>()
      silent.on("request", () => Effect.runSync(Deferred.succeed(arrived, undefined)))
      const held = yield* Scope.make()
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/v1/metrics`
      yield* Layer.buildWithScope(Otlp.metricsLayer(settingsFor(url, "http/json", { interval: Duration.minutes(1), timeout: Duration.seconds(2) })), held)
      const closing = yield* Effect.fork(Scope.close(held, Exit.void))
      yield* Deferred.await(arrived)
      yield* TestClock.adjust("1999 millis")
      expect(closing.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(Exit.isSuccess(yield* Fiber.await(closing))).toBe(true)
    }))
})

// ---------------------------------------------------------------------------
// serve
// ---------------------------------------------------------------------------



describe("serve with OTEL_METRICS_EXPORTER=otlp", () => {
  it("names where metrics go in its banner, and pushes the request's metrics as it stops, with the collector's headers and no key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-failover-otlp-metrics-"))
    const config = join(dir, "config.yaml")
    // the collector, and Claude's API for the gateway's one provider (its key sent as x-api-key)
    const c = await collector({
      answer: (path) =>
        path === "/v1/messages"
          ? claudeHello
          : undefined
    })
    writeFileSync(
      config,
      [
        `providers: { claude: { type: anthropic, baseUrl: "${c.base}/v1", apiKey: "sk-ant-provider-s3cret" } }`,
        "models: { m: { provider: claude, model: claude-test } }",
        ""
      ].join("\n")
    )
    // an interval no test waits for: what is pushed is the last export, at SIGTERM
    const { child, exited, output, until } = serveFromSource(config, {
      OTEL_METRICS_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${c.base}/custom/metrics`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_HEADERS: "x-team=collector%20s3cret",
      OTEL_SERVICE_NAME: "gateway-under-test",
      OTEL_TRACES_EXPORTER: "none"
    })
    try {
      const url = (await until(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!
      // the banner comes after the listening line, in a write of its own
      await until(/Metrics: pushed to/)
      expect(output()).toContain(`Metrics: pushed to ${c.base}/custom/metrics (OTLP http/json, every 60 s).`)
      expect(output()).not.toContain("Traces:")
      const answer = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer client-s3cret" },
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] })
      })
      expect(answer.status).toBe(200)
      expect(c.posts).toHaveLength(0)
      child.kill("SIGTERM")
      await exited
      expect(c.posts.length).toBe(1)
      const [post] = c.posts
      expect([post!.path, post!.headers["x-team"]]).toEqual(["/custom/metrics", "collector s3cret"])
      const data = JSON.parse(post!.body.toString("utf8")) as MetricsData
      expect(data.resourceMetrics[0]!.resource.attributes).toContainEqual({ key: "service.name", value: { stringValue: "gateway-under-test" } })
      expect(valueIn([data], "llm_requests_total", { chain: "m", outcome: "success" })).toBe(1)
      expect(valueIn([data], "llm_tokens_total", { provider: "claude", model: "claude-test", direction: "input" })).toBe(3)
      expect(post!.body.toString("utf8")).not.toMatch(/s3cret/)
      expect(output()).not.toMatch(/s3cret/)
    } finally {
      child.kill("SIGKILL")
      await c.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
