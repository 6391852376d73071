/**
 * The LLM domain: chat schemas, provider errors, the `LanguageModel` service.
 *
 * @since 0.1.0
 */
export * as Chat from "./Chat.js"
export * from "./FailoverError.js"
export * as LanguageModel from "./LanguageModel.js"
export * as ModelInfo from "./ModelInfo.js"
export * from "./ProviderError.js"
export * as Tokens from "./Tokens.js"
