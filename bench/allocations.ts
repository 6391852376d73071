/**
 * What a chat call allocates, layer by layer, in this process: the HTTP
 * client alone, a provider adapter (OpenAI's) over it, and the router over
 * that adapter, each as a completion and as a stream, against the gateway
 * benchmark's mock upstream (in a process of its own, on 127.0.0.1). The
 * three layers are measured over two HTTP clients, side by side in one run:
 * `@effect/platform-node`'s undici client and this package's
 * `UndiciHttpClient` (what `llm-failover serve` uses).
 *
 * Allocation is the figure here, not time: V8's sampling heap profiler,
 * keeping the objects collected by either GC, counts the bytes a call
 * allocates, whatever the machine's load, so the figures move only when the
 * code does. (What a call allocates is what the collector must clear, a
 * fifth of the gateway's CPU under load, and what fills the young
 * generation.) CPU time a call is measured too, in separate rounds without
 * the profiler; it varies with the load, as in every suite.
 *
 * Every row is 50 calls at a time, as the gateway suite's load. A stream is
 * read the way its consumer in this package reads it, one pull after
 * another, to the end: the adapter's as the router reads it and the
 * router's as the gateway does (`Pullable`: their own pulls, without the
 * `Stream`), the client's body with `Stream.toPull` (an adapter reads an
 * `UndiciHttpClient` body from its `Readable` instead, which the adapter's
 * row includes). The mock sends the whole answer at once, so a stream is
 * one read of the body: what it costs is the stream's machinery, not a
 * per-event cost.
 *
 * A second table follows one long answer the way a real one arrives: 100
 * words, one stream event a word, 2 ms apart (a second mock, `tokenDelay`),
 * so that each event is a read of its own, one stream at a time. Its
 * figures a stream over its events are the cost of a read, which is what a
 * long answer pays a token, where the first table's stream is mostly the
 * cost of opening one.
 *
 * Our modules are loaded compiled (see `lib/compiled.ts`), as they ship.
 */
import { NodeHttpClient } from "@effect/platform-node"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Effect, Option, Redacted, Stream } from "effect"
import type { Scope } from "effect"
import { Session } from "node:inspector/promises"
import * as chat from "./lib/chat.js"
import { importCompiled } from "./lib/compiled.js"
import { bytes, times } from "./lib/format.js"
import type { ForkedChild } from "./lib/processes.js"
import type { Cell, Suite, SuiteContext, SuiteResult } from "./lib/suite.js"

type ConfigModule = typeof import("../src/config/index.js")
type ProvidersModule = typeof import("../src/providers/index.js")
type RouterModule = typeof import("../src/router/index.js")
type LlmModule = typeof import("../src/llm/index.js")
type PullableModule = typeof import("../src/llm/internal/pullable.js")

const timing = {
  concurrency: 50,
  /** The long answer: its words (one event each, plus the role, finish and end events) and their pace, streams one at a time. */
  longWords: 100,
  longTokenDelayMillis: 2,
  longWarmupCalls: 10,
  longProfiledCalls: 30,
  longCpuCallsPerRound: 20,
  warmupCalls: 500,
  /** Calls under the heap profiler. */
  profiledCalls: 2_000,
  /** V8's mean sampling interval, in bytes: smaller samples more objects. */
  samplingInterval: 1_024,
  cpuRounds: 3,
  cpuCallsPerRound: 1_000
} as const

/** One call of one layer, as an effect that needs a scope (a stream's). */
type Call = Effect.Effect<unknown, unknown, Scope.Scope>

interface Layer {
  readonly label: string
  readonly complete: Call
  readonly stream: Call
}

/** Reads a pull to its end. */
const readToEnd = <A, E, R>(pull: Effect.Effect<A, Option.Option<E>, R>): Effect.Effect<void, E, R> =>
  Effect.forever(pull).pipe(
    Effect.catchAll((end): Effect.Effect<void, E, R> => (Option.isNone(end) ? Effect.void : Effect.fail(end.value)))
  )

/** Reads a stream to its end, one pull after another (`Stream.toPull`). */
const pullToEnd = <A, E, R>(stream: Stream.Stream<A, E, R>): Effect.Effect<void, E, R | Scope.Scope> =>
  Effect.flatMap(Stream.toPull(stream), readToEnd)

/** The layers over the ambient `HttpClient`, the client's row labelled `clientName`. */
const layersOver = (url: string, clientName: string) =>
  Effect.gen(function* () {
    const [Config, Providers, Router, Llm, Pullable] = yield* Effect.promise(() =>
      Promise.all([
        importCompiled<ConfigModule>("src/config/index.ts"),
        importCompiled<ProvidersModule>("src/providers/index.ts"),
        importCompiled<RouterModule>("src/router/index.ts"),
        importCompiled<LlmModule>("src/llm/index.ts"),
        importCompiled<PullableModule>("src/llm/internal/pullable.ts")
      ])
    )
    const client = yield* HttpClient.HttpClient
    const post = (stream: boolean) =>
      client.execute(
        HttpClientRequest.bodyUnsafeJson(HttpClientRequest.post(`${url}/v1/chat/completions`), {
          model: chat.upstreamModel,
          stream,
          messages: [{ role: "user", content: "hello" }]
        })
      )
    const provider = yield* Providers.OpenAi.make({
      model: chat.upstreamModel,
      baseUrl: `${url}/v1`,
      apiKey: Redacted.make(chat.upstreamKey)
    })
    // the gateway suite's config: no retry, no breaker trip, no hedge
    const { config } = yield* Config.Config.parse(chat.gatewayConfig(url, 1))
    const router = yield* Router.Router.make(yield* Config.Config.toRouterConfig(config))
    const request = Llm.Chat.prompt("hello")
    const layers: ReadonlyArray<Layer> = [
      {
        label: `HTTP client (${clientName})`,
        complete: Effect.flatMap(post(false), (response) => response.text),
        stream: Effect.flatMap(post(true), (response) => pullToEnd(response.stream))
      },
      {
        label: "provider adapter (OpenAi), over it",
        complete: provider.complete(request),
        // as the router reads it (see `Pullable`)
        stream: Effect.flatMap(Pullable.toPull(provider.stream(request)), readToEnd)
      },
      {
        label: "router (one target), over the adapter",
        complete: router.complete(request, { chain: "healthy" }),
        // as the gateway reads it (see `Pullable`)
        stream: Effect.flatMap(router.stream(request, { chain: "healthy" }), (started) =>
          Effect.flatMap(Pullable.toPull(started.chunks), readToEnd)
        )
      }
    ]
    return layers
  })

/** `n` calls, `concurrency` at a time. */
const calls = (call: Call, n: number, concurrency: number = timing.concurrency) =>
  Effect.forEach(Array.from({ length: n }), () => Effect.scoped(call), { concurrency, discard: true })

/** Bytes allocated a call, by the sampling heap profiler over `profiledCalls` calls. */
const allocatedPerCall = (session: Session, call: Call, n: number = timing.profiledCalls, concurrency?: number) =>
  Effect.gen(function* () {
    yield* Effect.promise(() =>
      session.post("HeapProfiler.startSampling", {
        samplingInterval: timing.samplingInterval,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true
      })
    )
    yield* calls(call, n, concurrency)
    const { profile } = yield* Effect.promise(() => session.post("HeapProfiler.stopSampling"))
    let total = 0
    const walk = (node: { readonly selfSize: number; readonly children: ReadonlyArray<typeof node> }): void => {
      total += node.selfSize
      for (const child of node.children) walk(child)
    }
    walk(profile.head)
    return total / n
  })

/** CPU time a call in µs, the median of `cpuRounds` rounds. */
const cpuPerCall = (call: Call, n: number = timing.cpuCallsPerRound, concurrency?: number) =>
  Effect.gen(function* () {
    const rounds: Array<number> = []
    for (let round = 0; round < timing.cpuRounds; round++) {
      const before = process.cpuUsage()
      yield* calls(call, n, concurrency)
      const used = process.cpuUsage(before)
      rounds.push((used.user + used.system) / n)
    }
    return rounds.sort((a, b) => a - b)[Math.floor(rounds.length / 2)]!
  })

interface Figures {
  readonly label: string
  readonly completeBytes: number
  readonly streamBytes: number
  readonly completeCpuUs: number
  readonly streamCpuUs: number
}

/**
 * The HTTP clients the layers are measured over, side by side: the
 * platform's undici client, and this package's (`UndiciHttpClient`, which
 * `llm-failover serve` uses).
 */
const clients = Effect.map(
  Effect.promise(() => importCompiled<ProvidersModule>("src/providers/index.ts")),
  (Providers) =>
    [
      { name: "@effect/platform, undici", layer: NodeHttpClient.layerUndici },
      { name: "UndiciHttpClient", layer: Providers.UndiciHttpClient.layer }
    ] as const
)

/** The layers a client has: the client, the adapter over it, the router over that. */
const layersPerClient = 3

/**
 * Runs `measure` on each layer over `url`, over each client in turn, with a
 * profiler session open throughout: `layersPerClient` figures a client.
 */
const eachLayer = <F>(url: string, measure: (session: Session, layer: Layer) => Effect.Effect<F, unknown, Scope.Scope>) =>
  Effect.gen(function* () {
    const session = new Session()
    session.connect()
    const figures: Array<F> = []
    for (const client of yield* clients) {
      yield* Effect.gen(function* () {
        for (const layer of yield* layersOver(url, client.name)) figures.push(yield* measure(session, layer))
      }).pipe(Effect.scoped, Effect.provide(client.layer))
    }
    session.disconnect()
    return figures
  })

const measureAll = (url: string, log: (line: string) => void) =>
  eachLayer(url, (session, layer) =>
    Effect.gen(function* () {
      yield* calls(layer.complete, timing.warmupCalls)
      yield* calls(layer.stream, timing.warmupCalls)
      const completeBytes = yield* allocatedPerCall(session, layer.complete)
      const streamBytes = yield* allocatedPerCall(session, layer.stream)
      const completeCpuUs = yield* cpuPerCall(layer.complete)
      const streamCpuUs = yield* cpuPerCall(layer.stream)
      log(`  ${layer.label}: ${bytes(completeBytes)} a completion, ${bytes(streamBytes)} a stream`)
      return { label: layer.label, completeBytes, streamBytes, completeCpuUs, streamCpuUs } satisfies Figures
    })
  )

interface LongFigures {
  readonly label: string
  readonly streamBytes: number
  readonly streamCpuUs: number
}

/** The long answer's streams, one at a time, through each layer. */
const measureLong = (url: string, log: (line: string) => void) =>
  eachLayer(url, (session, layer) =>
    Effect.gen(function* () {
      yield* calls(layer.stream, timing.longWarmupCalls, 1)
      const streamBytes = yield* allocatedPerCall(session, layer.stream, timing.longProfiledCalls, 1)
      const streamCpuUs = yield* cpuPerCall(layer.stream, timing.longCpuCallsPerRound, 1)
      log(`  long answer, ${layer.label}: ${bytes(streamBytes)} a stream`)
      return { label: layer.label, streamBytes, streamCpuUs } satisfies LongFigures
    })
  )

/** A table's rows, one a layer, each made with the layer below it over the same client (none for a client's own row). */
const layerRows = <F>(figures: ReadonlyArray<F>, row: (f: F, below: F | undefined) => ReadonlyArray<Cell>) =>
  figures.map((f, i) => row(f, i % layersPerClient === 0 ? undefined : figures[i - 1]))

/** What a layer adds to the one below, in bytes (divided by `per`); blank for the first layer. */
const addedBytes = (value: number, below: number | undefined, per = 1) =>
  below === undefined ? "" : bytes((value - below) / per)

/** The long answer's events: the role, one a word, the finish, and the end (`[DONE]`). */
const longEvents = timing.longWords + 3

const micros = (us: number) => (us < 1_000 ? `${us.toFixed(0)} µs` : `${(us / 1_000).toFixed(2)} ms`)

const run = async ({ log }: SuiteContext): Promise<SuiteResult> => {
  process.env["BENCH_UPSTREAM_KEY"] = chat.upstreamKey
  let mock: ForkedChild | undefined
  let paced: ForkedChild | undefined
  try {
    const started = await chat.startMock()
    mock = started.mock
    const figures = await Effect.runPromise(measureAll(started.url, log))
    const long = await chat.startMock({
      text: Array.from({ length: timing.longWords }, (_, i) => `word${i}`).join(" "),
      tokenDelayMillis: timing.longTokenDelayMillis
    })
    paced = long.mock
    const longFigures = await Effect.runPromise(measureLong(long.url, log))
    const longRows = layerRows(longFigures, (f, below) => [
      f.label,
      bytes(f.streamBytes),
      addedBytes(f.streamBytes, below?.streamBytes),
      bytes(f.streamBytes / longEvents),
      addedBytes(f.streamBytes, below?.streamBytes, longEvents),
      micros(f.streamCpuUs),
      micros(f.streamCpuUs / longEvents)
    ])
    const rows = layerRows(figures, (f, below) => [
      f.label,
      bytes(f.completeBytes),
      addedBytes(f.completeBytes, below?.completeBytes),
      bytes(f.streamBytes),
      addedBytes(f.streamBytes, below?.streamBytes),
      times(f.streamBytes / f.completeBytes),
      micros(f.completeCpuUs),
      micros(f.streamCpuUs)
    ])
    // what `serve` runs: the layers over this package's client
    const [client, adapter, top] = figures.slice(layersPerClient) as [Figures, Figures, Figures]
    const longOurs = longFigures.slice(layersPerClient)
    const longTop = longOurs[2]!
    /** Ours over the platform's, layer by layer, as `name ratio`. */
    const against = <F>(all: ReadonlyArray<F>, value: (f: F) => number) =>
      ["client", "adapter", "router"]
        .map((name, i) => `${name} ${times(value(all[layersPerClient + i]!) / value(all[i]!))}`)
        .join(", ")
    return {
      tables: [
        {
          title: "Allocated a call, layer by layer (50 calls at a time)",
          columns: [
            "layer",
            "a completion",
            "the layer adds",
            "a stream",
            "the layer adds",
            "stream / completion",
            "CPU a completion",
            "CPU a stream"
          ],
          rows,
          note:
            `Bytes allocated a call (collected or not) by V8's sampling heap profiler (mean interval ${timing.samplingInterval} B), ` +
            `over ${timing.profiledCalls} calls a row after ${timing.warmupCalls} to warm up; the layer adds: this row minus the row above. ` +
            `CPU: this process's CPU time a call, the median of ${timing.cpuRounds} rounds of ${timing.cpuCallsPerRound} calls, ` +
            "without the profiler (the mock upstream runs in another process). A stream is read as its consumer reads it, pull by pull."
        },
        {
          title: `A long answer: ${longEvents} events, ${timing.longTokenDelayMillis} ms apart, one stream at a time`,
          columns: ["layer", "a stream", "the layer adds", "an event", "the layer adds an event", "CPU a stream", "CPU an event"],
          rows: longRows,
          note:
            `The same layers against a second mock that answers ${timing.longWords} words, one stream event a word ` +
            `(${longEvents} events with the role, the finish and [DONE]), ${timing.longTokenDelayMillis} ms apart, so that ` +
            "each event is a read of its own; one stream at a time. Bytes: " +
            `${timing.longProfiledCalls} streams under the profiler after ${timing.longWarmupCalls}; CPU: the median of ` +
            `${timing.cpuRounds} rounds of ${timing.longCpuCallsPerRound}. An event's figure is the stream's over its events: ` +
            "what a long answer pays a token."
        }
      ],
      summary: [
        `Over UndiciHttpClient (as serve), through the router a stream allocates ${times(top.streamBytes / top.completeBytes)} what a completion does ` +
        `(${bytes(top.streamBytes)} against ${bytes(top.completeBytes)}); the router adds ` +
        `${bytes(top.streamBytes - adapter.streamBytes)} to a stream and ${bytes(top.completeBytes - adapter.completeBytes)} to a completion, ` +
        `the adapter ${bytes(adapter.streamBytes - client.streamBytes)} and ${bytes(adapter.completeBytes - client.completeBytes)}.`,
        `A long answer costs ${bytes(longTop.streamBytes / longEvents)} and ${micros(longTop.streamCpuUs / longEvents)} of CPU an event ` +
        `through the router: the HTTP client ${bytes(longOurs[0]!.streamBytes / longEvents)}, ` +
        `the adapter ${bytes((longOurs[1]!.streamBytes - longOurs[0]!.streamBytes) / longEvents)}, ` +
        `the router ${bytes((longTop.streamBytes - longOurs[1]!.streamBytes) / longEvents)} (over UndiciHttpClient).`,
        `UndiciHttpClient against the platform's client, allocation: completion ${against(figures, (f) => f.completeBytes)}; ` +
        `stream ${against(figures, (f) => f.streamBytes)}; long answer ${against(longFigures, (f) => f.streamBytes)}.`
      ],
      data: { timing, figures, longFigures }
    }
  } finally {
    await mock?.stop()
    await paced?.stop()
  }
}

/** The allocation suite. */
export const suite: Suite = {
  name: "allocations",
  description: "bytes allocated (and CPU) a chat call, layer by layer in process: HTTP client, provider adapter, router; completion and stream",
  run
}
