/**
 * Which call each tool result of a conversation answers, for the providers
 * that pair them otherwise than OpenAI: Claude by ids of its own pattern,
 * unique in the conversation; Gemini by the function's name.
 *
 * @internal
 */
import type { Message } from "../../llm/Chat.js"

/**
 * Where a call is: the index of its assistant message in the conversation,
 * and its index among that message's calls.
 *
 * @internal
 */
export interface CallAt {
  readonly turn: number
  readonly index: number
}

/**
 * The call each tool result answers, by the result's index in `messages`:
 * of the latest assistant message with calls before it, the first call of
 * the result's id that no result before it answered. A server that gives
 * every call of an answer the same id, or none (a stream without ids, which
 * leaves them `""`), has its calls answered in order, as OpenAI reads them.
 * A result whose id that message lacks (or whose calls of that id are all
 * answered) answers the latest call of the id before it, in any message
 * (calls split over messages one by one, a result given twice); none when
 * no call has the id. `undefined` when the conversation has no tool result.
 *
 * @internal
 */
export const answeredCalls = (messages: ReadonlyArray<Message>): ReadonlyArray<CallAt | undefined> | undefined => {
  let answers: Array<CallAt | undefined> | undefined
  // the calls of the latest assistant message with calls, by id, not yet answered; and the latest call of each id
  let open = new Map<string, Array<CallAt>>()
  const latest = new Map<string, CallAt>()
  for (let turn = 0; turn < messages.length; turn++) {
    const message = messages[turn]!
    if (message.role === "assistant" && message.toolCalls !== undefined && message.toolCalls.length > 0) {
      open = new Map()
      for (let index = 0; index < message.toolCalls.length; index++) {
        const id = message.toolCalls[index]!.id
        const at = { turn, index }
        const waiting = open.get(id)
        if (waiting === undefined) open.set(id, [at])
        else waiting.push(at)
        latest.set(id, at)
      }
    } else if (message.role === "tool") {
      answers ??= []
      answers[turn] = open.get(message.toolCallId)?.shift() ?? latest.get(message.toolCallId)
    }
  }
  return answers
}
