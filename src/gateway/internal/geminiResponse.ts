/**
 * Writes neutral responses, stream chunks and failures in the Gemini API's
 * wire format: the `GenerateContentResponse` of a whole answer, the
 * server-sent events of `streamGenerateContent?alt=sse` (each `data:` a
 * `GenerateContentResponse`, no terminal event) or, without `alt=sse`, the
 * JSON array of the same answers, and Google's error JSON
 * `{ "error": { "code", "message", "status" } }`.
 *
 * An answer is `candidates[0]`: `content` (role `model`) with its text as
 * a `text` part and each tool call as a `functionCall` part (`id`, `name`,
 * `args` parsed into an object: `{}` when they are no JSON object, as a
 * length stop can leave them; a signature a Gemini provider gave as the
 * part's `thoughtSignature`), `finishReason` (`STOP`, also for a call, as
 * Gemini says; `MAX_TOKENS`; `SAFETY`, or the provider's own Gemini word
 * such as `RECITATION`, for a stop on policy; `OTHER` for an error
 * finish), `index` 0; then `usageMetadata` (`promptTokenCount`,
 * `candidatesTokenCount` without the thinking, `thoughtsTokenCount` when
 * the provider counted some, `totalTokenCount`, `cachedContentTokenCount`
 * when its cache served part of the prompt), `modelVersion` (the model
 * that served) and `responseId`.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import type { ChatChunk, ChatResponse, FinishReason, ToolCall, Usage } from "../../llm/Chat.js"
import type { ContentFiltered } from "../../llm/ProviderError.js"
import type * as Errors from "./errors.js"
import type { StreamEncoder } from "./response.js"

/** A new response id (Gemini's are opaque strings). @internal */
export const responseId = (): string => randomUUID().replaceAll("-", "")

/**
 * Google's canonical status (`google.rpc.Code`) for an HTTP status, as
 * Google's APIs pair them; a status with no pair of its own takes the one
 * of its class (4xx `INVALID_ARGUMENT`, 5xx `INTERNAL`).
 *
 * @internal
 */
export const googleStatus = (status: number): string => {
  switch (status) {
    case 400:
      return "INVALID_ARGUMENT"
    case 401:
      return "UNAUTHENTICATED"
    case 403:
      return "PERMISSION_DENIED"
    case 404:
      return "NOT_FOUND"
    case 408:
    case 504:
      return "DEADLINE_EXCEEDED"
    case 409:
      return "ABORTED"
    case 429:
      return "RESOURCE_EXHAUSTED"
    case 499:
      return "CANCELLED"
    case 501:
      return "UNIMPLEMENTED"
    case 502:
    case 503:
      return "UNAVAILABLE"
    default:
      return status >= 500 ? "INTERNAL" : "INVALID_ARGUMENT"
  }
}

/**
 * Google's error JSON of a gateway failure: its HTTP status as `code`, the
 * gateway's message, Google's `status`, the failure's extra fields (an
 * exhausted chain's `attempts`), and `details` as Google's APIs give them:
 * a `google.rpc.ErrorInfo` (`reason`: the gateway's error code, upper-cased;
 * `domain` this package; `metadata` the field at fault, if any) and, when
 * the failure says when to come back (`Retry-After`), a
 * `google.rpc.RetryInfo` with that `retryDelay` (Gemini CLI waits for it
 * before it retries a 429).
 *
 * @internal
 */
export const errorJson = (failure: Errors.Failure) => {
  const retryAfter = failure.headers?.["retry-after"]
  const seconds = retryAfter === undefined ? Number.NaN : Number(retryAfter)
  return {
    error: {
      code: failure.status,
      message: failure.message,
      status: googleStatus(failure.status),
      ...failure.details,
      details: [
        {
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: (failure.code ?? failure.type).toUpperCase(),
          domain: "effect-llm-failover",
          ...(failure.param !== null ? { metadata: { param: failure.param } } : {})
        },
        ...(Number.isFinite(seconds) ? [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${seconds}s` }] : [])
      ]
    }
  }
}

/** Gemini's finish words for a stop on policy, kept when the provider gave one (a Gemini provider's own). */
const policyFinishes: ReadonlySet<string> = new Set(["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"])

/** Gemini's `finishReason` for a finish. @internal */
export const finishReason = (reason: FinishReason): string => {
  switch (reason) {
    case "length":
      return "MAX_TOKENS"
    case "content_filter":
      return "SAFETY"
    case "error":
      return "OTHER"
    default:
      return "STOP"
  }
}

/** The `finishReason` of an answer its provider stopped on policy: the provider's Gemini word, else `SAFETY`. */
const stoppedReason = (error: ContentFiltered): string =>
  error.reason !== undefined && policyFinishes.has(error.reason) ? error.reason : "SAFETY"

/**
 * Gemini's `usageMetadata`: the prompt (its cached part as
 * `cachedContentTokenCount`), the answer without its thinking as
 * `candidatesTokenCount` and the thinking as `thoughtsTokenCount` (Gemini
 * counts them apart), and the total.
 *
 * @internal
 */
export const usageJson = (usage: Usage) => {
  const thoughts = usage.reasoningTokens ?? 0
  return {
    promptTokenCount: usage.inputTokens,
    candidatesTokenCount: Math.max(0, usage.outputTokens - thoughts),
    ...(usage.reasoningTokens !== undefined ? { thoughtsTokenCount: thoughts } : {}),
    totalTokenCount: usage.inputTokens + usage.outputTokens,
    ...(usage.cacheReadTokens !== undefined ? { cachedContentTokenCount: usage.cacheReadTokens } : {})
  }
}

/** A tool call's arguments as `args`: the JSON object they hold, else `{}`. */
const argsOf = (args: string): Record<string, unknown> => {
  try {
    const parsed: unknown = JSON.parse(args)
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

const callPart = (call: ToolCall) => ({
  functionCall: { id: call.id, name: call.name, args: argsOf(call.arguments) },
  ...(call.signature !== undefined ? { thoughtSignature: call.signature } : {})
})

/** A `GenerateContentResponse`: one candidate (its content left out when it has no part), and what comes with it. */
const responseJson = (
  id: string,
  model: string,
  parts: ReadonlyArray<unknown>,
  finish: string | undefined,
  usage: Usage | undefined
) => ({
  candidates: [
    {
      ...(parts.length > 0 ? { content: { parts, role: "model" } } : {}),
      ...(finish !== undefined ? { finishReason: finish } : {}),
      index: 0
    }
  ],
  ...(usage !== undefined ? { usageMetadata: usageJson(usage) } : {}),
  modelVersion: model,
  responseId: id
})

/**
 * The `GenerateContentResponse` of a whole answer: its text (if any, or
 * if it has no call), then its calls.
 *
 * @internal
 */
export const completion = (id: string, response: ChatResponse) => {
  const calls = response.toolCalls
  const parts = [...(response.text.length > 0 || calls.length === 0 ? [{ text: response.text }] : []), ...calls.map(callPart)]
  return responseJson(id, response.model, parts, finishReason(response.finishReason), response.usage)
}

/** The text of an answer its provider stopped on policy: what came before the stop, and the model's refusal. */
const stoppedText = (error: ContentFiltered): string => (error.partialText ?? "") + (error.refusal ?? "")

/**
 * The `GenerateContentResponse` of an answer its provider stopped on
 * policy (see `isStoppedAnswer`), as Gemini answers one: a 200, the text
 * before the stop (if any) as a part, `finishReason` `SAFETY` (or the
 * provider's own Gemini word).
 *
 * @internal
 */
export const stoppedCompletion = (id: string, error: ContentFiltered) => {
  const text = stoppedText(error)
  return responseJson(id, error.model, text.length > 0 ? [{ text }] : [], stoppedReason(error), error.usage ?? { inputTokens: 0, outputTokens: 0 })
}

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

/**
 * Turns a stream of neutral chunks into the events of
 * `streamGenerateContent?alt=sse`, as Gemini sends them: a
 * `GenerateContentResponse` a `data:` event, each with the text that came
 * (no event before the first content: Gemini's stream has no opening
 * one), the last with the calls, the `finishReason` and the whole
 * `usageMetadata` (the provider's count). Gemini sends each function call
 * whole, so a call's arguments, which some providers stream in pieces,
 * are gathered and go out, parsed as `args`, in that last event. Mutable
 * by design: one encoder serves one stream, in order.
 *
 * A failure after the first event ends the stream as Gemini's own do
 * (`failed`): Google's error JSON, bare, outside any `data:` event, then
 * the end of the body. Google's Gen AI SDK looks for just that in a read
 * of the stream and raises it as its `ApiError`, with the error's `code`
 * as its status; an SSE reader sees no `finishReason`, so the answer reads
 * as cut short.
 *
 * Framed as an `"array"` (a `streamGenerateContent` without `alt=sse`,
 * Gemini's default, `application/json`), the same answers are the elements
 * of one JSON array written as they come: `[` before the first, `,\r\n`
 * between two, as Gemini separates them, `]` after the last; a failure is
 * its error JSON as the last element, so that the body still parses whole.
 *
 * @internal
 */
export class ResponseEncoder implements StreamEncoder {
  private readonly calls: Array<{ id: string; name: string; arguments: string; signature?: string }> = []
  private finish: FinishReason = "unknown"
  private reason: string | undefined
  /** Whether an array's first element went out. */
  private opened = false
  readonly contentType: string | undefined

  constructor(
    readonly id: string,
    readonly model: string,
    readonly framing: "sse" | "array" = "sse"
  ) {
    this.contentType = framing === "array" ? "application/json" : undefined
  }

  /** One answer's JSON, framed: a `data:` event, or an array's next element. */
  private framed(json: string): string {
    if (this.framing === "sse") return `data: ${json}\n\n`
    const before = this.opened ? ",\r\n" : "["
    this.opened = true
    return before + json
  }

  private event(parts: ReadonlyArray<unknown>, finish?: string, usage?: Usage): string {
    return this.framed(JSON.stringify(responseJson(this.id, this.model, parts, finish, usage)))
  }

  /** Nothing: Gemini's stream opens with its first content. */
  start(): string {
    return ""
  }

  /** A text's event; a call's pieces kept for the end (usage and the finish wait for it too). */
  chunk(chunk: ChatChunk): string | undefined {
    switch (chunk._tag) {
      case "TextDelta":
        return chunk.text.length === 0 ? undefined : this.event([{ text: chunk.text }])
      case "ToolCallDelta": {
        const call = this.calls[chunk.index] ?? (this.calls[chunk.index] = { id: chunk.id ?? `call_${responseId().slice(0, 24)}`, name: "", arguments: "" })
        if (chunk.name !== undefined && call.name === "") call.name = chunk.name
        if (chunk.signature !== undefined) call.signature = chunk.signature
        call.arguments += chunk.arguments
        return undefined
      }
      case "Finish":
        this.finish = chunk.reason
        return undefined
      case "Usage":
        return undefined
    }
  }

  /** The model's refusal, if any, as text; the stream then ends (in `end`) with `finishReason` `SAFETY`. */
  stopped(error: ContentFiltered): string {
    this.finish = "content_filter"
    this.reason = stoppedReason(error)
    return error.refusal ? this.event([{ text: error.refusal }]) : ""
  }

  /** The whole stream of an answer its provider stopped on policy before any of it went out. */
  stoppedStream(error: ContentFiltered): string {
    const before = error.partialText ? this.event([{ text: error.partialText }]) : ""
    return before + this.stopped(error) + this.end(error.usage ?? { inputTokens: 0, outputTokens: 0 })
  }

  /** The last event: the calls gathered, the `finishReason`, the usage (and an array's end). */
  end(usage: Usage): string {
    const calls = this.calls.filter((call) => call !== undefined).map(callPart)
    const last = this.event(calls, this.reason ?? finishReason(this.finish), usage)
    return this.framing === "array" ? `${last}]` : last
  }

  /** Google's error JSON, bare (no `data:`), as Gemini ends a stream that failed; an array's last element (see the class's docs). */
  failed(failure: Errors.Failure): string {
    const json = JSON.stringify(errorJson(failure))
    return this.framing === "array" ? `${this.framed(json)}]` : `${json}\n`
  }
}
