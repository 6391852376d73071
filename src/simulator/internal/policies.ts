/**
 * The policies `--compare` runs a scenario under, as rewrites of its config:
 * the same providers, models and chains, different resilience.
 *
 * @internal
 */
import type * as Config from "../../config/Config.js"

type Chains = NonNullable<Config.ConfigFile["chains"]>
type ChainOptions = Exclude<Chains[string], ReadonlyArray<string>>

/** A breaker threshold no outage reaches: the breaker never opens. @internal */
export const unreachable = 1_000_000_000

const withoutModelPolicies = (models: Config.ConfigFile["models"]): Config.ConfigFile["models"] =>
  Object.fromEntries(
    Object.entries(models).map(([alias, model]) => {
      const { policy: _policy, ...rest } = model
      return [alias, rest]
    })
  )

/** What a rewrite keeps of each chain besides its targets and content policy. */
interface Kept {
  readonly strategy: boolean
  /** The chain's static answer when every target failed: a degraded answer. */
  readonly fallbackResponse: boolean
}

/** Chains with their targets, content policy and what `keep` names, and nothing else. */
const plainChains = (chains: Chains | undefined, keep: Kept): Chains | undefined => {
  if (chains === undefined) return undefined
  return Object.fromEntries(
    Object.entries(chains).map(([name, chain]) => {
      if (Array.isArray(chain)) return [name, chain]
      const options = chain as ChainOptions
      const kept = {
        targets: options.targets,
        ...(keep.strategy && options.strategy !== undefined ? { strategy: options.strategy } : {}),
        ...(options.contentPolicy === undefined ? {} : { contentPolicy: options.contentPolicy }),
        ...(keep.fallbackResponse && options.fallbackResponse !== undefined ? { fallbackResponse: options.fallbackResponse } : {})
      }
      return [name, kept]
    })
  ) as Chains
}

const topology = (file: Config.ConfigFile, keep: Kept): Config.ConfigFile => {
  const { policy: _policy, shadowRate: _shadow, chains, models, ...rest } = file
  const plain = plainChains(chains, keep)
  return { ...rest, models: withoutModelPolicies(models), ...(plain === undefined ? {} : { chains: plain }) }
}

/**
 * The router's defaults: every policy section removed (the top-level one,
 * each model's, each chain's, hedging, racing, shadow traffic); chains keep
 * their targets, strategy, content policy and static `fallbackResponse`.
 *
 * @internal
 */
export const defaults = (file: Config.ConfigFile): Config.ConfigFile => topology(file, { strategy: true, fallbackResponse: true })

/**
 * The basic loop of a hand-written fallback: each target in chain order,
 * one retry (two attempts), no hedge, no circuit breaker (no slow-call trip,
 * a failure threshold never reached),
 * no retry budget (a bucket too large to empty), no bulkhead, no degraded
 * answers (no cache, no chain's `fallbackResponse`), no Retry-After read
 * (a retry waits its backoff alone, and no server holds a breaker open);
 * timeouts as the router's defaults.
 *
 * @internal
 */
export const naive = (file: Config.ConfigFile): Config.ConfigFile => ({
  ...topology(file, { strategy: false, fallbackResponse: false }),
  cache: false,
  policy: {
    retry: { maxAttempts: 2, honourRetryAfter: false },
    breaker: { consecutiveFailures: unreachable, consecutiveSlowCalls: 0, slowCallRate: false },
    budget: { maxTokens: unreachable },
    bulkhead: false,
    hedge: false
  }
})
