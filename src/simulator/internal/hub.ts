/**
 * Shared state between the simulated instances of one run, as `SharedState`
 * keeps it on Redis, in virtual time: a breaker transition made on one
 * instance reaches the others after `propagation` (what a sync interval plus
 * a round trip costs in production), with the same rules (half-open stays
 * local; open carries its deadline, plus a grace for the opener to probe
 * first, and its trip count), and the retry budgets of
 * one target are one A6 bucket whose count reaches every instance after the
 * same delay.
 *
 * @internal
 */
import { Duration, Effect, Runtime } from "effect"
import * as BreakerStore from "../../resilience/BreakerStore.js"
import type * as RetryBudget from "../../resilience/RetryBudget.js"

/** @internal */
export interface Hub {
  /** The stores of instance `index`. */
  readonly stores: (index: number) => { readonly breakers: BreakerStore.BreakerStore; readonly budgets: RetryBudget.Store }
}

/**
 * The instance that opened a breaker probes it first: the others take its
 * deadline plus a grace, and hear of the probe's result (open again, or
 * closed) before their own deadline passes, so one probe serves them all.
 */
const probeGrace = 1_000

const remoteOf = (t: BreakerStore.Transition): BreakerStore.RemoteTransition | undefined =>
  t.to === "open"
    ? t.openUntil === undefined ? undefined : { to: "open", openUntil: t.openUntil + probeGrace, trips: t.trips }
    : t.to === "isolated"
    ? { to: "isolated" }
    : t.to === "closed"
    ? { to: "closed" }
    : undefined

/** @internal */
export const make = (propagation: Duration.DurationInput): Effect.Effect<Hub> =>
  Effect.gen(function*() {
    const delay = Duration.decode(propagation)
    // the run's runtime: its virtual clock times the delays
    const fork = Runtime.runFork(yield* Effect.runtime<never>())
    const breakers = new Map<string, Array<{ readonly index: number; readonly apply: BreakerStore.Registration["apply"] }>>()
    const budgets = new Map<string, { milli: number; readonly max: number; readonly members: Array<{ readonly index: number; readonly apply: RetryBudget.Registration["apply"] }> }>()
    const later = (effect: Effect.Effect<void>) => {
      fork(Effect.delay(effect, delay))
    }

    return {
      stores: (index) => ({
        breakers: BreakerStore.make({
          onRegister: (registration) =>
            Effect.sync(() => {
              const members = breakers.get(registration.name) ?? []
              members.push({ index, apply: registration.apply })
              breakers.set(registration.name, members)
            }),
          onTransition: (transition) => {
            const remote = remoteOf(transition)
            if (remote === undefined) return
            const others = (breakers.get(transition.name) ?? []).filter((m) => m.index !== index)
            later(Effect.forEach(others, (m) => m.apply(remote), { discard: true }))
          }
        }),
        budgets: {
          register: (registration) =>
            Effect.sync(() => {
              const max = Math.round(registration.maxTokens * 1000)
              const bucket = budgets.get(registration.name) ?? { milli: max, max, members: [] }
              bucket.members.push({ index, apply: registration.apply })
              budgets.set(registration.name, bucket)
              return {
                onChange: (delta: number) => {
                  bucket.milli = Math.min(bucket.max, Math.max(0, bucket.milli + Math.round(delta * 1000)))
                  const tokens = bucket.milli / 1000
                  const others = bucket.members.filter((m) => m.index !== index)
                  later(Effect.forEach(others, (m) => m.apply(tokens), { discard: true }))
                }
              }
            })
        }
      })
    }
  })
