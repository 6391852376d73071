/**
 * A classifier picks the chain for a request: by task (task
 * chains: `code_generation`, `document_analysis`, ...) or by quality tier
 * (`premium`, `standard`, `budget`). It is a plain function, so an app can
 * plug in its own (an LLM-based one, a rules table, a user's plan).
 *
 * @since 0.1.0
 */
import type { ChatRequest } from "../llm/Chat.js"
import { messageText } from "../llm/Chat.js"

/**
 * Returns the name of the chain for a request, or `undefined` to use the
 * router's default chain. A name the router does not know also falls back
 * to the default.
 *
 * @example
 * ```ts
 * import { Classifier, type Router } from "effect-llm-failover/router"
 *
 * // paying users go to the premium chain; the rest as the heuristic says
 * const byPlan: Classifier.Classifier = (request) =>
 *   request.metadata?.["plan"] === "pro" ? "premium" : Classifier.heuristic({ tiers: Classifier.defaultTiers })(request)
 * declare const base: Router.Config
 * const config: Router.Config = { ...base, classifier: byPlan }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Classifier = (request: ChatRequest) => string | undefined

/**
 * How complex a request looks to the {@link heuristic} classifier.
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 * import { Classifier } from "effect-llm-failover/router"
 *
 * // room for a longer answer as the request looks harder
 * const maxTokensFor: Readonly<Record<Classifier.Complexity, number>> = { simple: 256, moderate: 1_024, complex: 4_096 }
 * const request = Chat.prompt("Compare Raft and Paxos")
 * const capped: Chat.ChatRequest = { ...request, maxTokens: maxTokensFor[Classifier.complexity(request)] } // 4,096
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Complexity = "simple" | "moderate" | "complex"

const complexSignals = [
  "analyze",
  "analyse",
  "compare",
  "explain why",
  "trade-off",
  "tradeoff",
  "architecture",
  "design",
  "debug",
  "review",
  "prove",
  "step by step"
]
const simpleSignals = ["what is", "define", "list", "how to", "translate", "summarize", "summarise", "format", "spell"]

/**
 * Classifies the last user message by keyword signals and length, as the
 * usual hand-written cost-aware router does: analysis, comparison, design and
 * debugging are complex; definitions, lists, translations and summaries are
 * simple; very long prompts are at least moderate.
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 * import { Classifier } from "effect-llm-failover/router"
 *
 * Classifier.complexity(Chat.prompt("Translate 'hello' to Spanish")) // "simple"
 * Classifier.complexity(Chat.prompt("Compare microservices vs monolith trade-offs")) // "complex"
 *
 * @since 0.1.0
 * @category classifiers
 */
export const complexity = (request: ChatRequest): Complexity => {
  const last = [...request.messages].reverse().find((message) => message.role === "user")
  const text = (last === undefined ? "" : messageText(last)).toLowerCase()
  if (complexSignals.some((signal) => text.includes(signal))) return "complex"
  if (text.length > 4_000) return "moderate"
  if (simpleSignals.some((signal) => text.includes(signal))) return "simple"
  return "moderate"
}

/**
 * The tier each complexity maps to in the {@link heuristic} classifier.
 *
 * @example
 * import { Classifier } from "effect-llm-failover/router"
 *
 * Classifier.defaultTiers.complex // "premium": the chain a complex request goes to
 *
 * @since 0.1.0
 * @category classifiers
 */
export const defaultTiers: Readonly<Record<Complexity, string>> = {
  simple: "budget",
  moderate: "standard",
  complex: "premium"
}

/**
 * The default classifier. In order: an explicit `metadata.chain`; then
 * `metadata.task` (a task chain such as `code_generation`); then
 * `metadata.tier`; then, if `tiers` is given, the tier for the request's
 * {@link complexity}. Otherwise `undefined` (the default chain).
 *
 * @example
 * import { Chat } from "effect-llm-failover/llm"
 * import { Classifier } from "effect-llm-failover/router"
 *
 * const classify = Classifier.heuristic({ tiers: Classifier.defaultTiers })
 * classify(Chat.prompt("List three colours")) // "budget"
 * classify(Chat.prompt("hi", { metadata: { task: "code_generation" } })) // "code_generation"
 *
 * @since 0.1.0
 * @category classifiers
 */
export const heuristic =
  (options: { readonly tiers?: Readonly<Record<Complexity, string>> } = {}): Classifier =>
  (request) => {
    const metadata = request.metadata
    const named = metadata?.["chain"] ?? metadata?.["task"] ?? metadata?.["tier"]
    if (named !== undefined) return named
    return options.tiers === undefined ? undefined : options.tiers[complexity(request)]
  }
