/**
 * An `HttpClient` on undici that costs a call less than
 * `@effect/platform-node`'s `NodeHttpClient.layerUndici`, for the hot path
 * of a gateway: the same `HttpClient` service, requests, responses and
 * errors, so every adapter, `HttpClient` combinator and test works with
 * either.
 *
 * What it leaves out, per call, when tracing is off:
 *
 * - the `AbortController` abort at the end of every streamed body (an
 *   `AbortError` `DOMException` with a stack, and an abort event through
 *   undici's listeners). A body read to its end needs no abort; a body left
 *   early is destroyed, which aborts its request all the same;
 * - the wrapper response, and an effect run synchronously to cache each
 *   response's text.
 *
 * A call whose span would go somewhere goes through the platform's own
 * undici client on the same dispatcher, so its span, attributes and trace
 * headers are exactly the platform's: that is, when tracing is enabled, the
 * tracer is not Effect's built-in one (an exporter's, as
 * `@effect/opentelemetry` installs), and the request is not excluded by
 * `HttpClient.currentTracerDisabledWhen`. Under Effect's built-in tracer,
 * whose spans no exporter reads, a call makes no span and sends no trace
 * headers. `llm-failover serve` installs a tracer only when an exporter is
 * configured.
 *
 * `HttpClient.withScope` and undici's request options
 * (`NodeHttpClient.UndiciRequestOptions`, in a call's context or given to
 * the layer) work as with the platform's client.
 *
 * The adapters of this package (OpenAI, Anthropic, Gemini) on this client
 * as it was made (no `transformClient`) send the calls no span would go
 * anywhere for straight on its dispatcher, without the platform's request or the client's
 * pipeline, the deadline for the response headers on a timer: the same
 * requests, answers and errors (`test/DirectPost.test.ts`), for less CPU a
 * call. A streamed body also lends the SSE reader of the adapters its Node
 * `Readable`, so that each read of a stream is one wait on it, under a
 * plain timer (see `src/providers/internal/readableReader.ts`).
 *
 * Measured in the `allocations` benchmark: see BENCHMARKS.md.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Agent, type Dispatcher } from "undici"
import * as internal from "./internal/undici.js"

/**
 * Builds the client on `dispatcher` (an undici `Agent`, `Pool`, or any
 * `Dispatcher`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Agent } from "undici"
 * import { UndiciHttpClient } from "effect-llm-failover/providers"
 *
 * const client = UndiciHttpClient.make(new Agent({ connections: 64 }))
 * const status = Effect.map(client.get("http://127.0.0.1:8080/healthz"), (response) => response.status)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (dispatcher: Dispatcher) => HttpClient.HttpClient = internal.make

/**
 * The client on an undici `Agent` of its own, closed with the layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { OpenAi, UndiciHttpClient } from "effect-llm-failover/providers"
 *
 * const program = Effect.gen(function* () {
 *   const model = yield* OpenAi.make({ model: "gpt-4o-mini" })
 *   return yield* model.complete(Chat.prompt("Hello"))
 * }).pipe(Effect.provide(UndiciHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<HttpClient.HttpClient> = Layer.scoped(
  HttpClient.HttpClient,
  Effect.gen(function* () {
    // undici's request options given to the layer reach every call, as with the platform's layer
    const options = yield* Effect.serviceOption(NodeHttpClient.UndiciRequestOptions)
    const agent = yield* Effect.acquireRelease(Effect.sync(() => new Agent()), (agent) =>
      Effect.promise(() => agent.destroy())
    )
    return internal.make(agent, options)
  })
)
