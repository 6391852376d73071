/**
 * Task chains and quality tiers: a chain per kind of request.
 *
 *   npm run example -- tiers
 *
 * Pattern: the hand-written quality-tiered fallback (QUALITY_TIERS premium /
 * standard / budget), task-specific chains (FALLBACK_CHAINS with
 * code_generation, simple_generation, document_analysis, default) and the
 * cost-aware router's `classify_complexity` keyword heuristic.
 *
 * `Classifier.heuristic` picks each request's chain: an explicit
 * `metadata.task` (or `metadata.tier`) wins; otherwise the prompt's
 * complexity maps to a tier (simple -> budget, moderate -> standard,
 * complex -> premium). Each chain is a fallback chain of its own: Opus is
 * down, so premium requests fail over inside the premium tier.
 */
import { Console, Effect } from "effect"
import { Chat } from "../src/llm/index.js"
import { Simulated } from "../src/providers/index.js"
import { Classifier, Router } from "../src/router/index.js"
import { check, runVirtual, usd } from "./internal/show.js"

/** Seven models at list prices (US dollars per million tokens, input / output). */
const models = {
  opus: { provider: "anthropic", model: "claude-opus-4", price: { input: 15, output: 75 } },
  sonnet: { provider: "anthropic", model: "claude-sonnet-4-5", price: { input: 3, output: 15 } },
  haiku: { provider: "anthropic", model: "claude-3-haiku", price: { input: 0.25, output: 1.25 } },
  gpt41: { provider: "openai", model: "gpt-4.1", price: { input: 2, output: 8 } },
  mini: { provider: "openai", model: "gpt-4.1-mini", price: { input: 0.4, output: 1.6 } },
  pro: { provider: "google", model: "gemini-2.5-pro", price: { input: 1.25, output: 10 } },
  flash: { provider: "google", model: "gemini-2.5-flash", price: { input: 0.3, output: 2.5 } }
} as const

type Name = keyof typeof models

const chains = {
  // quality tiers
  premium: ["opus", "gpt41", "pro"],
  standard: ["sonnet", "gpt41", "flash"],
  budget: ["flash", "mini", "haiku"],
  // task chains
  code_generation: ["gpt41", "sonnet", "mini"],
  simple_generation: ["mini", "haiku", "gpt41"],
  document_analysis: ["sonnet", "gpt41", "mini"],
  default: ["sonnet", "gpt41", "mini", "haiku"]
} as const satisfies Record<string, ReadonlyArray<Name>>

/** The requests, and the chain and target each should end up on. */
const requests: ReadonlyArray<{ readonly request: Chat.ChatRequest; readonly chain: string; readonly target: Name }> = [
  { request: Chat.prompt("What is Python?"), chain: "budget", target: "flash" },
  { request: Chat.prompt("Translate 'hello' to Spanish"), chain: "budget", target: "flash" },
  { request: Chat.prompt("Write a short poem about autumn"), chain: "standard", target: "sonnet" },
  { request: Chat.prompt("Compare microservices vs monolith trade-offs"), chain: "premium", target: "gpt41" },
  { request: Chat.prompt("Debug this recursive function and explain why it stack overflows"), chain: "premium", target: "gpt41" },
  { request: Chat.prompt("Write a binary search in Rust", { metadata: { task: "code_generation" } }), chain: "code_generation", target: "gpt41" },
  { request: Chat.prompt("Write a tagline for a bakery", { metadata: { task: "simple_generation" } }), chain: "simple_generation", target: "mini" },
  { request: Chat.prompt("What is in this contract?", { metadata: { task: "document_analysis" } }), chain: "document_analysis", target: "sonnet" },
  { request: Chat.prompt("List three colours", { metadata: { tier: "premium" } }), chain: "premium", target: "gpt41" },
  { request: Chat.prompt("Hello", { metadata: { task: "poetry" } }), chain: "default", target: "sonnet" }
]

const lastUserText = (request: Chat.ChatRequest) => Chat.messageText(request.messages.at(-1)!)

const why = (request: Chat.ChatRequest) => {
  const metadata = request.metadata ?? {}
  if (metadata["task"] !== undefined) return `task=${metadata["task"]}`
  if (metadata["tier"] !== undefined) return `tier=${metadata["tier"]}`
  return Classifier.complexity(request)
}

const program = Effect.gen(function* () {
  const targets: Record<string, Router.TargetConfig> = {}
  for (const [name, m] of Object.entries(models)) {
    targets[name] = {
      model: yield* Simulated.make({
        provider: m.provider,
        model: m.model,
        info: { price: m.price },
        latency: "300 millis",
        outputTokens: 200,
        // Opus is down: premium requests fail over within the premium tier
        ...(name === "opus" ? { faults: [{ status: 529 }] } : {})
      })
    }
  }
  const router = yield* Router.make({
    targets,
    chains,
    classifier: Classifier.heuristic({ tiers: Classifier.defaultTiers }),
    policy: { retry: { maxAttempts: 1 } }
  })

  yield* Console.log(`${"prompt".padEnd(48)} ${"classified".padEnd(24)} ${"chain".padEnd(18)} ${"served by".padEnd(22)} cost`)
  for (const { request, chain, target } of requests) {
    const { meta } = yield* router.complete(request)
    const served = `${meta.target}${meta.fallbacks > 0 ? ` (${meta.fallbacks} fallback)` : ""}`
    yield* Console.log(
      `${lastUserText(request).slice(0, 47).padEnd(48)} ${why(request).padEnd(24)} ${meta.chain.padEnd(18)} ${served.padEnd(22)} ${usd(meta.cost)}`
    )
    yield* check(meta.chain === chain, `"${lastUserText(request)}" should use the ${chain} chain, used ${meta.chain}`)
    yield* check(meta.target === target, `"${lastUserText(request)}" should be served by ${target}, was ${meta.target}`)
  }
  yield* Console.log(`\nopus is down (529): premium requests were served by the next premium model, never by a budget one.`)
  yield* Console.log(`an unknown task ("poetry") falls back to the default chain.`)
}).pipe(Effect.scoped)

runVirtual(program)
