/**
 * Prompt caching across a fallback chain: a long, stable system text marked
 * as a cache breakpoint, what Claude is sent for it, what the cache saves,
 * and the same request failing over to GPT, which caches on its own.
 *
 *   npm run example -- prompt-cache
 *
 * 1. The request marks the manual `cache: "1h"`. Claude (first in the
 *    chain) gets it as a system block with `cache_control`, and its answer
 *    reports 100,000 of the prompt's tokens read from the cache: the
 *    router's `meta.cost` prices them at Claude's cached-input price.
 * 2. Claude is overloaded (529): the request falls back to GPT, which is
 *    sent the same conversation with no cache field (OpenAI caches
 *    prefixes by itself, and reports what it read).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Console, Effect, Redacted } from "effect"
import { Chat, ModelInfo } from "../src/llm/index.js"
import { Anthropic, OpenAi } from "../src/providers/index.js"
import { Router } from "../src/router/index.js"
import { MockServer } from "../src/testing/index.js"
import { check, usd } from "./internal/show.js"

const manual = "The device manual, chapter after chapter... ".repeat(2_000)

const request: Chat.ChatRequest = {
  messages: [
    { role: "system", content: manual, cache: "1h" },
    { role: "user", content: "How do I reset the device?" }
  ],
  maxTokens: 200
}

/** Claude Sonnet's prices, US dollars per million tokens: a cache read is a tenth of the input price. */
const sonnet: ModelInfo.Price = { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, longCacheWrite: 6 }
const usage = { inputTokens: 100_200, outputTokens: 40, cacheReadTokens: 100_000 }

const program = Effect.gen(function* () {
  const claudeUpstream = yield* MockServer.make({ reply: { text: "Hold the button for ten seconds.", usage } })
  const gptUpstream = yield* MockServer.make({ reply: { text: "Hold the button for ten seconds.", usage } })
  const claude = yield* Anthropic.make({
    model: "claude-sonnet-4-5",
    apiKey: Redacted.make("sk-ant-demo"),
    baseUrl: claudeUpstream.baseUrls.anthropic,
    info: { price: sonnet }
  })
  const gpt = yield* OpenAi.make({ model: "gpt-4.1", apiKey: Redacted.make("sk-demo"), baseUrl: gptUpstream.baseUrls.openai })
  const router = yield* Router.make({
    targets: { claude: { model: claude }, gpt: { model: gpt } },
    chains: { default: ["claude", "gpt"] },
    policy: { retry: { maxAttempts: 1 } }
  })

  // 1. served by Claude, the manual read from its cache
  const first = yield* router.complete(request)
  const sent = claudeUpstream.requests()[0]?.body as { system: Array<{ cache_control?: unknown; text: string }> }
  yield* Console.log(`1. served by ${first.meta.target}; Claude was sent the system text as ${sent.system.length} block, cache_control ${JSON.stringify(sent.system[0]?.cache_control)}`)
  const uncached = ModelInfo.cost(sonnet, { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens })
  yield* Console.log(`   ${first.meta.usage.cacheReadTokens} prompt tokens read from the cache: ${usd(first.meta.cost)}, against ${usd(uncached)} uncached`)
  yield* check(first.meta.cost < uncached / 5, "the cached prompt costs under a fifth")

  // 2. Claude overloaded: GPT serves the same request, sent no cache field
  claudeUpstream.enqueue(MockServer.status(529))
  const second = yield* router.complete(request)
  const toGpt = JSON.stringify(gptUpstream.requests()[0]?.body)
  yield* Console.log(`2. Claude answered 529: served by ${second.meta.target} after ${second.meta.fallbacks} fallback; cache field sent to GPT: ${/cache/.test(toGpt)}`)
  yield* Console.log(`   GPT reported ${second.meta.usage.cacheReadTokens} prompt tokens read from its own cache`)
}).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
