/**
 * What the mock server says in each provider's wire format: JSON answers,
 * SSE frames, error bodies. One `Wire` per provider.
 *
 * @internal
 */
import type { Reply } from "../MockServer.js"

/** A reply with every default filled in, split into stream tokens. @internal */
export interface ResolvedReply {
  readonly text: string
  readonly tokens: ReadonlyArray<string>
  readonly toolCalls: ReadonlyArray<{ readonly id: string; readonly name: string; readonly arguments: string }>
  readonly inputTokens: number
  readonly outputTokens: number
  /** The part of `inputTokens` read from the prompt cache. */
  readonly cacheReadTokens: number
  /** The part of `inputTokens` written to the prompt cache. */
  readonly cacheWriteTokens: number
  readonly finishReason: "stop" | "length" | "tool_calls" | "content_filter"
  readonly stopSequence: string | undefined
}

/** The default answer text. @internal */
export const defaultText = "Hello from the mock server."

/** @internal */
export const resolveReply = (reply: Reply | undefined, index: number): ResolvedReply => {
  const text = reply?.text ?? defaultText
  const tokens = text.match(/\S+\s*|\s+/g) ?? []
  const toolCalls = (reply?.toolCalls ?? []).map((call, i) => ({
    id: call.id ?? `call_${index}_${i}`,
    name: call.name,
    arguments: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments ?? {})
  }))
  const inputTokens = reply?.usage?.inputTokens ?? 10
  // parts of the prompt, capped at it: each wire then reports the same prompt (Anthropic's counts add up to it)
  const cacheReadTokens = Math.min(reply?.usage?.cacheReadTokens ?? 0, inputTokens)
  const cacheWriteTokens = Math.min(reply?.usage?.cacheWriteTokens ?? 0, inputTokens - cacheReadTokens)
  return {
    text,
    tokens,
    toolCalls,
    inputTokens,
    outputTokens: reply?.usage?.outputTokens ?? Math.max(1, tokens.length + toolCalls.length),
    cacheReadTokens,
    cacheWriteTokens,
    finishReason: reply?.stopSequence !== undefined ? "stop" : reply?.finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop"),
    stopSequence: reply?.stopSequence
  }
}

/** A streamed answer: its frames, the last `terminal` of which end it. @internal */
export interface Frames {
  readonly frames: ReadonlyArray<string>
  readonly terminal: number
}

/** A status answer: its status and JSON body. @internal */
export interface StatusAnswer {
  readonly status: number
  readonly body: unknown
}

/** @internal */
export interface Wire {
  readonly json: (reply: ResolvedReply, model: string, id: string) => unknown
  readonly frames: (reply: ResolvedReply, model: string, id: string, request: unknown) => Frames
  readonly errorBody: (status: number, message: string, code: string | undefined, retryAfterSeconds?: number) => unknown
  readonly contextLengthExceeded: StatusAnswer
  /** The provider refusing the prompt on policy (JSON, or one SSE frame for a stream). */
  readonly refusal: (stream: boolean, reply: ResolvedReply, model: string, id: string) => StatusAnswer | Frames
  /** One in-stream error event. */
  readonly streamError: string
  /** The status a JSON request gets for an in-stream error fault. */
  readonly streamErrorStatus: number
  /** A frame whose data is not JSON. */
  readonly badFrame: string
}

/** Splits a JSON text in two pieces, as providers stream tool arguments. @internal */
export const halves = (text: string): ReadonlyArray<string> => {
  const middle = Math.floor(text.length / 2)
  return middle === 0 ? [text] : [text.slice(0, middle), text.slice(middle)]
}

/** A JSON object from a tool call's arguments. @internal */
export const argumentsObject = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return {}
  }
}

/** The message of a status when the fault gives none. @internal */
export const defaultMessage = (status: number): string => {
  switch (status) {
    case 400:
      return "Invalid request."
    case 401:
      return "Invalid API key."
    case 403:
      return "Permission denied."
    case 404:
      return "The model does not exist."
    case 429:
      return "Rate limit reached, please slow down."
    case 503:
    case 529:
      return "Overloaded"
    default:
      return status >= 500 ? "The server had an error." : `Request failed with status ${status}.`
  }
}
