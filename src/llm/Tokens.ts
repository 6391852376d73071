/**
 * A fast, dependency-free estimate of a request's token count, used to skip
 * targets whose context window is too small before calling them.
 *
 * @since 0.1.0
 */
import type { ChatRequest } from "./Chat.js"
import { messageText } from "./Chat.js"

/** Average characters per token for English text across GPT, Claude and Gemini tokenizers. */
const charsPerToken = 4
/** Per-message framing overhead (role markers, separators). */
const perMessage = 4

/**
 * Estimates the input tokens of a request: about four characters a token
 * plus a small overhead a message, rounded up. It errs high for English so
 * that a target it calls "fits" rarely fails with `ContextLengthExceeded`.
 *
 * @example
 * import { Chat, Tokens } from "effect-llm-failover/llm"
 *
 * Tokens.estimate(Chat.prompt("Hello there")) // 7
 *
 * @since 0.1.0
 * @category estimation
 */
export const estimate = (request: ChatRequest): number => {
  let chars = 0
  for (const message of request.messages) chars += messageText(message).length
  if (request.tools !== undefined) chars += JSON.stringify(request.tools).length
  if (request.responseFormat?.type === "json_schema") chars += JSON.stringify(request.responseFormat.schema).length
  return Math.ceil(chars / charsPerToken) + perMessage * request.messages.length
}

/**
 * The tokens a request may need in all: its input estimate plus its
 * `maxTokens` (or `defaultOutput` when unset).
 *
 * @example
 * import { Chat, Tokens } from "effect-llm-failover/llm"
 *
 * Tokens.required(Chat.prompt("Hello there", { maxTokens: 100 })) // 107
 *
 * @since 0.1.0
 * @category estimation
 */
export const required = (request: ChatRequest, defaultOutput = 0): number =>
  estimate(request) + (request.maxTokens ?? defaultOutput)
