/**
 * Writes neutral responses and stream chunks in OpenAI's Chat Completions
 * wire format: the `chat.completion` JSON and the `chat.completion.chunk`
 * server-sent events, ending with `data: [DONE]`.
 *
 * @internal
 */
import type { ChatChunk, ChatResponse, FinishReason, ToolCall, Usage } from "../../llm/Chat.js"
import { extraContent } from "../../llm/internal/extraContent.js"
import type { ContentFiltered } from "../../llm/ProviderError.js"
import * as Errors from "./errors.js"

/** OpenAI's finish reasons; `error` and `unknown` have no OpenAI word, so they read as a plain stop. @internal */
export const finishReason = (reason: FinishReason, hasToolCalls: boolean): string => {
  switch (reason) {
    case "stop":
    case "length":
    case "tool_calls":
    case "content_filter":
      return reason
    default:
      return hasToolCalls ? "tool_calls" : "stop"
  }
}

/**
 * OpenAI's `usage`, with `prompt_tokens_details.cached_tokens` when the
 * provider said how much of the prompt its cache served (as OpenAI sends
 * it, part of `prompt_tokens`), and `completion_tokens_details.reasoning_tokens`
 * when it said how much of the answer went to reasoning (part of
 * `completion_tokens`); a cache write has no field of OpenAI's.
 *
 * @internal
 */
export const usageJson = (usage: Usage) => ({
  prompt_tokens: usage.inputTokens,
  completion_tokens: usage.outputTokens,
  total_tokens: usage.inputTokens + usage.outputTokens,
  ...(usage.cacheReadTokens !== undefined ? { prompt_tokens_details: { cached_tokens: usage.cacheReadTokens } } : {}),
  ...(usage.reasoningTokens !== undefined ? { completion_tokens_details: { reasoning_tokens: usage.reasoningTokens } } : {})
})

const toolCallJson = (call: ToolCall) => ({
  id: call.id,
  type: "function",
  function: { name: call.name, arguments: call.arguments },
  ...(call.signature !== undefined ? { extra_content: extraContent(call.signature) } : {})
})

/**
 * The `chat.completion` body of a whole answer.
 *
 * @internal
 */
export const completion = (id: string, created: number, response: ChatResponse) => {
  const hasToolCalls = response.toolCalls.length > 0
  return {
    id,
    object: "chat.completion",
    created,
    model: response.model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: response.text.length === 0 && hasToolCalls ? null : response.text,
          refusal: null,
          ...(hasToolCalls ? { tool_calls: response.toolCalls.map(toolCallJson) } : {})
        },
        logprobs: null,
        finish_reason: finishReason(response.finishReason, hasToolCalls)
      }
    ],
    usage: usageJson(response.usage),
    system_fingerprint: null
  }
}

/**
 * The finish of an answer its provider stopped on policy, as OpenAI gives
 * it: `"stop"` beside a refusal (the `openai` client's `.parse()` then
 * hands the refusal over; on `"content_filter"` it throws), else
 * `"content_filter"`.
 *
 * @internal
 */
export const stoppedFinish = (error: ContentFiltered): FinishReason => (error.refusal !== undefined ? "stop" : "content_filter")

/**
 * The `chat.completion` body of an answer its provider stopped on policy
 * (see `isStoppedAnswer`), as OpenAI answers one: the text before the stop
 * as `content` (`null` if none), the model's refusal as `refusal`, and
 * `finish_reason` as `stoppedFinish` says.
 *
 * @internal
 */
export const stoppedCompletion = (id: string, created: number, error: ContentFiltered) => ({
  id,
  object: "chat.completion",
  created,
  model: error.model,
  choices: [
    {
      index: 0,
      message: {
        role: "assistant",
        content: error.partialText ? error.partialText : null,
        refusal: error.refusal ?? null
      },
      logprobs: null,
      finish_reason: stoppedFinish(error)
    }
  ],
  usage: usageJson(error.usage ?? { inputTokens: 0, outputTokens: 0 }),
  system_fingerprint: null
})

/** One server-sent event carrying `data`. @internal */
export const sseEvent = (data: unknown): string => `data: ${JSON.stringify(data)}\n\n`

/** The event that ends a successful stream. @internal */
export const sseDone = "data: [DONE]\n\n"

/**
 * What writes a stream's events in a wire format, one stream each, in
 * order: the first event(s), each chunk's, the end of an answer its
 * provider stopped on policy, the closing events, or the events of a
 * failure after the first event.
 *
 * @internal
 */
export interface StreamEncoder {
  /** The stream's content type, when not server-sent events (`text/event-stream`). */
  readonly contentType?: string | undefined
  /** The first events, sent with the first read's. */
  start(): string
  /** The events of one chunk, if it has any. */
  chunk(chunk: ChatChunk): string | undefined
  /** The events that end an answer its provider stopped on policy after what it streamed (before `end`). */
  stopped(error: ContentFiltered): string
  /** The whole stream of an answer its provider stopped on policy before any of it went out. */
  stoppedStream(error: ContentFiltered): string
  /** The closing events of an answer, with its usage. */
  end(usage: Usage): string
  /** The last event(s) of a stream that failed after its first event, the failure in the wire format's error JSON. */
  failed(failure: Errors.Failure): string
}

/**
 * Turns a stream of neutral chunks into `chat.completion.chunk` events:
 * a role delta first, text and tool-call deltas, one finish chunk, a usage
 * chunk when the client asked for it, then `[DONE]`. Mutable by design: one
 * encoder serves one stream, in order.
 *
 * What every event of the stream shares (its id, creation time and model
 * before the choices; the null usage after them) is written once, and a
 * text delta's event is the text's JSON between two constant strings: the
 * same bytes `JSON.stringify` makes of the whole chunk, for less work an
 * event (`test/ChunkEncoder.prop.test.ts` holds them equal).
 *
 * @internal
 */
export class ChunkEncoder implements StreamEncoder {
  private finished = false
  private toolCalls = false
  /** Every event up to its choices. */
  private readonly head: string
  /** Every event after its choices, but for the usage chunk. */
  private readonly tail: string

  constructor(
    readonly id: string,
    readonly created: number,
    readonly model: string,
    readonly includeUsage: boolean
  ) {
    this.head =
      `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${JSON.stringify(created)},` +
      `"model":${JSON.stringify(model)},"system_fingerprint":null,"choices":`
    this.tail = includeUsage ? `,"usage":null}\n\n` : `}\n\n`
  }

  private event(choices: ReadonlyArray<unknown>, usage: Usage | null = null): string {
    const after = usage === null || !this.includeUsage ? this.tail : `,"usage":${JSON.stringify(usageJson(usage))}}\n\n`
    return this.head + JSON.stringify(choices) + after
  }

  private delta(delta: unknown, finish: string | null = null): string {
    return this.event([{ index: 0, delta, logprobs: null, finish_reason: finish }])
  }

  /** The first event: the assistant's role. */
  start(): string {
    return this.delta({ role: "assistant", content: "", refusal: null })
  }

  /** The event for one chunk, if it has one (usage waits for the end). */
  chunk(chunk: ChatChunk): string | undefined {
    switch (chunk._tag) {
      case "TextDelta":
        return chunk.text.length === 0
          ? undefined
          : `${this.head}[{"index":0,"delta":{"content":${JSON.stringify(chunk.text)}},"logprobs":null,"finish_reason":null}]${this.tail}`
      case "ToolCallDelta": {
        this.toolCalls = true
        const first = chunk.id !== undefined || chunk.name !== undefined
        return this.delta({
          tool_calls: [
            {
              index: chunk.index,
              ...(chunk.id !== undefined ? { id: chunk.id } : {}),
              ...(first ? { type: "function" } : {}),
              function: { ...(chunk.name !== undefined ? { name: chunk.name } : {}), arguments: chunk.arguments },
              ...(chunk.signature !== undefined ? { extra_content: extraContent(chunk.signature) } : {})
            }
          ]
        })
      }
      case "Finish":
        if (this.finished) return undefined
        this.finished = true
        return this.delta({}, finishReason(chunk.reason, this.toolCalls))
      case "Usage":
        return undefined
    }
  }

  /**
   * The events that end an answer its provider stopped on policy, after
   * the text it streamed: the model's refusal, if any, and the finish
   * `stoppedFinish` says (before `end`).
   */
  stopped(error: ContentFiltered): string {
    const refusal = error.refusal ? this.delta({ refusal: error.refusal }) : ""
    return refusal + (this.chunk({ _tag: "Finish", reason: stoppedFinish(error) }) ?? "")
  }

  /**
   * The whole stream of an answer its provider stopped on policy before any
   * of it went out (see `isStoppedAnswer`): the role, the text before the
   * stop, the `stopped` events, the usage if asked, `[DONE]`.
   */
  stoppedStream(error: ContentFiltered): string {
    let out = this.start()
    if (error.partialText) out += this.chunk({ _tag: "TextDelta", text: error.partialText }) ?? ""
    out += this.stopped(error)
    return out + this.end(error.usage ?? { inputTokens: 0, outputTokens: 0 })
  }

  /** The error event that ends a failed stream (OpenAI's error JSON: `Errors.body`), without `[DONE]`. */
  failed(failure: Errors.Failure): string {
    return sseEvent(Errors.body(failure))
  }

  /** The closing events: a finish chunk if none was sent, the usage if asked, then `[DONE]`. */
  end(usage: Usage): string {
    let out = ""
    if (!this.finished) {
      this.finished = true
      out += this.delta({}, this.toolCalls ? "tool_calls" : "stop")
    }
    if (this.includeUsage) out += this.event([], usage)
    return out + sseDone
  }
}
