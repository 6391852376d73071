/**
 * Strategies decide the order in which a chain's targets are tried for one
 * request. Each is a small pure function over a {@link Candidate} view that
 * the router fills in from the breakers, the health windows and the prices,
 * so a strategy never calls anything itself.
 *
 * @since 0.1.0
 */
import type { ChatRequest } from "../llm/Chat.js"
import type { ModelInfo } from "../llm/ModelInfo.js"

/**
 * What a strategy may know about one target at the moment a request arrives.
 *
 * @example
 * ```ts
 * import { Chat } from "effect-llm-failover/llm"
 * import { Strategy } from "effect-llm-failover/router"
 *
 * // candidates by hand, to see what a strategy does with them
 * const candidate = (name: string, priority: number, estimatedCost: number): Strategy.Candidate => ({
 *   name, priority, estimatedCost, weight: 1, available: true, degraded: false, latencyMs: undefined,
 *   info: { provider: "openai", model: name, contextWindow: 128_000, price: { input: 2, output: 8 } }
 * })
 * const context: Strategy.Context = { request: Chat.prompt("Hi"), random: Math.random }
 * Strategy.cost([candidate("gpt-4.1", 0, 0.02), candidate("gpt-4.1-mini", 1, 0.004)], context).map((c) => c.name)
 * // ["gpt-4.1-mini", "gpt-4.1"]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Candidate {
  /** The target's name (its model alias). */
  readonly name: string
  readonly info: ModelInfo
  /** Its place in the chain as configured (0 = primary). */
  readonly priority: number
  /** Its weight for weighted selection (default 1). */
  readonly weight: number
  /** Whether its circuit breaker would admit a call now. */
  readonly available: boolean
  /** Whether its health window calls it degraded. */
  readonly degraded: boolean
  /** Its observed median latency in milliseconds, when known. */
  readonly latencyMs: number | undefined
  /** The estimated cost of this request on it, in US dollars. */
  readonly estimatedCost: number
}

/**
 * The context of one ordering decision.
 *
 * @example
 * ```ts
 * import { Strategy } from "effect-llm-failover/router"
 *
 * // a tenth of the requests try the "canary" target first, unless the request opts out
 * const canary: Strategy.Strategy = (candidates, context: Strategy.Context) => {
 *   const ordered = Strategy.priority(candidates, context)
 *   const first = context.request.metadata?.["canary"] === "off" || context.random() >= 0.1
 *     ? undefined
 *     : ordered.find((c) => c.name === "canary" && c.available)
 *   return first === undefined ? ordered : [first, ...ordered.filter((c) => c !== first)]
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly request: ChatRequest
  /** A uniform random number in [0, 1), from Effect's `Random`. */
  readonly random: () => number
}

/**
 * A strategy: the order in which to try the candidates. It must return each
 * candidate exactly once (targets are never dropped, only moved).
 *
 * @example
 * ```ts
 * import { type Router, Strategy } from "effect-llm-failover/router"
 *
 * // fastest first among the healthy targets, then the rest as `health` orders them
 * const fastHealthy: Strategy.Strategy = (candidates, context) => [
 *   ...Strategy.latency(candidates.filter((c) => c.available && !c.degraded), context),
 *   ...Strategy.health(candidates.filter((c) => !c.available || c.degraded), context)
 * ]
 * const chain: Router.ChainConfig = { targets: ["sonnet", "gpt-4.1", "flash"], strategy: fastHealthy }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Strategy = (candidates: ReadonlyArray<Candidate>, context: Context) => ReadonlyArray<Candidate>

/**
 * The strategies a config may name.
 *
 * @example
 * ```ts
 * import { type Router, Strategy } from "effect-llm-failover/router"
 *
 * // a strategy named in the environment, if it is one
 * const names: ReadonlyArray<Strategy.Name> = ["priority", "weighted", "health", "latency", "cost"]
 * const name: Strategy.Name = names.find((n) => n === process.env["CHAIN_STRATEGY"]) ?? "health"
 * const chain: Router.ChainConfig = { targets: ["sonnet", "mini"], strategy: name }
 * Strategy.byName(name) // the function itself
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Name = "priority" | "weighted" | "health" | "latency" | "cost"

const byPriority = (a: Candidate, b: Candidate) => a.priority - b.priority

/** Open breakers last, then degraded targets, keeping the order within each group (a stable sort). */
const healthRank = (c: Candidate): number => (c.available ? (c.degraded ? 1 : 0) : 2)

/**
 * The chain's order as configured: primary, secondary, tertiary.
 *
 * @example
 * import { Strategy } from "effect-llm-failover/router"
 *
 * declare const candidates: ReadonlyArray<Strategy.Candidate>
 * declare const context: Strategy.Context
 * const order = Strategy.priority(candidates, context).map((c) => c.name)
 *
 * @since 0.1.0
 * @category strategies
 */
export const priority: Strategy = (candidates) => [...candidates].sort(byPriority)

/**
 * Health-aware: targets whose breaker is open go to the end, degraded ones
 * just before them; within each group the configured order holds. Nothing
 * is dropped, so a chain whose every target is unhealthy still tries them.
 *
 * @example
 * import { Strategy } from "effect-llm-failover/router"
 *
 * declare const candidates: ReadonlyArray<Strategy.Candidate>
 * declare const context: Strategy.Context
 * // primary degraded, secondary healthy: the secondary goes first
 * const order = Strategy.health(candidates, context)
 *
 * @since 0.1.0
 * @category strategies
 */
export const health: Strategy = (candidates) =>
  [...candidates].sort((a, b) => healthRank(a) - healthRank(b) || byPriority(a, b))

/**
 * Weighted random: the first target is drawn with probability proportional
 * to its weight, then the next among the rest, and so on (weighted sampling
 * without replacement, by Efraimidis–Spirakis keys `u^(1/w)`). Unavailable
 * targets go to the end. A weight of 0 is tried only after every positive
 * weight.
 *
 * @example
 * import { Strategy } from "effect-llm-failover/router"
 *
 * declare const candidates: ReadonlyArray<Strategy.Candidate>
 * declare const context: Strategy.Context
 * // weights 3 and 2: the first is tried first 60% of the time
 * const order = Strategy.weighted(candidates, context)
 *
 * @since 0.1.0
 * @category strategies
 */
export const weighted: Strategy = (candidates, context) =>
  candidates
    .map((candidate) => ({
      candidate,
      key: candidate.weight > 0 ? Math.pow(context.random(), 1 / candidate.weight) : -1 - candidate.priority * 1e-9
    }))
    .sort((a, b) => Number(b.candidate.available) - Number(a.candidate.available) || b.key - a.key)
    .map(({ candidate }) => candidate)

/**
 * Lowest latency first, by each target's observed median; targets with no
 * data yet keep their configured order after the measured ones, and open
 * breakers go last.
 *
 * @example
 * import { Strategy } from "effect-llm-failover/router"
 *
 * declare const candidates: ReadonlyArray<Strategy.Candidate>
 * declare const context: Strategy.Context
 * const fastestFirst = Strategy.latency(candidates, context)
 *
 * @since 0.1.0
 * @category strategies
 */
export const latency: Strategy = (candidates) =>
  [...candidates].sort(
    (a, b) =>
      Number(b.available) - Number(a.available) ||
      (a.latencyMs ?? Infinity) - (b.latencyMs ?? Infinity) ||
      byPriority(a, b)
  )

/**
 * Cheapest first, by the request's estimated cost on each target (input
 * tokens estimated from the prompt, output from `maxTokens`); open breakers
 * go last.
 *
 * @example
 * import { Strategy } from "effect-llm-failover/router"
 *
 * declare const candidates: ReadonlyArray<Strategy.Candidate>
 * declare const context: Strategy.Context
 * const cheapestFirst = Strategy.cost(candidates, context)
 *
 * @since 0.1.0
 * @category strategies
 */
export const cost: Strategy = (candidates) =>
  [...candidates].sort(
    (a, b) => Number(b.available) - Number(a.available) || a.estimatedCost - b.estimatedCost || byPriority(a, b)
  )

/**
 * The strategy a config names.
 *
 * @example
 * import { Strategy } from "effect-llm-failover/router"
 *
 * const strategy = Strategy.byName("health")
 *
 * @since 0.1.0
 * @category constructors
 */
export const byName = (name: Name): Strategy => strategies[name]

const strategies: Record<Name, Strategy> = { priority, weighted, health, latency, cost }
