/**
 * Cost-aware routing: cheapest capable model first, what that saves, and
 * what a fallback to a pricier model costs.
 *
 *   npm run example -- cost-aware
 *
 * Pattern: the CostAwareRouter of the usual hand-written failover code (MODEL_COSTS, `classify_complexity`,
 * `select_model`, `estimate_savings` "vs always using the best model") and
 * the COST_CHAIN ("cheapest -> medium -> premium, only if needed").
 *
 * 1. `strategy: "cost"` orders a chain by the request's estimated cost on
 *    each target (prices per million tokens; input estimated from the
 *    prompt, output from `maxTokens`), whatever order the chain lists.
 * 2. Five typical queries, routed by complexity to tiers whose chains are
 *    cost-ordered, against always asking the best model: the savings.
 * 3. The cheap model is down for a minute: the request falls back to a
 *    pricier one, and `meta.costDelta` says what that fallback cost over the
 *    chain's first target.
 */
import { Console, Duration, Effect } from "effect"
import { Chat, ModelInfo, Tokens } from "../src/llm/index.js"
import { Simulated } from "../src/providers/index.js"
import { Classifier, Router } from "../src/router/index.js"
import { check, metaLine, runVirtual, usd, usdDelta } from "./internal/show.js"

/** The usual MODEL_COSTS table, in US dollars per million tokens. */
const prices = {
  sonnet: { input: 3, output: 15 },
  gpt4o: { input: 2.5, output: 10 },
  mini: { input: 0.15, output: 0.6 }
} as const

/** Typical queries, and one of moderate complexity. */
const queries = [
  "What is Python?",
  "Write a product description for a desk lamp",
  "Compare microservices vs monolith trade-offs",
  "Translate 'hello' to Spanish",
  "Debug this recursive function and explain why it stack overflows",
  "List the top 5 Python web frameworks"
]

const MINI_DOWN = { from: Duration.hours(1), to: Duration.minutes(61) }

const makeRouter = Effect.gen(function* () {
  const model = (provider: string, name: string, price: ModelInfo.Price) =>
    Simulated.make({
      provider,
      model: name,
      info: { price },
      latency: "400 millis",
      outputTokens: 300,
      ...(name === "gpt-4o-mini" ? { faults: [{ ...MINI_DOWN, status: 503 }] } : {})
    })
  const sonnet = yield* model("anthropic", "claude-sonnet-4-5", prices.sonnet)
  const gpt4o = yield* model("openai", "gpt-4o", prices.gpt4o)
  const mini = yield* model("openai", "gpt-4o-mini", prices.mini)
  return yield* Router.make({
    targets: { sonnet: { model: sonnet }, gpt4o: { model: gpt4o }, mini: { model: mini } },
    chains: {
      // the baseline: always the best model
      always_best: ["sonnet", "gpt4o", "mini"],
      // listed best-first, tried cheapest-first
      cheapest: { targets: ["sonnet", "gpt4o", "mini"], strategy: "cost" },
      standard: { targets: ["sonnet", "gpt4o"], strategy: "cost" },
      premium: ["sonnet", "gpt4o"],
      // the usual COST_CHAIN: cheapest -> medium -> premium
      cost_chain: ["mini", "gpt4o", "sonnet"]
    },
    // simple -> cheapest, moderate -> standard, complex -> premium
    classifier: Classifier.heuristic({ tiers: { simple: "cheapest", moderate: "standard", complex: "premium" } }),
    policy: { retry: { maxAttempts: 1 } },
    cache: false
  })
})

/** 1. The estimates behind `strategy: "cost"`, and its pick. */
const showOrdering = (router: Router.Service) =>
  Effect.gen(function* () {
    const request = Chat.prompt("Summarize the plot of Hamlet", { maxTokens: 300 })
    const input = Tokens.estimate(request)
    yield* Console.log(`1. strategy "cost" on a chain listed sonnet, gpt4o, mini (${input} input tokens, maxTokens 300):`)
    for (const [name, price] of Object.entries(prices)) {
      yield* Console.log(`   ${name.padEnd(7)} estimated ${usd(ModelInfo.cost(price, { inputTokens: input, outputTokens: 300 }))}`)
    }
    const { meta } = yield* router.complete(request, { chain: "cheapest" })
    yield* Console.log(`   -> ${metaLine(meta)}`)
    yield* check(meta.target === "mini", "the cost strategy should try the cheapest model first")
    yield* check(meta.costDelta < 0, "serving from mini costs less than the chain's listed primary")
  })

/** 2. The usual estimate_savings: routed by complexity vs always the best model. */
const showSavings = (router: Router.Service) =>
  Effect.gen(function* () {
    yield* Console.log(`\n2. routed by complexity vs always the best model:`)
    let routed = 0
    let best = 0
    for (const text of queries) {
      const request: Chat.ChatRequest = Chat.prompt(text)
      const smart = yield* router.complete(request)
      const baseline = yield* router.complete(request, { chain: "always_best" })
      routed += smart.meta.cost
      best += baseline.meta.cost
      yield* Console.log(
        `   [${Classifier.complexity(request).padStart(8)}] ${smart.meta.target.padEnd(6)} ${usd(smart.meta.cost)} (always-best ${usd(baseline.meta.cost)})  <- ${text.slice(0, 50)}`
      )
      if (Classifier.complexity(request) === "complex") {
        yield* check(smart.meta.target === "sonnet", `a complex query should still get the best model: "${text}"`)
      }
    }
    const savings = 1 - routed / best
    yield* Console.log(`   always best: ${usd(best)}   smart routed: ${usd(routed)}   savings: ${(savings * 100).toFixed(0)}%`)
    yield* check(savings > 0.3, "routing by complexity should save a good share of the cost")
  })

/** 3. The cheap model is down: the fallback's extra cost. */
const showFallbackDelta = (router: Router.Service) =>
  Effect.gen(function* () {
    yield* Effect.sleep(MINI_DOWN.from) // now mini is down for a minute
    yield* Console.log(`\n3. the COST_CHAIN (mini -> gpt4o -> sonnet) while mini is down (503):`)
    const { meta } = yield* router.complete(Chat.prompt("What is Python?"), { chain: "cost_chain" })
    yield* Console.log(`   ${metaLine(meta)}`)
    const planned = ModelInfo.cost(prices.mini, meta.usage)
    yield* Console.log(
      `   mini would have charged ${usd(planned)}; the fallback charged ${usd(meta.cost)}: ${usdDelta(meta.costDelta)}` +
        ` (${(meta.cost / planned).toFixed(1)}x)`
    )
    yield* check(meta.target === "gpt4o" && meta.fallbacks === 1, "the request should fall back from mini to gpt4o")
    yield* check(meta.costDelta > 0, "a fallback to a pricier model has a positive cost delta")
    yield* check(Math.abs(meta.costDelta - (meta.cost - planned)) < 1e-12, "the delta is the cost over the chain's first target")
  })

const program = Effect.gen(function* () {
  const router = yield* makeRouter
  yield* showOrdering(router)
  yield* showSavings(router)
  yield* showFallbackDelta(router)
}).pipe(Effect.scoped)

runVirtual(program)
