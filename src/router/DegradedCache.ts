/**
 * Degraded mode's memory: the last good answer to each request, so that when
 * every target of a chain is down the router can still answer a request it
 * has answered before. Keys are normalised requests (messages, sampling
 * settings and response format, not metadata) within a partition (the router's is the chain's
 * name, so a chain never answers with another chain's model); entries
 * expire after a TTL and the cache is bounded, dropping the least recently
 * used entry first.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect } from "effect"
import type { ChatRequest, ChatResponse } from "../llm/Chat.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long an answer stays usable (default 1 hour). */
  readonly ttl?: Duration.DurationInput
  /** How many answers are kept at the most (default 1,000). */
  readonly maxEntries?: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DegradedCache {
  /** Remembers a good answer to a request, in `partition` (default: one shared by every caller). */
  readonly set: (request: ChatRequest, response: ChatResponse, partition?: string) => Effect.Effect<void>
  /** The remembered answer in `partition`, if there is one that has not expired. */
  readonly get: (request: ChatRequest, partition?: string) => Effect.Effect<ChatResponse | undefined>
  /** How many answers it holds. */
  readonly size: Effect.Effect<number>
}

/**
 * The cache key of a request: its messages and the settings that change the
 * answer (its response format among them), in a fixed order, with
 * whitespace runs folded and text trimmed.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 * import { DegradedCache } from "effect-llm-failover/router"
 *
 * DegradedCache.key(Chat.prompt("  What is  Effect? ")) === DegradedCache.key(Chat.prompt("What is Effect?")) // true
 *
 * @since 0.1.0
 * @category keys
 */
export const key = (request: ChatRequest): string =>
  JSON.stringify([
    request.messages.map((message) => normalise(message)),
    request.temperature ?? null,
    request.topP ?? null,
    request.maxTokens ?? null,
    request.stop ?? null,
    request.tools?.map((tool) => tool.name) ?? null,
    request.responseFormat ?? null
  ])

const fold = (text: string) => text.replace(/\s+/g, " ").trim()

const normalise = (message: ChatRequest["messages"][number]): unknown => {
  switch (message.role) {
    case "user":
      return [
        "u",
        typeof message.content === "string"
          ? fold(message.content)
          : message.content.map((part) => (part.type === "text" ? fold(part.text) : part.url)),
        message.name ?? null
      ]
    case "assistant":
      return ["a", fold(message.content ?? ""), message.toolCalls?.map((call) => [call.name, call.arguments]) ?? null, message.name ?? null]
    case "system":
      return ["s", fold(message.content), message.name ?? null]
    case "tool":
      return ["t", message.toolCallId, fold(message.content)]
  }
}

/** A request's key within a partition (JSON has no raw control characters, so the separator cannot collide). */
const partitioned = (partition: string, request: ChatRequest) => `${partition}\u0000${key(request)}`

/**
 * Makes a cache. Time is Effect's `Clock`, so tests drive expiry with
 * `TestClock`.
 *
 * @example
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { DegradedCache } from "effect-llm-failover/router"
 *
 * const program = Effect.gen(function* () {
 *   const cache = yield* DegradedCache.make({ ttl: "10 minutes", maxEntries: 500 })
 *   return yield* cache.get(Chat.prompt("hello"), "default")
 * })
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<DegradedCache> =>
  Effect.sync(() => {
    const ttl = Duration.toMillis(options.ttl ?? Duration.hours(1))
    const maxEntries = Math.max(1, options.maxEntries ?? 1_000)
    // A Map keeps insertion order: re-inserting on use makes it an LRU.
    const entries = new Map<string, { readonly response: ChatResponse; readonly expires: number }>()
    return {
      set: (request, response, partition = "") =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const k = partitioned(partition, request)
          entries.delete(k)
          entries.set(k, { response, expires: now + ttl })
          if (entries.size > maxEntries) entries.delete(entries.keys().next().value!)
        }),
      get: (request, partition = "") =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const k = partitioned(partition, request)
          const entry = entries.get(k)
          if (entry === undefined) return undefined
          entries.delete(k)
          if (entry.expires <= now) return undefined
          entries.set(k, entry)
          return entry.response
        }),
      size: Effect.sync(() => entries.size)
    }
  })
