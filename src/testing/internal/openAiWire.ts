/**
 * The mock server's OpenAI Chat Completions answers.
 *
 * @internal
 */
import { halves, type ResolvedReply, type Wire } from "./wire.js"

const frame = (data: unknown): string => `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`

const usage = (reply: ResolvedReply) => ({
  prompt_tokens: reply.inputTokens,
  completion_tokens: reply.outputTokens,
  total_tokens: reply.inputTokens + reply.outputTokens,
  ...(reply.cacheReadTokens > 0 ? { prompt_tokens_details: { cached_tokens: reply.cacheReadTokens } } : {})
})

const errorType = (status: number): string => {
  if (status === 401) return "authentication_error"
  if (status === 429) return "rate_limit_exceeded"
  return status >= 500 ? "server_error" : "invalid_request_error"
}

const includeUsage = (request: unknown): boolean =>
  typeof request === "object" &&
  request !== null &&
  (request as { stream_options?: { include_usage?: unknown } }).stream_options?.include_usage === true

/** @internal */
export const openAiWire: Wire = {
  json: (reply, model, id) => ({
    id,
    object: "chat.completion",
    created: 1_700_000_000,
    model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: reply.text === "" ? null : reply.text,
          refusal: null,
          ...(reply.toolCalls.length > 0
            ? {
                tool_calls: reply.toolCalls.map((call) => ({
                  id: call.id,
                  type: "function",
                  function: { name: call.name, arguments: call.arguments }
                }))
              }
            : {})
        },
        finish_reason: reply.finishReason,
        logprobs: null
      }
    ],
    usage: usage(reply)
  }),

  frames: (reply, model, id, request) => {
    const withUsage = includeUsage(request)
    const chunk = (delta: unknown, finish: string | null = null) => ({
      id,
      object: "chat.completion.chunk",
      created: 1_700_000_000,
      model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
      ...(withUsage ? { usage: null } : {})
    })
    const frames = [frame(chunk({ role: "assistant", content: "" }))]
    for (const token of reply.tokens) frames.push(frame(chunk({ content: token })))
    reply.toolCalls.forEach((call, index) => {
      frames.push(
        frame(chunk({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }] }))
      )
      for (const piece of halves(call.arguments)) {
        frames.push(frame(chunk({ tool_calls: [{ index, function: { arguments: piece } }] })))
      }
    })
    frames.push(frame(chunk({}, reply.finishReason)))
    if (withUsage) {
      frames.push(
        frame({ id, object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [], usage: usage(reply) })
      )
    }
    frames.push(frame("[DONE]"))
    // the finish chunk ends the answer as [DONE] does (the client takes a stream whole once a finish reason came):
    // a stream cut before its end is cut before the finish
    return { frames, terminal: withUsage ? 3 : 2 }
  },

  errorBody: (status, message, code) => ({
    error: { message, type: errorType(status), param: null, code: code ?? null }
  }),

  contextLengthExceeded: {
    status: 400,
    body: {
      error: {
        message:
          "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.",
        type: "invalid_request_error",
        param: "messages",
        code: "context_length_exceeded"
      }
    }
  },

  refusal: () => ({
    status: 400,
    body: {
      error: {
        message: "Your request was rejected as a result of our safety system.",
        type: "invalid_request_error",
        param: null,
        code: "content_policy_violation"
      }
    }
  }),

  streamError: frame({
    error: {
      message: "The server had an error while processing your request. Sorry about that!",
      type: "server_error",
      param: null,
      code: null
    }
  }),
  streamErrorStatus: 500,
  badFrame: "data: {\"id\": \"chatcmpl-broken\", \"choices\": [\n\n"
}
