/**
 * The text a simulated model answers with, cut into stream tokens.
 *
 * @internal
 */
import type { ChatRequest } from "../../llm/Chat.js"
import { messageText } from "../../llm/Chat.js"

const word = /\s*\S+/g

/**
 * Splits text into tokens of one word each, with the whitespace before a word
 * kept on it (as BPE tokenizers do). Joining the tokens gives back the text
 * exactly; whitespace after the last word stays on the last token.
 */
export const tokenize = (text: string): Array<string> => {
  const tokens: Array<string> = text.match(word) ?? []
  let consumed = 0
  for (const token of tokens) consumed += token.length
  if (consumed < text.length) {
    const trailing = text.slice(consumed)
    if (tokens.length === 0) tokens.push(trailing)
    else tokens[tokens.length - 1] += trailing
  }
  return tokens
}

/** How many words of the prompt the default reply echoes. */
const echoedWords = 12

/**
 * The default reply: `"<provider>/<model>: "` and the first words of the last
 * user message, so a test can tell which target answered.
 */
export const defaultReply =
  (provider: string, model: string) =>
  (request: ChatRequest): string => {
    let prompt = ""
    for (let i = request.messages.length - 1; i >= 0; i--) {
      const message = request.messages[i]!
      if (message.role === "user") {
        prompt = messageText(message)
        break
      }
    }
    const words = prompt.trim().split(/\s+/, echoedWords).join(" ")
    return `${provider}/${model}: ${words.length > 0 ? words : "hello"}`
  }

/** Filler for an empty reply asked to produce tokens. */
const filler: ReadonlyArray<string> = ["lorem", " ipsum", " dolor", " sit", " amet"]

/** The tokens of an answer and why it stopped. */
export interface Answer {
  readonly tokens: ReadonlyArray<string>
  readonly finishReason: "stop" | "length"
}

/**
 * Shapes a reply's tokens into the answer: exactly `outputTokens` of them when
 * set (the reply repeats, a space apart, or is cut short), then at most
 * `maxTokens` (the request's limit: a cut answer finishes with `"length"`).
 */
export const answer = (
  tokens: ReadonlyArray<string>,
  outputTokens: number | undefined,
  maxTokens: number | undefined
): Answer => {
  const sized = outputTokens === undefined || outputTokens === tokens.length ? tokens : resize(tokens, outputTokens)
  return maxTokens !== undefined && maxTokens < sized.length
    ? { tokens: sized.slice(0, maxTokens), finishReason: "length" }
    : { tokens: sized, finishReason: "stop" }
}

const resize = (tokens: ReadonlyArray<string>, size: number): ReadonlyArray<string> => {
  if (size <= tokens.length) return tokens.slice(0, size)
  const source = tokens.length === 0 ? filler : tokens
  const out = new Array<string>(size)
  for (let i = 0; i < size; i++) {
    const token = source[i % source.length]!
    out[i] = i >= source.length && !/^\s/.test(token) ? ` ${token}` : token
  }
  return out
}
