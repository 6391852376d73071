/**
 * Quickstart: the smallest useful router.
 *
 *   npm run example -- quickstart
 *
 * Pattern: multi-model fallback, "primary -> backup", the core of every LLM
 * failover tutorial ("Anthropic returns 529 for 20 minutes... route to a backup").
 *
 * Two targets, one chain. The app code asks a `LanguageModel` for an answer
 * and knows nothing about failover; `Router.layer` provides that
 * `LanguageModel`. The primary (Anthropic) is down with 529 Overloaded, so
 * the answer comes from the fallback (OpenAI), and the app never sees an
 * error. Real time, with latencies of a few milliseconds.
 */
import { Console, Effect } from "effect"
import { Chat, LanguageModel } from "../src/llm/index.js"
import { Simulated } from "../src/providers/index.js"
import { Router } from "../src/router/index.js"
import { check, runReal } from "./internal/show.js"

// The app: plain `LanguageModel` code, unchanged when resilience is added.
const app = Effect.gen(function* () {
  const response = yield* LanguageModel.complete(Chat.prompt("What is a circuit breaker?"))
  yield* Console.log(`answer from ${response.provider}/${response.model}:\n  "${response.text}"`)
  return response
})

const program = Effect.gen(function* () {
  // Two simulated providers: the primary is hard down (529), the backup is fine.
  const sonnet = yield* Simulated.make({
    provider: "anthropic",
    model: "claude-sonnet-4-5",
    latency: "5 millis",
    errorDelay: "2 millis",
    faults: [{ status: 529 }]
  })
  const mini = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: "5 millis" })

  // The whole router config: named targets and a chain, primary first.
  const config: Router.Config = {
    targets: { sonnet: { model: sonnet }, mini: { model: mini } },
    chains: { default: ["sonnet", "mini"] },
    policy: { retry: { maxAttempts: 2, base: "10 millis" } }
  }

  const response = yield* app.pipe(Effect.provide(Router.layer(config)))

  const primary = yield* sonnet.stats
  yield* Console.log(
    `the primary was tried ${primary.calls} times (${JSON.stringify(primary.failures)}) before the fallback answered`
  )
  yield* check(response.provider === "openai", "the answer should come from the fallback (openai)")
  yield* check(primary.calls === 2, "the primary should be tried twice (maxAttempts 2)")
})

runReal(program)
