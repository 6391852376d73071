/**
 * The mock server's Anthropic Messages answers.
 *
 * @internal
 */
import { argumentsObject, halves, type ResolvedReply, type Wire } from "./wire.js"

const frame = (data: { readonly type: string; readonly [key: string]: unknown }): string => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`

const stopReasons = { stop: "end_turn", length: "max_tokens", tool_calls: "tool_use", content_filter: "refusal" } as const

/** Why the answer stopped, as Anthropic says it: on which stop sequence, if it did. */
const stopOf = (reply: ResolvedReply) =>
  reply.stopSequence !== undefined
    ? { stop_reason: "stop_sequence", stop_sequence: reply.stopSequence }
    : { stop_reason: stopReasons[reply.finishReason], stop_sequence: null }

const errorType = (status: number): string => {
  switch (status) {
    case 401:
      return "authentication_error"
    case 403:
      return "permission_error"
    case 404:
      return "not_found_error"
    case 413:
      return "request_too_large"
    case 429:
      return "rate_limit_error"
    case 529:
      return "overloaded_error"
    default:
      return status >= 500 ? "api_error" : "invalid_request_error"
  }
}


/** The prompt's counts as Anthropic reports them: the cache's reads and writes beside the rest, not in it. */
const promptUsage = (reply: ResolvedReply) => ({
  input_tokens: Math.max(0, reply.inputTokens - reply.cacheReadTokens - reply.cacheWriteTokens),
  ...(reply.cacheReadTokens > 0 ? { cache_read_input_tokens: reply.cacheReadTokens } : {}),
  ...(reply.cacheWriteTokens > 0 ? { cache_creation_input_tokens: reply.cacheWriteTokens } : {})
})
const json = (reply: ResolvedReply, model: string, id: string) => ({
  id,
  type: "message",
  role: "assistant",
  model,
  content: [
    ...(reply.text === "" ? [] : [{ type: "text", text: reply.text }]),
    ...reply.toolCalls.map((call) => ({
      type: "tool_use",
      id: call.id,
      name: call.name,
      input: argumentsObject(call.arguments)
    }))
  ],
  ...stopOf(reply),
  usage: { ...promptUsage(reply), output_tokens: reply.outputTokens }
})

const frames = (reply: ResolvedReply, model: string, id: string) => {
  const out = [
    frame({
      type: "message_start",
      message: {
        id,
        type: "message",
        role: "assistant",
        content: [],
        model,
        stop_reason: null,
        stop_sequence: null,
        usage: { ...promptUsage(reply), output_tokens: 1 }
      }
    }),
    frame({ type: "ping" })
  ]
  let block = 0
  if (reply.text !== "") {
    out.push(frame({ type: "content_block_start", index: block, content_block: { type: "text", text: "" } }))
    for (const token of reply.tokens) {
      out.push(frame({ type: "content_block_delta", index: block, delta: { type: "text_delta", text: token } }))
    }
    out.push(frame({ type: "content_block_stop", index: block }))
    block++
  }
  for (const call of reply.toolCalls) {
    out.push(
      frame({
        type: "content_block_start",
        index: block,
        content_block: { type: "tool_use", id: call.id, name: call.name, input: {} }
      })
    )
    for (const piece of halves(call.arguments)) {
      out.push(frame({ type: "content_block_delta", index: block, delta: { type: "input_json_delta", partial_json: piece } }))
    }
    out.push(frame({ type: "content_block_stop", index: block }))
    block++
  }
  out.push(
    frame({
      type: "message_delta",
      delta: stopOf(reply),
      usage: { output_tokens: reply.outputTokens }
    })
  )
  out.push(frame({ type: "message_stop" }))
  return { frames: out, terminal: 1 }
}

/** @internal */
export const anthropicWire: Wire = {
  json,
  frames,
  errorBody: (status, message) => ({ type: "error", error: { type: errorType(status), message } }),
  contextLengthExceeded: {
    status: 400,
    body: {
      type: "error",
      error: { type: "invalid_request_error", message: "prompt is too long: 208310 tokens > 200000 maximum" }
    }
  },
  // Anthropic refuses by stopping with stop_reason "refusal"
  refusal: (stream, reply, model, id) => {
    const refused = { ...reply, text: "", tokens: [], toolCalls: [], finishReason: "content_filter" as const, stopSequence: undefined }
    return stream ? frames(refused, model, id) : { status: 200, body: json(refused, model, id) }
  },
  streamError: frame({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }),
  streamErrorStatus: 529,
  badFrame: "event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\n\n"
}
