/**
 * Warnings for a policy that may call upstream almost without end: a retry
 * of more than `threshold` attempts a target, or more than `threshold`
 * hedges a request. Valid (the router takes them), but an outage then
 * multiplies every request's calls, and a simulation of it stops at its
 * bound of calls (`Simulator.run`'s `SimulationError`).
 *
 * @internal
 */
import type * as Config from "../../config/Config.js"

/** Attempts or hedges beyond this are warned of. @internal */
export const threshold = 10

const attempts = (path: string, retry: { readonly maxAttempts?: number | undefined } | undefined): ReadonlyArray<Config.Problem> =>
  retry?.maxAttempts !== undefined && retry.maxAttempts > threshold
    ? [{
        path: `${path}.retry.maxAttempts`,
        message: `${retry.maxAttempts} attempts a target: in an outage each request calls it ${retry.maxAttempts} times (more than ${threshold} is rarely meant)`
      }]
    : []

const hedges = (path: string, hedge: { readonly maxHedges?: number | undefined } | false | undefined): ReadonlyArray<Config.Problem> =>
  hedge !== undefined && hedge !== false && hedge.maxHedges !== undefined && hedge.maxHedges > threshold
    ? [{
        path: `${path}.maxHedges`,
        message: `${hedge.maxHedges} hedges a request: a slow answer may have up to ${hedge.maxHedges} more calls made for it at once (more than ${threshold} is rarely meant)`
      }]
    : []

/**
 * A config's retries and hedges past `threshold`, each at its path
 * (`policy.retry.maxAttempts`, `models.mini.policy.retry.maxAttempts`,
 * `chains.fast.hedge.maxHedges`, ...).
 *
 * @internal
 */
export const warnings = (config: Config.ConfigFile): ReadonlyArray<Config.Problem> => [
  ...attempts("policy", config.policy?.retry),
  ...hedges("policy.hedge", config.policy?.hedge),
  ...Object.entries(config.models).flatMap(([name, model]) => attempts(`models.${name}.policy`, model.policy?.retry)),
  ...Object.entries(config.chains ?? {}).flatMap(([name, chain]) =>
    Array.isArray(chain) || !("targets" in chain)
      ? []
      : [...attempts(`chains.${name}.policy`, chain.policy?.retry), ...hedges(`chains.${name}.hedge`, chain.hedge)]
  )
]
