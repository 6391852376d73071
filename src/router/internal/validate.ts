/**
 * The router's check of a request before any call: what every provider
 * would refuse (a 400 on each target, after a wasted call apiece) is refused
 * at once. One pass over the fields, no Schema decode: it runs on every
 * request. The bounds are `Chat.ChatRequest`'s, which the gateway applies
 * too (in OpenAI's field names); the words follow the gateway's.
 *
 * Only what no provider takes is refused: a `maxTokens` past a model's
 * output window is not (each target is asked for at most its own), nor a
 * temperature above Claude's 1 (its adapter caps it), nor more stop
 * sequences than OpenAI takes (Claude takes them). The sampling hints and
 * provider options are held to `Chat.ChatRequest`'s bounds too, though a
 * provider that does not take one leaves it out: a `seed` of 1.5 would end
 * a chain at its first OpenAI target, with a 400 that fails the request.
 *
 * @internal
 */
import type { ChatRequest, ProviderOptions } from "../../llm/Chat.js"

const roles: ReadonlySet<unknown> = new Set(["system", "user", "assistant", "tool"])

/** A value as the message shows it: a string quoted, so that `"0.5"` does not read as the number. */
const shown = (value: unknown): string => (typeof value === "string" ? JSON.stringify(value) : String(value))

const numberIn = (value: number, field: string, min: number, max: number): string | undefined => {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    return `Invalid '${field}': expected a finite number, but got ${shown(value)} instead.`
  }
  if (value < min) return `Invalid '${field}': expected a value >= ${min}, but got ${value} instead.`
  if (value > max) return `Invalid '${field}': expected a value <= ${max}, but got ${value} instead.`
  return undefined
}

/** An `anthropic-beta` name: a plain token (`Chat.AnthropicBeta`), which can neither add a name to the header nor break out of it. */
const betaName = /^[A-Za-z0-9._-]+$/

/** What is wrong with a request's provider options, naming the field: what its provider would refuse, or its adapter drop. */
const providerOptionsProblem = (options: ProviderOptions): string | undefined => {
  const betas = options.anthropic?.betas
  if (betas !== undefined) {
    for (let i = 0; i < betas.length; i++) {
      const beta = betas[i]
      if (typeof beta !== "string" || !betaName.test(beta)) {
        return `Invalid value for 'providerOptions.anthropic.betas[${i}]': expected a beta's name (letters, digits, '-', '_' and '.'), but got ${shown(beta)} instead.`
      }
    }
  }
  const settings = options.gemini?.safetySettings
  if (settings !== undefined) {
    for (let i = 0; i < settings.length; i++) {
      const setting = settings[i] as { readonly category?: unknown; readonly threshold?: unknown } | null | undefined
      if (typeof setting?.category !== "string" || typeof setting.threshold !== "string") {
        return `Invalid value for 'providerOptions.gemini.safetySettings[${i}]': expected a category and a threshold, each a string.`
      }
    }
  }
  return undefined
}

/**
 * What is wrong with `request`, naming the field, or `undefined` when every
 * provider could take it.
 *
 * @internal
 */
export const requestProblem = (request: ChatRequest): string | undefined => {
  const { messages, temperature, topP, maxTokens, toolChoice } = request
  if (!Array.isArray(messages) || messages.length === 0) {
    return "Invalid 'messages': expected an array with at least one message."
  }
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as { readonly role?: unknown } | null | undefined
    if (typeof message !== "object" || message === null || !roles.has(message.role)) {
      return `Invalid value for 'messages[${i}].role': supported roles are 'system', 'user', 'assistant' and 'tool'.`
    }
  }
  if (temperature !== undefined) {
    const problem = numberIn(temperature, "temperature", 0, 2)
    if (problem !== undefined) return problem
  }
  if (topP !== undefined) {
    const problem = numberIn(topP, "topP", 0, 1)
    if (problem !== undefined) return problem
  }
  const { seed, presencePenalty, frequencyPenalty, topK, providerOptions } = request
  if (seed !== undefined && !Number.isSafeInteger(seed)) {
    return `Invalid type for 'seed': expected an integer, but got ${shown(seed)} instead.`
  }
  if (presencePenalty !== undefined) {
    const problem = numberIn(presencePenalty, "presencePenalty", -2, 2)
    if (problem !== undefined) return problem
  }
  if (frequencyPenalty !== undefined) {
    const problem = numberIn(frequencyPenalty, "frequencyPenalty", -2, 2)
    if (problem !== undefined) return problem
  }
  if (topK !== undefined) {
    if (!Number.isSafeInteger(topK)) return `Invalid type for 'topK': expected an integer, but got ${shown(topK)} instead.`
    if (topK < 1) return `Invalid 'topK': expected a value >= 1, but got ${topK} instead.`
  }
  if (providerOptions !== undefined) {
    const problem = providerOptionsProblem(providerOptions)
    if (problem !== undefined) return problem
  }
  if (maxTokens !== undefined) {
    if (!Number.isSafeInteger(maxTokens)) {
      return `Invalid type for 'maxTokens': expected an integer, but got ${shown(maxTokens)} instead.`
    }
    if (maxTokens < 1) return `Invalid 'maxTokens': expected a value >= 1, but got ${maxTokens} instead.`
  }
  const named = new Set<string>()
  for (const tool of request.tools ?? []) {
    // Claude and Gemini refuse a tool named twice with a 400 ("Tool names must be unique", "Duplicate function
    // declaration"), which would end the chain after a call
    if (named.has(tool.name)) return `Invalid 'tools': a tool named '${tool.name.slice(0, 64)}' is defined twice; each tool needs a name of its own.`
    named.add(tool.name)
  }
  if (toolChoice !== undefined && toolChoice !== "auto" && toolChoice !== "none") {
    // `auto` and `none` without tools say nothing (the adapters leave them out); a call asked for needs a tool
    const tools = request.tools ?? []
    if (tools.length === 0) {
      return "Invalid value for 'toolChoice': 'toolChoice' is only allowed when 'tools' are specified."
    }
    if (typeof toolChoice === "object" && !tools.some((tool) => tool.name === toolChoice.name)) {
      return `Invalid value for 'toolChoice.name': expected the name of one of 'tools', but got '${toolChoice.name}' instead.`
    }
  }
  return undefined
}
