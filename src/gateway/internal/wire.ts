/**
 * The wire formats the gateway answers in over the same router: each a
 * request decoder, the JSON of a whole answer (and of one its provider
 * stopped on policy), and a stream encoder. The chat route speaks Chat
 * Completions (`request.ts`, `response.ts`); the responses route the
 * Responses API (`responsesRequest.ts`, `responsesResponse.ts`).
 *
 * @internal
 */
import type * as Either from "effect/Either"
import { randomUUID } from "node:crypto"
import type { ChatResponse } from "../../llm/Chat.js"
import type { ContentFiltered } from "../../llm/ProviderError.js"
import * as WireRequest from "./request.js"
import * as WireResponse from "./response.js"
import * as ResponsesRequest from "./responsesRequest.js"
import * as ResponsesResponse from "./responsesResponse.js"

/**
 * A wire format: `D` is what its decoder makes of a request (the neutral
 * request, the chain it names, whether it streams, and what else its
 * answers need).
 *
 * @internal
 */
export interface Wire<D extends WireRequest.Decoded> {
  /** Decodes a parsed JSON body; the left side names the wrong field. */
  readonly decode: (body: unknown) => Either.Either<D, WireRequest.InvalidField>
  /** The JSON body of a whole answer, created at `created` (Unix seconds). */
  readonly completion: (decoded: D, created: number, response: ChatResponse) => unknown
  /** The JSON body of an answer its provider stopped on policy (see `isStoppedAnswer`). */
  readonly stopped: (decoded: D, created: number, error: ContentFiltered) => unknown
  /** The encoder of one streamed answer, served by `model`. */
  readonly encoder: (decoded: D, created: number, model: string) => WireResponse.StreamEncoder
}

const completionId = (): string => `chatcmpl-${randomUUID().replaceAll("-", "")}`

/**
 * Chat Completions (`POST /v1/chat/completions`).
 *
 * @internal
 */
export const chat: Wire<WireRequest.Decoded> = {
  decode: WireRequest.decode,
  completion: (_, created, response) => WireResponse.completion(completionId(), created, response),
  stopped: (_, created, error) => WireResponse.stoppedCompletion(completionId(), created, error),
  encoder: (decoded, created, model) => new WireResponse.ChunkEncoder(completionId(), created, model, decoded.includeUsage)
}

/**
 * The Responses API (`POST /v1/responses`), stateless.
 *
 * @internal
 */
export const responses: Wire<ResponsesRequest.Decoded> = {
  decode: ResponsesRequest.decode,
  completion: (decoded, created, response) => ResponsesResponse.completion(ResponsesResponse.responseId(), created, decoded.echo, response),
  stopped: (decoded, created, error) => ResponsesResponse.stoppedCompletion(ResponsesResponse.responseId(), created, decoded.echo, error),
  encoder: (decoded, created, model) => new ResponsesResponse.ResponseEncoder(ResponsesResponse.responseId(), created, model, decoded.echo)
}
