/**
 * Degraded mode: every provider is down, and users still get an answer.
 *
 *   npm run example -- degraded-mode
 *
 * Pattern: the DegradedModeHandler of the usual hand-written failover code ("when ALL providers fail, don't
 * show a blank error page"): a last-known-good cache of answers first, then
 * a static response per category (FALLBACK_RESPONSES "general", "support"),
 * every such answer marked `degraded`.
 *
 * Both providers go down at 05:00 (one with 503s, one with connection
 * resets). Before that, a question is answered and the router remembers the
 * answer. During the outage:
 * - the same question (with spaces around it) gets the remembered
 *   answer: `meta.degraded === "cache"`;
 * - a new question gets its chain's static `fallbackResponse`:
 *   `meta.degraded === "static"`;
 * - once the cache entry's TTL (10 minutes) has passed, the static answer;
 * - a chain without a `fallbackResponse` fails with `ChainExhausted`, which
 *   lists every attempt.
 * Virtual time.
 */
import { Clock, Console, Effect, Stream } from "effect"
import { Chat } from "../src/llm/index.js"
import { Simulated } from "../src/providers/index.js"
import type { Events } from "../src/router/index.js"
import { Router } from "../src/router/index.js"
import { attemptsLine, check, clock, metaLine, runVirtual } from "./internal/show.js"

/** The usual FALLBACK_RESPONSES. */
const FALLBACK_RESPONSES = {
  general: "I'm experiencing technical difficulties. Please try again in a few minutes.",
  support: "Our AI assistant is temporarily offline. Please contact support@example.com."
}

const program = Effect.gen(function* () {
  const sonnet = yield* Simulated.make({
    provider: "anthropic",
    model: "claude-sonnet-4-5",
    latency: "700 millis",
    info: { price: { input: 3, output: 15 } },
    reply: (request) => `(sonnet) Answer to: ${Chat.messageText(request.messages.at(-1)!)}`,
    faults: [{ from: "5 minutes", status: 503 }]
  })
  const gpt = yield* Simulated.make({
    provider: "openai",
    model: "gpt-4.1",
    latency: "500 millis",
    info: { price: { input: 2, output: 8 } },
    faults: [{ from: "5 minutes", reset: true }]
  })
  const targets = ["sonnet", "gpt"]
  const router = yield* Router.make({
    targets: { sonnet: { model: sonnet }, gpt: { model: gpt } },
    chains: {
      general: { targets, fallbackResponse: FALLBACK_RESPONSES.general },
      support: { targets, fallbackResponse: FALLBACK_RESPONSES.support },
      strict: targets
    },
    defaultChain: "general",
    policy: { retry: { maxAttempts: 2, base: "200 millis" } },
    cache: { ttl: "10 minutes", maxEntries: 1_000 }
  })

  // operators see every degraded answer as an event
  const degradedEvents: Array<Events.DegradedResponse> = []
  yield* Effect.forkScoped(
    Stream.runForEach(router.events, (event) =>
      event._tag === "DegradedResponse" ? Effect.sync(() => degradedEvents.push(event)) : Effect.void
    )
  )
  yield* Effect.yieldNow()

  const ask = (label: string, request: Chat.ChatRequest, chain?: string) =>
    Effect.gen(function* () {
      const at = yield* Clock.currentTimeMillis
      const { response, meta } = yield* router.complete(request, chain === undefined ? {} : { chain })
      yield* Console.log(`${clock(at, sonnet.epoch)}  ${label}`)
      yield* Console.log(`       "${response.text}"`)
      yield* Console.log(`       ${metaLine(meta)}`)
      if (meta.degraded !== undefined) yield* Console.log(`       attempts: ${attemptsLine(meta.attempts)}`)
      return { response, meta }
    })

  const hours = "What are your opening hours?"
  const first = yield* ask("healthy: a question, answered and remembered", Chat.prompt(hours))
  yield* check(first.meta.degraded === undefined && first.meta.target === "sonnet", "a healthy provider answers")

  yield* Effect.sleep("6 minutes")
  yield* Console.log(`\n-- 05:00: every provider is down --\n`)
  const cached = yield* ask("the same question, with spaces around it", Chat.prompt(`  ${hours}\n`))
  yield* check(cached.meta.degraded === "cache", "a question answered before gets the cached answer")
  yield* check(cached.response.text === first.response.text, "the cached answer is the last good one")

  const fresh = yield* ask("a new support question", Chat.prompt("Can I change my delivery address?"), "support")
  yield* check(fresh.meta.degraded === "static" && fresh.response.text === FALLBACK_RESPONSES.support, "a new question gets the static answer")

  yield* Effect.sleep("10 minutes")
  const expired = yield* ask("the first question again, after the cache TTL", Chat.prompt(hours))
  yield* check(expired.meta.degraded === "static", "past its TTL the cached answer is gone")

  const strict = yield* Effect.either(router.complete(Chat.prompt(hours), { chain: "strict" }))
  yield* Console.log(`\na chain without a fallbackResponse ("strict"), once the cache has expired:`)
  if (strict._tag === "Right") return yield* check(false, "the strict chain should fail")
  yield* Console.log(`       ${strict.left._tag}: ${strict.left.message}`)
  if (strict.left._tag === "ChainExhausted") yield* Console.log(`       attempts: ${attemptsLine(strict.left.attempts)}`)
  yield* check(strict.left._tag === "ChainExhausted", "without degraded answers the chain is exhausted")

  yield* Console.log(`\nDegradedResponse events: ${degradedEvents.map((e) => `${e.chain}/${e.source}`).join(", ")}`)
  yield* check(degradedEvents.length === 3, "each degraded answer is reported as an event")
}).pipe(Effect.scoped)

runVirtual(program)
