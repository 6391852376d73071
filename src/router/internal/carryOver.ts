/**
 * What a router hands the router that replaces it (`Router.make`'s
 * `previous`): each kept target's breaker, retry budget, rate limiter and
 * bulkhead, the health windows and degraded mode's cache, so a reload
 * neither closes an open breaker nor forgets what it measured or answered.
 *
 * @internal
 */
import { Effect } from "effect"
import type { BreakerStore, State } from "../../resilience/BreakerStore.js"
import { CurrentBreakerStore, memory } from "../../resilience/BreakerStore.js"
import type * as CircuitBreaker from "../../resilience/CircuitBreaker.js"
import * as Health from "../../resilience/Health.js"
import type * as DegradedCache from "../DegradedCache.js"
import type * as engine from "./engine.js"

/** A target as built, with what it was built from. @internal */
export interface Built {
  readonly target: engine.Target
  readonly rpm: number | undefined
  readonly tpm: number | undefined
}

/** What a router leaves to its successor. @internal */
export interface Legacy {
  readonly targets: ReadonlyMap<string, Built>
  readonly health: Health.HealthTracker<string>
  readonly healthOptions: Health.HealthOptions | undefined
  /** Degraded mode's last-known-good answers, and the options they were kept under. */
  readonly cache: DegradedCache.DegradedCache | undefined
  readonly cacheOptions: DegradedCache.Options | false | undefined
  /** The latest request id: a router that replaces this one goes on from it, so no id names two requests. */
  readonly requestIds: { last: number }
}

/** Every router `Router.make` built, by its service object: weak, so a router released is forgotten. @internal */
export const legacies = new WeakMap<object, Legacy>()

/**
 * Whether two values hold the same data: primitives by value, arrays and
 * objects key by key (a `Duration` too), functions by identity.
 *
 * @internal
 */
export const sameData = (a: unknown, b: unknown): boolean => {
  if (Object.is(a, b)) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false
  const keysA = Object.keys(a).filter((key) => (a as Record<string, unknown>)[key] !== undefined)
  const keysB = Object.keys(b).filter((key) => (b as Record<string, unknown>)[key] !== undefined)
  if (keysA.length !== keysB.length) return false
  return keysA.every((key) => sameData((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
}

/** A breaker's state now, as a store's starting state (probes in flight stay the old breaker's). @internal */
export const stateOf = (snapshot: CircuitBreaker.Snapshot): State => ({
  status: snapshot.state,
  generation: snapshot.generation,
  openUntil: snapshot.openUntil ?? 0,
  trips: snapshot.trips,
  probes: 0,
  probeSuccesses: 0
})

/**
 * The store in context (or the memory store), but a breaker registering
 * starts from `initial`: how a kept target whose breaker policy changed gets
 * a new breaker in its old state.
 *
 * @internal
 */
export const startingFrom = (initial: State): Effect.Effect<BreakerStore> =>
  Effect.map(Effect.serviceOption(CurrentBreakerStore), (store) => {
    const inner = store._tag === "Some" ? store.value : memory
    return { register: (registration) => inner.register({ ...registration, initial }) }
  })

/** What a tracker made by `splitHealth` is made of: the windows most names share, and those of the names that changed. */
const splits = new WeakMap<object, {
  readonly base: Health.HealthTracker<string>
  readonly parts: ReadonlyMap<string, Health.HealthTracker<string>>
}>()

/**
 * One health tracker over two: the names in `fresh` (targets that changed,
 * whose old figures must not count) are kept in `fresh`, every other in
 * `kept`. A plain call per sample, no Effect step of its own. Over a
 * tracker it made (a reload after a reload), one level still: each name
 * goes straight to the windows it is kept in, and windows no name is kept
 * in any more are let go.
 *
 * @internal
 */
export const splitHealth = (
  kept: Health.HealthTracker<string>,
  fresh: Health.HealthTracker<string>,
  names: ReadonlySet<string>
): Health.HealthTracker<string> => {
  const under = splits.get(kept)
  const base = under?.base ?? kept
  const parts = new Map(under?.parts)
  for (const name of names) parts.set(name, fresh)
  const of = (key: string) => parts.get(key) ?? base
  const tracker: Health.HealthTracker<string> = {
    [Health.TypeId]: Health.TypeId,
    record: (key, sample) => of(key).record(key, sample),
    snapshot: (key) => of(key).snapshot(key),
    snapshotAll: Effect.zipWith(
      base.snapshotAll,
      Effect.forEach(new Set(parts.values()), (part) => Effect.map(part.snapshotAll, (all) => [part, all] as const)),
      (all, split) => {
        const out = new Map([...all].filter(([key]) => !parts.has(key)))
        const byPart = new Map(split)
        for (const [key, part] of parts) {
          const snapshot = byPart.get(part)!.get(key)
          if (snapshot !== undefined) out.set(key, snapshot)
        }
        return out
      }
    )
  }
  splits.set(tracker, { base, parts })
  return tracker
}
