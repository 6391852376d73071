/**
 * Provider adapters: OpenAI Chat Completions (and every OpenAI-compatible
 * server), Anthropic Messages, Google Gemini, and a simulated provider driven
 * by a fault schedule.
 *
 * @since 0.1.0
 */
export * as Anthropic from "./Anthropic.js"
export * as Gemini from "./Gemini.js"
export * as OpenAi from "./OpenAi.js"
export * as Simulated from "./Simulated.js"
export * as UndiciHttpClient from "./UndiciHttpClient.js"
