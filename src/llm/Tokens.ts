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
 * An image's tokens, whatever its size (its URL's characters say nothing of
 * it): about the most a large one costs, so that the estimate errs high.
 * Claude counts width x height / 750 up to its 1.15-megapixel cap, about
 * 1,600; OpenAI's high detail is 85 + 170 a 512-pixel tile (765 for 1024 x
 * 1024, 1,105 for 2048 x 768 on GPT-4o; its low detail 85); Gemini 258 a
 * 768-pixel tile (1,032 for four). GPT-4o mini counts an image's tokens
 * many times over (it bills them at its low price): its estimate is low.
 */
const perImage = 1_600

/**
 * Estimates the input tokens of a request: about four characters a token
 * (of its messages' text, an assistant's tool calls' names and arguments,
 * its tools and its JSON schema) plus a small overhead a message, rounded
 * up, and 1,600 tokens an image (about the most a large image costs on
 * Claude, more than OpenAI's and Gemini's). It errs high for English so
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
  let images = 0
  for (const message of request.messages) {
    if (message.role === "assistant") {
      // its text and its tool calls: a call's arguments are the model's output, read back as input
      chars += message.content?.length ?? 0
      if (message.toolCalls !== undefined) for (const call of message.toolCalls) chars += call.name.length + call.arguments.length
    } else if (message.role === "user" && typeof message.content !== "string") {
      for (const part of message.content) {
        if (part.type === "text") chars += part.text.length
        else images++
      }
    } else chars += messageText(message).length
  }
  if (request.tools !== undefined) chars += JSON.stringify(request.tools).length
  if (request.responseFormat?.type === "json_schema") chars += JSON.stringify(request.responseFormat.schema).length
  return Math.ceil(chars / charsPerToken) + perMessage * request.messages.length + perImage * images
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
