/**
 * A request's tool choice as the adapters send it.
 *
 * @internal
 */
import type { ChatRequest } from "../../llm/Chat.js"

/**
 * The tool choice to send with `request`: its own, but none for `auto` or
 * `none` without tools. Those say nothing then, and OpenAI refuses any tool
 * choice without tools (400 "'tool_choice' is only allowed when 'tools' are
 * specified."), which would end a chain Claude or Gemini would have answered.
 * `required` or a function without tools is sent as it is: every provider
 * refuses it, as it should.
 *
 * @internal
 */
export const toolChoiceOf = (request: ChatRequest): ChatRequest["toolChoice"] => {
  const choice = request.toolChoice
  if (choice === "auto" || choice === "none") return request.tools !== undefined && request.tools.length > 0 ? choice : undefined
  return choice
}
