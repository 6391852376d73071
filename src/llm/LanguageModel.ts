/**
 * The `LanguageModel` service: what an app asks for a chat completion. A
 * provider adapter implements it for one model; the router implements it for
 * a whole failover chain, so app code never changes when resilience is added.
 *
 * @since 0.1.0
 */
import { Context, Effect, Stream } from "effect"
import type { ChatChunk, ChatRequest, ChatResponse } from "./Chat.js"
import type { ChainExhausted, StreamInterrupted } from "./FailoverError.js"
import type { ModelInfo } from "./ModelInfo.js"
import type { ProviderError } from "./ProviderError.js"

/**
 * A language model, generic in the errors it can fail with. A provider
 * adapter is a `Service<ProviderError>`; a router chain narrows that to
 * fatal errors plus {@link ChainExhausted}.
 *
 * @example
 * ```ts
 * import { Layer, Stream } from "effect"
 * import { Chat, LanguageModel } from "effect-llm-failover/llm"
 *
 * // a model that always answers "ok", as a test double
 * const chunks = Stream.fromIterable<Chat.ChatChunk>([{ _tag: "TextDelta", text: "ok" }, { _tag: "Finish", reason: "stop" }])
 * const canned: LanguageModel.Service = {
 *   info: { provider: "canned", model: "ok", contextWindow: 8_192, price: { input: 0, output: 0 } },
 *   complete: () => Chat.collect(chunks, { id: "1", provider: "canned", model: "ok" }),
 *   stream: () => chunks
 * }
 * const CannedModel = Layer.succeed(LanguageModel.LanguageModel, canned)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service<E = ProviderError> {
  /** The model behind the service (for a chain: its first target). */
  readonly info: ModelInfo
  /** One whole completion. */
  readonly complete: (request: ChatRequest) => Effect.Effect<ChatResponse, E>
  /**
   * A completion as a stream of chunks, ending with a `Finish` chunk (and
   * then, if known, `Usage`). The router takes a stream that ends without
   * its `Finish` as cut short: a `MalformedResponse` of the model.
   */
  readonly stream: (request: ChatRequest) => Stream.Stream<ChatChunk, E>
}

/**
 * Every error the `LanguageModel` tag can fail with: a provider's errors, or
 * (when the router provides it) a chain's.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat, LanguageModel } from "effect-llm-failover/llm"
 *
 * const answer = LanguageModel.complete(Chat.prompt("Hi")).pipe(
 *   Effect.map((response) => response.text),
 *   Effect.catchAll((error: LanguageModel.LanguageModelError) =>
 *     Effect.succeed(error._tag === "ChainExhausted" ? "every model is down: try later" : `failed: ${error.message}`)
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type LanguageModelError = ProviderError | ChainExhausted | StreamInterrupted

/**
 * The `LanguageModel` service tag.
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat, LanguageModel } from "effect-llm-failover/llm"
 *
 * const program = Effect.gen(function* () {
 *   const model = yield* LanguageModel.LanguageModel
 *   const response = yield* model.complete(Chat.prompt("Say hi"))
 *   return response.text
 * })
 *
 * @since 0.1.0
 * @category tags
 */
export class LanguageModel extends Context.Tag("effect-llm-failover/LanguageModel")<
  LanguageModel,
  Service<LanguageModelError>
>() {}

/**
 * Asks the `LanguageModel` in context for one completion.
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat, LanguageModel } from "effect-llm-failover/llm"
 *
 * const text = LanguageModel.complete(Chat.prompt("Say hi")).pipe(Effect.map((r) => r.text))
 *
 * @since 0.1.0
 * @category accessors
 */
export const complete = (
  request: ChatRequest
): Effect.Effect<ChatResponse, LanguageModelError, LanguageModel> =>
  Effect.flatMap(LanguageModel, (model) => model.complete(request))

/**
 * Asks the `LanguageModel` in context for a streamed completion.
 *
 * @example
 * import { Effect, Stream } from "effect"
 * import { Chat, LanguageModel } from "effect-llm-failover/llm"
 *
 * const printed = LanguageModel.stream(Chat.prompt("Tell a story")).pipe(
 *   Stream.runForEach((chunk) => Effect.log(chunk))
 * )
 *
 * @since 0.1.0
 * @category accessors
 */
export const stream = (
  request: ChatRequest
): Stream.Stream<ChatChunk, LanguageModelError, LanguageModel> =>
  Stream.unwrap(Effect.map(LanguageModel, (model) => model.stream(request)))
