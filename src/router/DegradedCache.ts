/**
 * Degraded mode's memory: the last good answer to each request, so that when
 * every target of a chain is down the router can still answer a request it
 * has answered before. Keys are digests of normalised requests (messages,
 * sampling settings, tools, response format; not metadata; see `key`) within
 * a partition (the router's is the chain's name, so a chain never answers
 * with another chain's model); entries
 * expire after a TTL and the cache is bounded, dropping the least recently
 * used entry first.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect } from "effect"
import { createHash } from "node:crypto"
import type { ChatRequest, ChatResponse } from "../llm/Chat.js"

/**
 * The size and lifetime of degraded mode's cache.
 *
 * @example
 * ```ts
 * import type { DegradedCache, Router } from "effect-llm-failover/router"
 *
 * // answers stay usable for 5 minutes; 10,000 at the most
 * const cache: DegradedCache.Options = { ttl: "5 minutes", maxEntries: 10_000 }
 * declare const base: Router.Config
 * const config: Router.Config = { ...base, cache }
 * ```
 *
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
 * A cache of the last good answer to each request, as {@link make} makes it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Chat } from "effect-llm-failover/llm"
 * import { DegradedCache } from "effect-llm-failover/router"
 *
 * declare const response: Chat.ChatResponse
 * const program = Effect.gen(function* () {
 *   const cache: DegradedCache.DegradedCache = yield* DegradedCache.make()
 *   yield* cache.set(Chat.prompt("When do you open?"), response, "support")
 *   const again = yield* cache.get(Chat.prompt(" When do you open? "), "support") // the same answer: texts are trimmed
 *   const elsewhere = yield* cache.get(Chat.prompt("When do you open?"), "sales") // undefined: another partition
 * })
 * ```
 *
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
 * The cache key of a request: the SHA-256 digest of its messages and the
 * settings that change the answer (sampling and its hints, tools and the
 * choice of one, the response format, the reasoning effort, the provider
 * options; not its metadata), in a fixed
 * order, each text trimmed at its ends only: whitespace inside it is kept
 * as sent, since two prompts of code that differ in their indentation ask
 * different things. A digest, not the request's
 * text: the cache holds as many keys as answers, and a conversation can be
 * a hundred kilobytes long.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 * import { DegradedCache } from "effect-llm-failover/router"
 *
 * DegradedCache.key(Chat.prompt("  What is Effect? ")) === DegradedCache.key(Chat.prompt("What is Effect?")) // true
 * DegradedCache.key(Chat.prompt("if x:\n    y")) === DegradedCache.key(Chat.prompt("if x:\n  y")) // false
 *
 * @since 0.1.0
 * @category keys
 */
export const key = (request: ChatRequest): string => {
  let text = JSON.stringify([
    request.temperature ?? null,
    request.topP ?? null,
    request.maxTokens ?? null,
    request.stop ?? null,
    // a tool's cache breakpoint changes what the provider keeps, not the answer
    request.tools?.map(({ cache: _, ...tool }) => tool) ?? null,
    request.toolChoice ?? null,
    request.parallelToolCalls ?? null,
    request.responseFormat ?? null,
    request.reasoningEffort ?? null,
    request.seed ?? null,
    request.presencePenalty ?? null,
    request.frequencyPenalty ?? null,
    request.topK ?? null,
    request.providerOptions ?? null
  ])
  for (const message of request.messages) text += framed(message)
  // UTF-8 writes every lone surrogate as U+FFFD, so a text with one is hashed as UTF-16 (tagged apart)
  return loneSurrogate.test(text)
    ? createHash("sha256").update("16:").update(text, "utf16le").digest("base64url")
    : createHash("sha256").update("8:").update(text).digest("base64url")
}

/** Half of a surrogate pair without the other: JSON can carry one (`"\ud800"`), UTF-8 cannot. */
const loneSurrogate = /\p{Cs}/u

/**
 * A message as the key reads it: a letter for its role, then each field
 * framed by its length (`-` when absent), so that no two messages read the
 * same, without the cost of escaping their text as JSON.
 */
const framed = (message: ChatRequest["messages"][number]): string => {
  switch (message.role) {
    case "user":
      return typeof message.content === "string"
        ? `u${field(message.content.trim())}${field(message.name)}`
        : `U${message.content.length}:${message.content.map(framedPart).join("")}${field(message.name)}`
    case "assistant":
      return `a${field((message.content ?? "").trim())}${message.toolCalls?.length ?? 0}:${(message.toolCalls ?? []).map((call) => field(call.name) + field(call.arguments)).join("")}${field(message.name)}`
    case "system":
      return `s${field(message.content.trim())}${field(message.name)}`
    case "tool":
      return `${message.isError === true ? "e" : "t"}${field(message.toolCallId)}${field(message.content.trim())}`
  }
}

const framedPart = (part: Exclude<UserContent, string>[number]): string =>
  part.type === "text" ? `t${field(part.text.trim())}` : `i${field(part.url)}${field(part.detail)}`

type UserContent = Extract<ChatRequest["messages"][number], { readonly role: "user" }>["content"]

const field = (text: string | undefined) => (text === undefined ? "-" : `${text.length}:${text}`)


/** A request's key within a partition (the digest is of fixed length, so the two cannot run together). */
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
