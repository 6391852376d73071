/**
 * Test helpers for apps that use this library: a mock HTTP server speaking
 * the OpenAI, Anthropic and Gemini wire formats, with scripted faults.
 *
 * @since 0.1.0
 */
export * as MockServer from "./MockServer.js"
