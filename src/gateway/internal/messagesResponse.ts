/**
 * Writes neutral responses, stream chunks and failures in Anthropic's
 * Messages API wire format: the `message` object of a whole answer, the
 * typed server-sent events of a streamed one (`event: <type>` and a `data:`
 * JSON with that `type`), from `message_start` to `message_stop`, and
 * Anthropic's error JSON `{ "type": "error", "error": { "type", "message" } }`.
 *
 * The answer's text is a `text` block, each tool call a `tool_use` block
 * (its id unique in the conversation, a fresh `toolu_...` where the
 * backend's is taken: see `ToolUseIds`; its arguments parsed as `input`: the JSON object they begin with, `{}`
 * when they hold no whole one, as a length stop or a model's slip can leave
 * them; streamed, only the part of them that begins one object goes out as
 * `input_json_delta`s, which Anthropic's SDK parses as partial JSON and
 * raises on anything else: see `jsonPrefix.ts`), in the order the model gave them; an answer
 * with neither is one empty `text` block. `stop_reason` says why it ended:
 * `end_turn`, `max_tokens`, `tool_use` (a call, whatever the provider's own
 * word: Gemini says `STOP`), `refusal` (a provider's stop on its content
 * policy), `stop_sequence` (with the sequence in `stop_sequence`) where the
 * provider said which stop sequence it stopped on (Claude does; OpenAI and
 * Gemini do not, so their answers that end on one say `end_turn`);
 * `stop_details` is a refusal's (no category named) or `null`.
 * `usage.input_tokens` is the prompt's tokens the cache neither served nor
 * stored, as Anthropic counts it, beside `cache_read_input_tokens` and
 * `cache_creation_input_tokens` (0 when the provider said nothing of them);
 * a message's usage also has `service_tier` (`standard`) and, whole, the
 * writes by lifetime (`cache_creation`), as Anthropic's always has.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import type { ChatChunk, ChatResponse, FinishReason, Message, ToolCall, Usage } from "../../llm/Chat.js"
import type { ContentFiltered } from "../../llm/ProviderError.js"
import * as Errors from "./errors.js"
import { objectOf, ObjectPrefix } from "./jsonPrefix.js"
import type { StreamEncoder } from "./response.js"

const hex = (): string => randomUUID().replaceAll("-", "")

/** A new message id, as Anthropic's look (`msg_...`). @internal */
export const messageId = (): string => `msg_${hex()}`

const toolUseId = (): string => `toolu_${hex()}`

/** The tool-call ids a conversation holds already: its assistant turns' calls, and the results it sends (an orphan's too). */
const idsOf = (conversation: ReadonlyArray<Message>): Set<string> => {
  const ids = new Set<string>()
  for (const message of conversation) {
    if (message.role === "assistant") for (const call of message.toolCalls ?? []) ids.add(call.id)
    else if (message.role === "tool") ids.add(message.toolCallId)
  }
  return ids
}

/**
 * The `tool_use` ids of one answer, each unique in its conversation, as
 * Anthropic's clients need them (the next request pairs each
 * `tool_result` with its call by id): a backend's id is kept unless the
 * conversation holds it already or the answer gave it before (an
 * OpenAI-compatible server may number its calls afresh in each answer, as
 * Grok's `call_0`), or it is empty or missing; then the call gets a fresh
 * one, `toolu_...`, as Anthropic's look. The conversation's ids are read at
 * the first call only: an answer without calls costs nothing. Mutable: one
 * serves one answer.
 *
 * @example
 * const ids = new ToolUseIds([{ role: "assistant", toolCalls: [{ id: "call_0", name: "f", arguments: "{}" }] }])
 * ids.of("call_0") // "toolu_..." (a fresh one)
 * ids.of("call_1") // "call_1"
 *
 * @internal
 */
export class ToolUseIds {
  private taken: Set<string> | undefined

  constructor(private readonly conversation: ReadonlyArray<Message>) {}

  /** The id to write for a call its backend named `id`. */
  of(id: string | undefined): string {
    const taken = (this.taken ??= idsOf(this.conversation))
    let unique = id
    while (unique === undefined || unique.length === 0 || taken.has(unique)) unique = toolUseId()
    taken.add(unique)
    return unique
  }
}

/**
 * Anthropic's error type for a status, so its SDK raises the matching
 * class (it picks the class by status, and keeps the type).
 *
 * @internal
 */
export const errorType = (status: number): string => {
  switch (status) {
    case 401:
      return "authentication_error"
    case 402:
      return "billing_error"
    case 403:
      return "permission_error"
    case 404:
      return "not_found_error"
    case 408:
    case 504:
      return "timeout_error"
    case 413:
      return "request_too_large"
    case 429:
      return "rate_limit_error"
    case 503:
    case 529:
      return "overloaded_error"
    default:
      return status >= 500 ? "api_error" : "invalid_request_error"
  }
}

/**
 * A failure with the status Anthropic answers it with: an exhausted chain
 * (the gateway's 503 `chain_exhausted`: every target overloaded, down or
 * passed over) is Anthropic's overload, a 529, the status Anthropic's
 * clients know as one (its SDK's `OverloadedError`; Claude Code counts
 * 529s apart from other errors, to switch to its fallback model); the
 * rest keep theirs: a draining gateway's 503 asks a client to come back,
 * on another connection, as any 5xx it retries, and counts as no overload.
 *
 * @internal
 */
export const anthropicStatus = (failure: Errors.Failure): Errors.Failure =>
  failure.status === 503 && failure.code === "chain_exhausted"
    ? new Errors.Failure({
        status: 529,
        type: failure.type,
        code: failure.code,
        param: failure.param,
        message: failure.message,
        ...(failure.headers !== undefined ? { headers: failure.headers } : {}),
        ...(failure.details !== undefined ? { details: failure.details } : {})
      })
    : failure

/**
 * The message of a failure as Anthropic words it where a client looks for
 * its words: a prompt no target's window holds starts `prompt is too
 * long: `, as Anthropic's does (Claude Code finds that phrase in an error's
 * message to compact its history and retry; any other wording ends its turn).
 */
const anthropicMessage = (failure: Errors.Failure): string =>
  failure.code === "context_length_exceeded" ? `prompt is too long: ${failure.message}` : failure.message

/**
 * Anthropic's error JSON of a gateway failure: its type by status, the
 * gateway's message (which names the field at fault; a prompt too long for
 * every target's window in Anthropic's words: see `anthropicMessage`), and
 * its extra fields (an exhausted chain's `attempts`).
 *
 * @internal
 */
export const errorJson = (failure: Errors.Failure) => ({
  type: "error",
  error: { type: errorType(failure.status), message: anthropicMessage(failure), ...failure.details }
})

/**
 * Anthropic's `usage`: the input its cache neither served nor stored, the
 * cache's reads and writes (and the writes by lifetime when the provider
 * said), the output (and its reasoning, `output_tokens_details.thinking_tokens`,
 * when the provider said).
 *
 * @internal
 */
export const usageJson = (usage: Usage) => {
  const read = usage.cacheReadTokens ?? 0
  const written = usage.cacheWriteTokens ?? 0
  const long = usage.longCacheWriteTokens ?? 0
  return {
    input_tokens: Math.max(0, usage.inputTokens - read - written),
    cache_creation_input_tokens: written,
    cache_read_input_tokens: read,
    ...(usage.cacheWriteTokens !== undefined
      ? { cache_creation: { ephemeral_5m_input_tokens: written - long, ephemeral_1h_input_tokens: long } }
      : {}),
    output_tokens: usage.outputTokens,
    ...(usage.reasoningTokens !== undefined ? { output_tokens_details: { thinking_tokens: usage.reasoningTokens } } : {})
  }
}

/**
 * Anthropic's `usage` of a `message`: `usageJson`'s, and every other field
 * Anthropic's own message usage has (its SDK's `Usage` declares each, a
 * null where it says nothing): the service tier, `standard` (the gateway
 * serves no other); `output_tokens_details`, `server_tool_use`,
 * `inference_geo` and `speed` null when the provider said nothing of them;
 * and, for a whole answer (`exact`), the cache writes by lifetime, 0 when
 * the provider said nothing of them. `message_start`'s lifetimes are null,
 * as it comes before the provider's counts: the SDK's stream keeps its
 * `cache_creation` to the end (it takes only the counts from
 * `message_delta`), where an object would say 0 writes whatever they were,
 * and a field left out would be `undefined` where its type says null.
 */
const messageUsage = (usage: Usage, exact: boolean) => {
  const { cache_creation, output_tokens_details, ...json } = usageJson(usage)
  return {
    ...json,
    cache_creation: !exact ? null : cache_creation ?? { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens_details: output_tokens_details ?? null,
    server_tool_use: null,
    inference_geo: null,
    service_tier: "standard",
    speed: null
  }
}

/** Anthropic's `stop_reason` for a finish (`stop_sequence` when the provider named the sequence). @internal */
export const stopReason = (reason: FinishReason, hasToolCalls: boolean, sequence?: string): string => {
  switch (reason) {
    case "length":
      return "max_tokens"
    case "tool_calls":
      return "tool_use"
    case "content_filter":
      return "refusal"
    default:
      return hasToolCalls ? "tool_use" : reason === "stop" && sequence !== undefined ? "stop_sequence" : "end_turn"
  }
}

/**
 * Anthropic's `stop_details` for a `stop_reason`: a refusal's (its
 * `category` and `explanation` `null`, as no provider behind a chain names
 * one), else `null`.
 *
 * @internal
 */
export const stopDetails = (stop: string | null) => (stop === "refusal" ? { type: "refusal", category: null, explanation: null } : null)

const textBlock = (text: string) => ({ type: "text", text })

const toolUseBlock = (call: ToolCall, id: string) => ({ type: "tool_use", id, name: call.name, input: objectOf(call.arguments) })

/** A `message`: a whole answer's (`exact`, its usage the provider's), or `message_start`'s. */
const messageJson = (
  id: string,
  model: string,
  content: ReadonlyArray<unknown>,
  stop: string | null,
  usage: Usage,
  exact = true,
  sequence?: string
) => ({
  id,
  type: "message",
  role: "assistant",
  model,
  content,
  stop_reason: stop,
  stop_sequence: stop === "stop_sequence" ? sequence : null,
  stop_details: stopDetails(stop),
  usage: messageUsage(usage, exact)
})

/**
 * The `message` object of a whole answer to a request of `conversation`
 * (its calls' ids unique in it: see `ToolUseIds`).
 *
 * @internal
 */
export const completion = (id: string, response: ChatResponse, conversation: ReadonlyArray<Message> = []) => {
  const calls = response.toolCalls
  const ids = calls.length === 0 ? undefined : new ToolUseIds(conversation)
  const content = [
    ...(response.text.length > 0 || calls.length === 0 ? [textBlock(response.text)] : []),
    ...calls.map((call) => toolUseBlock(call, ids!.of(call.id)))
  ]
  const stop = stopReason(response.finishReason, calls.length > 0, response.stopSequence)
  return messageJson(id, response.model, content, stop, response.usage, true, response.stopSequence)
}

/** The text of an answer its provider stopped on policy: what came before the stop, and the model's refusal. */
const stoppedText = (error: ContentFiltered): string => (error.partialText ?? "") + (error.refusal ?? "")

/**
 * The `message` object of an answer its provider stopped on policy (see
 * `isStoppedAnswer`): the text before the stop and the model's refusal, if
 * any, as a `text` block, `stop_reason` `"refusal"`.
 *
 * @internal
 */
export const stoppedCompletion = (id: string, error: ContentFiltered) =>
  messageJson(id, error.model, [textBlock(stoppedText(error))], "refusal", error.usage ?? { inputTokens: 0, outputTokens: 0 })

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

type Open =
  | { readonly kind: "text"; readonly index: number }
  | { readonly kind: "tool"; readonly index: number; readonly call: number; readonly input: ObjectPrefix }

/**
 * Turns a stream of neutral chunks into Anthropic's events, as its API
 * sends them: `message_start` (the message, empty; its `input_tokens` the
 * prompt's estimate, `inputEstimate`, as the provider's count comes with
 * the end: a client that reads it there, as Claude Code reads its context's
 * size, sees about the right figure, erring high, not 0);
 * a block opened when its first content comes (`content_block_start`;
 * the first one followed by a `ping`, as Anthropic sends its one; the
 * gateway sends no periodic ones, as it keeps no stream of any route alive
 * with them),
 * its content as `content_block_delta`s (`text_delta`, or a call's
 * arguments as `input_json_delta`, as far as they begin one JSON object), closed (`content_block_stop`) when the
 * next one opens or the answer ends; then `message_delta` with the
 * `stop_reason` and the whole usage (the provider's count), and
 * `message_stop`. Mutable by design:
 * one encoder serves one stream, in order.
 *
 * A call's arguments that come after other content (another call's, or
 * text: none of this package's adapters sends them so) are dropped: its
 * block was closed when the next one opened, and Anthropic's stream has no
 * way to reopen it. Each call's id is unique in the request's
 * `conversation` (see `ToolUseIds`).
 *
 * @internal
 */
export class MessageEncoder implements StreamEncoder {
  private blocks = 0
  private current: Open | undefined
  private readonly calls = new Set<number>()
  private ids: ToolUseIds | undefined
  private finish: FinishReason = "unknown"
  private sequence: string | undefined

  constructor(
    readonly id: string,
    readonly model: string,
    readonly inputEstimate = 0,
    private readonly conversation: ReadonlyArray<Message> = []
  ) {}

  private event(type: string, fields: Record<string, unknown>): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`
  }

  /** `message_start`: the message, with no content, and the input's estimate (the usage comes with `message_delta`). */
  start(): string {
    const message = messageJson(this.id, this.model, [], null, { inputTokens: this.inputEstimate, outputTokens: 0 }, false)
    return this.event("message_start", { message })
  }

  /** `content_block_stop` for the open block, if any. */
  private close(): string {
    if (this.current === undefined) return ""
    const index = this.current.index
    this.current = undefined
    return this.event("content_block_stop", { index })
  }

  /**
   * Opens a block (closing the open one), with its `content_block_start`;
   * the first one followed by a `ping`, where Anthropic's stream has its
   * one (its SDK skips it; a client that reads the wire sees the same order).
   */
  private open(next: Open, block: unknown): string {
    const out = this.close()
    this.current = next
    const ping = this.blocks === 0 ? this.event("ping", {}) : ""
    this.blocks++
    return out + this.event("content_block_start", { index: next.index, content_block: block }) + ping
  }

  private text(text: string): string {
    const out = this.current?.kind === "text" ? "" : this.open({ kind: "text", index: this.blocks }, textBlock(""))
    return out + this.event("content_block_delta", { index: this.current!.index, delta: { type: "text_delta", text } })
  }

  private toolCall(chunk: Extract<ChatChunk, { readonly _tag: "ToolCallDelta" }>): string {
    let out = ""
    if (!this.calls.has(chunk.index)) {
      this.calls.add(chunk.index)
      const ids = (this.ids ??= new ToolUseIds(this.conversation))
      const block = { type: "tool_use", id: ids.of(chunk.id), name: chunk.name ?? "", input: {} }
      out += this.open({ kind: "tool", index: this.blocks, call: chunk.index, input: new ObjectPrefix() }, block)
    }
    const current = this.current
    if (chunk.arguments.length === 0 || current?.kind !== "tool" || current.call !== chunk.index) return out
    // only what keeps the input the beginning of one JSON object: the SDK parses it as one, and raises on anything else
    const json = current.input.accept(chunk.arguments)
    return json.length === 0 ? out : out + this.event("content_block_delta", { index: current.index, delta: { type: "input_json_delta", partial_json: json } })
  }

  /** The events of one chunk, if it has any (usage and the finish wait for the end). */
  chunk(chunk: ChatChunk): string | undefined {
    switch (chunk._tag) {
      case "TextDelta":
        return chunk.text.length === 0 ? undefined : this.text(chunk.text)
      case "ToolCallDelta":
        return this.toolCall(chunk) || undefined
      case "Finish":
        this.finish = chunk.reason
        this.sequence = chunk.stopSequence
        return undefined
      case "Usage":
        return undefined
    }
  }

  /**
   * The events that end an answer its provider stopped on policy, after
   * what it streamed: the model's refusal, if any, as text; the answer then
   * ends (in `end`) with `stop_reason` `"refusal"`.
   */
  stopped(error: ContentFiltered): string {
    this.finish = "content_filter"
    return error.refusal ? this.text(error.refusal) : ""
  }

  /** The whole stream of an answer its provider stopped on policy before any of it went out. */
  stoppedStream(error: ContentFiltered): string {
    let out = this.start()
    if (error.partialText) out += this.text(error.partialText)
    out += this.stopped(error)
    return out + this.end(error.usage ?? { inputTokens: 0, outputTokens: 0 })
  }

  /** The open block closed (an empty text block if none ever opened), `message_delta` with the stop and usage, `message_stop`. */
  end(usage: Usage): string {
    let out = this.blocks === 0 ? this.open({ kind: "text", index: 0 }, textBlock("")) : ""
    out += this.close()
    const stop = stopReason(this.finish, this.calls.size > 0, this.sequence)
    const delta = { stop_reason: stop, stop_sequence: stop === "stop_sequence" ? this.sequence : null, stop_details: stopDetails(stop) }
    return out + this.event("message_delta", { delta, usage: usageJson(usage) }) + this.event("message_stop", {})
  }

  /** The `error` event that ends a stream that failed after its first event (Anthropic's SDK raises it). */
  failed(failure: Errors.Failure): string {
    return `event: error\ndata: ${JSON.stringify(errorJson(failure))}\n\n`
  }
}
