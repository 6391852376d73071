/**
 * The mock server's Gemini `generateContent` answers. Its SSE frames end
 * with CRLF pairs, as Google's servers send them.
 *
 * @internal
 */
import { argumentsObject, type ResolvedReply, type Wire } from "./wire.js"

const frame = (data: unknown): string => `data: ${JSON.stringify(data)}\r\n\r\n`

const finishReasons = { stop: "STOP", length: "MAX_TOKENS", tool_calls: "STOP", content_filter: "SAFETY" } as const

const statusNames: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED"
}

const statusName = (status: number): string => statusNames[status] ?? (status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION")

const usage = (reply: ResolvedReply, candidates: number) => ({
  promptTokenCount: reply.inputTokens,
  candidatesTokenCount: candidates,
  totalTokenCount: reply.inputTokens + candidates,
  ...(reply.cacheReadTokens > 0 ? { cachedContentTokenCount: reply.cacheReadTokens } : {})
})

const candidate = (parts: ReadonlyArray<unknown>, finish?: string) => ({
  content: { parts, role: "model" },
  ...(finish !== undefined ? { finishReason: finish } : {}),
  index: 0
})

const callPart = (call: ResolvedReply["toolCalls"][number]) => ({
  functionCall: { name: call.name, args: argumentsObject(call.arguments) }
})

/** @internal */
export const geminiWire: Wire = {
  json: (reply, model, id) => ({
    candidates: [
      candidate(
        [...(reply.text === "" ? [] : [{ text: reply.text }]), ...reply.toolCalls.map(callPart)],
        finishReasons[reply.finishReason]
      )
    ],
    usageMetadata: usage(reply, reply.outputTokens),
    modelVersion: model,
    responseId: id
  }),

  // the finish reason rides on the last content frame, as Gemini sends it
  frames: (reply, model, id) => {
    const parts: Array<unknown> = [...reply.tokens.map((text) => ({ text })), ...reply.toolCalls.map(callPart)]
    if (parts.length === 0) parts.push({ text: "" })
    const frames = parts.map((part, i) => {
      const last = i === parts.length - 1
      return frame({
        candidates: [candidate([part], last ? finishReasons[reply.finishReason] : undefined)],
        usageMetadata: usage(reply, last ? reply.outputTokens : i + 1),
        modelVersion: model,
        responseId: id
      })
    })
    return { frames, terminal: 1 }
  },

  errorBody: (status, message, _code, retryAfterSeconds) => ({
    error: {
      code: status,
      message,
      status: statusName(status),
      ...(status === 429 && retryAfterSeconds !== undefined
        ? { details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${retryAfterSeconds}s` }] }
        : {})
    }
  }),

  contextLengthExceeded: {
    status: 400,
    body: {
      error: {
        code: 400,
        message: "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).",
        status: "INVALID_ARGUMENT"
      }
    }
  },

  refusal: (stream, reply, model, id) => {
    const body = {
      promptFeedback: {
        blockReason: "SAFETY",
        safetyRatings: [{ category: "HARM_CATEGORY_DANGEROUS_CONTENT", probability: "HIGH" }]
      },
      usageMetadata: usage(reply, 0),
      modelVersion: model,
      responseId: id
    }
    return stream ? { frames: [frame(body)], terminal: 1 } : { status: 200, body }
  },

  streamError: frame({
    error: { code: 503, message: "The model is overloaded. Please try again later.", status: "UNAVAILABLE" }
  }),
  streamErrorStatus: 503,
  badFrame: "data: {\"candidates\": [{\"content\": \r\n\r\n"
}
