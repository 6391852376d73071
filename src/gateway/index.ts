/**
 * The OpenAI-compatible HTTP gateway: the router's failover behind
 * `/v1/chat/completions`, for apps in any language.
 *
 * @since 0.1.0
 */
export * as Gateway from "./Gateway.js"
