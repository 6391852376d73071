/**
 * Writes neutral responses and stream chunks in OpenAI's Responses API wire
 * format: the `response` object of a whole answer, and the typed
 * server-sent events of a streamed one (`event: <type>` and a `data:` JSON
 * with its `type` and `sequence_number`), from `response.created` to
 * `response.completed` (or `response.incomplete`, or `response.failed`).
 *
 * The answer's text is one `message` output item with an `output_text`
 * part (and a `refusal` part when the model refused), each tool call a
 * `function_call` item, in the order the model gave them. A length finish
 * makes the response `incomplete` (`incomplete_details.reason`
 * `"max_output_tokens"`), a stop on content policy without a refusal
 * `incomplete` with `"content_filter"`. The response repeats its request's
 * settings as OpenAI's does (`Echo`), with `store: false`: nothing is kept.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import type { ChatChunk, ChatResponse, FinishReason, ToolCall, Usage } from "../../llm/Chat.js"
import { extraContent } from "../../llm/internal/extraContent.js"
import type { ContentFiltered } from "../../llm/ProviderError.js"
import * as Errors from "./errors.js"
import type { StreamEncoder } from "./response.js"
import type { Echo } from "./responsesRequest.js"

const hex = (): string => randomUUID().replaceAll("-", "")

/** A new response id, as OpenAI's look (`resp_...`). @internal */
export const responseId = (): string => `resp_${hex()}`

const messageId = (): string => `msg_${hex()}`

const callItemId = (): string => `fc_${hex()}`

/**
 * The Responses API's `usage`: the cached part of the input and the
 * reasoning part of the output always given, 0 when the provider said
 * nothing of them.
 *
 * @internal
 */
export const usageJson = (usage: Usage) => ({
  input_tokens: usage.inputTokens,
  input_tokens_details: { cached_tokens: usage.cacheReadTokens ?? 0 },
  output_tokens: usage.outputTokens,
  output_tokens_details: { reasoning_tokens: usage.reasoningTokens ?? 0 },
  total_tokens: usage.inputTokens + usage.outputTokens
})

type Status = "completed" | "incomplete"

/** Why an answer is incomplete, by its finish, if it is. */
const incompleteReason = (reason: FinishReason): "max_output_tokens" | "content_filter" | undefined =>
  reason === "length" ? "max_output_tokens" : reason === "content_filter" ? "content_filter" : undefined

type Part =
  | { readonly type: "output_text"; readonly annotations: ReadonlyArray<never>; readonly logprobs: ReadonlyArray<never>; readonly text: string }
  | { readonly type: "refusal"; readonly refusal: string }

const textPart = (text: string): Part => ({ type: "output_text", annotations: [], logprobs: [], text })

const refusalPart = (refusal: string): Part => ({ type: "refusal", refusal })

const messageItem = (id: string, status: string, content: ReadonlyArray<Part>) => ({
  id,
  type: "message",
  status,
  content,
  role: "assistant"
})

const callItem = (id: string, status: string, call: ToolCall) => ({
  id,
  type: "function_call",
  status,
  arguments: call.arguments,
  call_id: call.id,
  name: call.name,
  ...(call.signature !== undefined ? { extra_content: extraContent(call.signature) } : {})
})

/** What every `response` object of one answer shares. */
interface Head {
  readonly id: string
  readonly created: number
  readonly model: string
  readonly echo: Echo
}

/** The `response` object, with its state, output and usage. */
const responseJson = (
  head: Head,
  status: "in_progress" | "completed" | "incomplete" | "failed",
  output: ReadonlyArray<unknown>,
  usage: Usage | null,
  more: {
    readonly incomplete?: "max_output_tokens" | "content_filter"
    readonly error?: { readonly code: string; readonly message: string }
  } = {}
) => {
  const { metadata, user, ...echo } = head.echo
  return {
    id: head.id,
    object: "response",
    created_at: head.created,
    status,
    background: false,
    error: more.error ?? null,
    incomplete_details: more.incomplete === undefined ? null : { reason: more.incomplete },
    instructions: echo.instructions,
    max_output_tokens: echo.max_output_tokens,
    model: head.model,
    output,
    parallel_tool_calls: echo.parallel_tool_calls,
    previous_response_id: null,
    reasoning: echo.reasoning,
    store: false,
    temperature: echo.temperature,
    text: echo.text,
    tool_choice: echo.tool_choice,
    tools: echo.tools,
    top_p: echo.top_p,
    truncation: "disabled",
    usage: usage === null ? null : usageJson(usage),
    ...(user !== undefined ? { user } : {}),
    metadata
  }
}

/**
 * The `response` object of a whole answer: its text as a `message` item
 * (left out when the answer is tool calls alone), then a `function_call`
 * item a call.
 *
 * @internal
 */
export const completion = (id: string, created: number, echo: Echo, response: ChatResponse) => {
  const incomplete = incompleteReason(response.finishReason)
  const status: Status = incomplete === undefined ? "completed" : "incomplete"
  const output = [
    ...(response.text.length > 0 || response.toolCalls.length === 0 ? [messageItem(messageId(), status, [textPart(response.text)])] : []),
    ...response.toolCalls.map((call) => callItem(callItemId(), "completed", call))
  ]
  return responseJson({ id, created, model: response.model, echo }, status, output, response.usage, incomplete === undefined ? {} : { incomplete })
}

/**
 * The `response` object of an answer its provider stopped on policy (see
 * `isStoppedAnswer`): the text before the stop and the model's refusal as
 * a message's parts; `completed` beside a refusal (as OpenAI answers one),
 * else `incomplete` for `content_filter`.
 *
 * @internal
 */
export const stoppedCompletion = (id: string, created: number, echo: Echo, error: ContentFiltered) => {
  const parts = [...(error.partialText ? [textPart(error.partialText)] : []), ...(error.refusal !== undefined ? [refusalPart(error.refusal)] : [])]
  const refused = error.refusal !== undefined
  const status: Status = refused ? "completed" : "incomplete"
  const output = parts.length === 0 ? [] : [messageItem(messageId(), status, parts)]
  const usage = error.usage ?? { inputTokens: 0, outputTokens: 0 }
  return responseJson({ id, created, model: error.model, echo }, status, output, usage, refused ? {} : { incomplete: "content_filter" })
}

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

interface MessageState {
  readonly kind: "message"
  readonly id: string
  readonly index: number
  readonly parts: Array<Part>
  /** Whether its last part is an `output_text` still being written. */
  textOpen: boolean
  status: string
}

interface CallState {
  readonly kind: "call"
  readonly id: string
  readonly index: number
  call: { id: string; name: string; arguments: string; signature?: string }
  status: string
}

type ItemState = MessageState | CallState

const itemJson = (item: ItemState) =>
  item.kind === "message" ? messageItem(item.id, item.status, item.parts) : callItem(item.id, item.status, item.call)

/**
 * Turns a stream of neutral chunks into the Responses API's events, as
 * OpenAI sends them: `response.created` and `response.in_progress` first;
 * an output item opened when its first content comes (a message's
 * `output_item.added` and `content_part.added`, then `output_text.delta`s;
 * a call's `output_item.added`, then `function_call_arguments.delta`s) and
 * closed, with its `.done` events, when the next one opens or the answer
 * ends; then `response.completed` (or `response.incomplete`) with the whole
 * response. Mutable by design: one encoder serves one stream, in order.
 *
 * A call's arguments that come after other content (another call's, or
 * text: none of this package's adapters sends them so) are in the final
 * response only, not in delta events: its item was closed, with its
 * `.done` events, when the next item opened.
 *
 * @internal
 */
export class ResponseEncoder implements StreamEncoder {
  private sequence = 0
  private readonly items: Array<ItemState> = []
  private current: ItemState | undefined
  private readonly calls = new Map<number, CallState>()
  private finish: FinishReason = "unknown"
  private readonly head: Head

  constructor(id: string, created: number, model: string, echo: Echo) {
    this.head = { id, created, model, echo }
  }

  private event(type: string, fields: Record<string, unknown>): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: this.sequence++, ...fields })}\n\n`
  }

  private output() {
    return this.items.map(itemJson)
  }

  /** `response.created` and `response.in_progress`. */
  start(): string {
    const response = responseJson(this.head, "in_progress", [], null)
    return this.event("response.created", { response }) + this.event("response.in_progress", { response })
  }

  /** The open message, opened (after closing any other item) if need be; and its events. */
  private message(): { readonly item: MessageState; readonly events: string } {
    if (this.current?.kind === "message") return { item: this.current, events: "" }
    let events = this.close("completed")
    const item: MessageState = { kind: "message", id: messageId(), index: this.items.length, parts: [], textOpen: false, status: "in_progress" }
    this.items.push(item)
    this.current = item
    events += this.event("response.output_item.added", { output_index: item.index, item: itemJson(item) })
    return { item, events }
  }

  private text(delta: string): string {
    const { item, events } = this.message()
    let out = events
    if (!item.textOpen) {
      item.parts.push(textPart(""))
      item.textOpen = true
      out += this.event("response.content_part.added", {
        item_id: item.id,
        output_index: item.index,
        content_index: item.parts.length - 1,
        part: textPart("")
      })
    }
    const contentIndex = item.parts.length - 1
    const part = item.parts[contentIndex]!
    if (part.type === "output_text") item.parts[contentIndex] = textPart(part.text + delta)
    return out + this.event("response.output_text.delta", {
      item_id: item.id,
      output_index: item.index,
      content_index: contentIndex,
      delta,
      logprobs: []
    })
  }

  /** The `.done` events of a message's text part, if one is open. */
  private closeText(item: MessageState): string {
    if (!item.textOpen) return ""
    item.textOpen = false
    const contentIndex = item.parts.length - 1
    const part = item.parts[contentIndex]!
    const at = { item_id: item.id, output_index: item.index, content_index: contentIndex }
    return (
      this.event("response.output_text.done", { ...at, text: part.type === "output_text" ? part.text : "", logprobs: [] }) +
      this.event("response.content_part.done", { ...at, part })
    )
  }

  /** The `.done` events of the open item, if any, with its final `status`. */
  private close(status: Status): string {
    const item = this.current
    if (item === undefined) return ""
    this.current = undefined
    item.status = status
    let out = ""
    if (item.kind === "message") out += this.closeText(item)
    else {
      item.status = "completed"
      out += this.event("response.function_call_arguments.done", {
        item_id: item.id,
        output_index: item.index,
        name: item.call.name,
        arguments: item.call.arguments
      })
    }
    return out + this.event("response.output_item.done", { output_index: item.index, item: itemJson(item) })
  }

  private toolCall(chunk: Extract<ChatChunk, { readonly _tag: "ToolCallDelta" }>): string {
    let item = this.calls.get(chunk.index)
    let out = ""
    if (item === undefined) {
      out += this.close("completed")
      item = {
        kind: "call",
        id: callItemId(),
        index: this.items.length,
        call: { id: chunk.id ?? `call_${hex()}`, name: chunk.name ?? "", arguments: "" },
        status: "in_progress"
      }
      if (chunk.signature !== undefined) item.call.signature = chunk.signature
      this.calls.set(chunk.index, item)
      this.items.push(item)
      this.current = item
      out += this.event("response.output_item.added", { output_index: item.index, item: itemJson(item) })
    } else {
      if (chunk.id !== undefined) item.call.id = chunk.id
      if (chunk.name !== undefined) item.call.name = chunk.name
      if (chunk.signature !== undefined) item.call.signature = chunk.signature
    }
    item.call.arguments += chunk.arguments
    if (chunk.arguments.length === 0 || this.current !== item) return out
    return out + this.event("response.function_call_arguments.delta", { item_id: item.id, output_index: item.index, delta: chunk.arguments })
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
        return undefined
      case "Usage":
        return undefined
    }
  }

  /**
   * The events that end an answer its provider stopped on policy, after
   * what it streamed: the model's refusal as a `refusal` part of the
   * message (`response.refusal.delta` and `.done`), the response then
   * `completed`; without one, the response ends `incomplete` for
   * `content_filter` (in `end`).
   */
  stopped(error: ContentFiltered): string {
    if (error.refusal === undefined) {
      this.finish = "content_filter"
      return ""
    }
    this.finish = "stop"
    const { item, events } = this.message()
    let out = events + this.closeText(item)
    item.parts.push(refusalPart(""))
    const at = { item_id: item.id, output_index: item.index, content_index: item.parts.length - 1 }
    out += this.event("response.content_part.added", { ...at, part: refusalPart("") })
    out += this.event("response.refusal.delta", { ...at, delta: error.refusal })
    out += this.event("response.refusal.done", { ...at, refusal: error.refusal })
    item.parts[at.content_index] = refusalPart(error.refusal)
    return out + this.event("response.content_part.done", { ...at, part: refusalPart(error.refusal) })
  }

  /** The whole stream of an answer its provider stopped on policy before any of it went out. */
  stoppedStream(error: ContentFiltered): string {
    let out = this.start()
    if (error.partialText) out += this.text(error.partialText)
    out += this.stopped(error)
    return out + this.end(error.usage ?? { inputTokens: 0, outputTokens: 0 })
  }

  /** The open item closed, then `response.completed`, or `response.incomplete` for a length or content-policy finish. */
  end(usage: Usage): string {
    const incomplete = incompleteReason(this.finish)
    const status: Status = incomplete === undefined ? "completed" : "incomplete"
    const out = this.close(status)
    const response = responseJson(this.head, status, this.output(), usage, incomplete === undefined ? {} : { incomplete })
    return out + this.event(incomplete === undefined ? "response.completed" : "response.incomplete", { response })
  }

  /**
   * The events that end a stream that failed after its first event: an
   * `error` event (the gateway's code, message and param, as the chat
   * route's error event has them), then `response.failed` with the output
   * so far (the open item `incomplete`) and `error.code` `"server_error"`
   * (the Responses API's codes have no word for a gateway's failure).
   */
  failed(failure: Errors.Failure): string {
    const { code, message, param } = Errors.body(failure).error
    let out = this.event("error", { code, message, param })
    if (this.current !== undefined) {
      if (this.current.kind === "message") this.current.textOpen = false
      this.current.status = "incomplete"
      this.current = undefined
    }
    const response = responseJson(this.head, "failed", this.output(), null, { error: { code: "server_error", message } })
    out += this.event("response.failed", { response })
    return out
  }
}
