/**
 * Shared state between the simulated instances of one run, as `SharedState`
 * keeps it on Redis, in virtual time:
 *
 * - a breaker transition made on one instance reaches the others after a
 *   round trip (`SharedState` sends it at once), with the same rules (open
 *   carries its deadline, plus a grace for the opener to probe first, and its
 *   trip count; half-open holds the others open for that grace, and while a
 *   probe of it runs, "probing" goes out again every half grace, for up to a
 *   minute from the half-open transition, so a probe longer than the grace
 *   holds the others until its result arrives);
 * - the calls a breaker counts while closed reach the same breaker of the
 *   other instances as one batch per `propagation` (a sync interval plus a
 *   round trip: `SharedState` sends them once per sync), or within 10 ms of
 *   a failure, which wakes the sync;
 * - the retry budgets of one target are one A6 bucket whose count reaches
 *   every instance after `propagation`;
 * - a named health tracker's samples reach the same tracker on the others
 *   as one batch per `propagation`.
 *
 * @internal
 */
import { Clock, Duration, Effect, Ref, Runtime } from "effect"
import * as BreakerStore from "../../resilience/BreakerStore.js"
import type * as Health from "../../resilience/Health.js"
import type * as RetryBudget from "../../resilience/RetryBudget.js"

/** @internal */
export interface Hub {
  /** The stores of instance `index`. */
  readonly stores: (index: number) => {
    readonly breakers: BreakerStore.BreakerStore
    readonly budgets: RetryBudget.Store
    readonly health: Health.Store
  }
}

/**
 * The instance that opened a breaker probes it first: the others take its
 * deadline plus a grace (`SharedState`'s default `probeGrace`), and hear of
 * the probe's result (open again, or closed) before their own deadline
 * passes, so one probe serves them all.
 */
const probeGrace = 2_000

/**
 * How long a probe holds the others back at most, from its half-open
 * transition (`SharedState`'s limit): past it, "probing" is no longer
 * repeated, and a probe that hangs no longer keeps every instance off the
 * target.
 */
const maxProbeHold = 60_000

/** A round trip to Redis and back through pub/sub on a local network: how long a transition takes to arrive. */
const roundTrip = Duration.millis(2)

/** `SharedState`'s least gap between two syncs, when a failure wakes it before its interval. */
const minSyncGap = Duration.millis(10)

/** What the other instances apply, when it reaches them at `now`. */
const remoteOf = (t: BreakerStore.Transition, now: number): BreakerStore.RemoteTransition | undefined =>
  t.to === "open"
    ? t.openUntil === undefined ? undefined : { to: "open", openUntil: t.openUntil + probeGrace, trips: t.trips }
    : t.to === "isolated"
    ? { to: "isolated" }
    : t.to === "closed"
    ? { to: "closed" }
    : { to: "probing", until: now + probeGrace }

/** @internal */
export const make = (propagation: Duration.DurationInput): Effect.Effect<Hub> =>
  Effect.gen(function*() {
    const delay = Duration.decode(propagation)
    // the run's runtime: its virtual clock times the delays
    const fork = Runtime.runFork(yield* Effect.runtime<never>())
    const breakers = new Map<string, Array<{ readonly index: number; readonly registration: BreakerStore.Registration }>>()
    /** Outcomes counted on one instance and not yet delivered, by `${index}\u0000${name}`. */
    const pending = new Map<string, { readonly outcomes: ReturnType<typeof BreakerStore.emptyOutcomes>; urgent: boolean }>()
    const budgets = new Map<string, { milli: number; readonly max: number; readonly members: Array<{ readonly index: number; readonly apply: RetryBudget.Registration["apply"] }> }>()
    const later = (effect: Effect.Effect<void>, after: Duration.Duration = delay) => {
      fork(Effect.delay(effect, after))
    }

    const trackers = new Map<string, Array<{ readonly index: number; readonly registration: Health.Registration }>>()
    /** Health samples taken on one instance and not yet delivered, by `${index}\u0000${name}`. */
    const samples = new Map<string, Map<string, Array<Health.WireSample>>>()

    /** Sends a local transition to the other instances' breakers of the same name, after a round trip. */
    const send = (index: number, transition: BreakerStore.Transition) => {
      const others = (breakers.get(transition.name) ?? []).filter((m) => m.index !== index)
      later(
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const remote = remoteOf(transition, now)
          return remote === undefined
            ? Effect.void
            : Effect.forEach(others, (m) => m.registration.apply(remote), { discard: true })
        }),
        Duration.min(roundTrip, delay)
      )
    }

    /**
     * While instance `index`'s breaker is still in the half-open spell
     * (`generation`) that began at `since`, within `maxProbeHold` of it: if a
     * probe runs, "probing" goes out again; either way, looks again in half a
     * grace. Past the spell, or the limit, it stops.
     */
    const reprobe = (index: number, name: string, ref: Ref.Ref<BreakerStore.State>, generation: number, since: number): Effect.Effect<void> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const state = yield* Ref.get(ref)
        if (state.status !== "half-open" || state.generation !== generation || now - since >= maxProbeHold) return
        if (state.probes > 0) {
          send(index, { name, from: "half-open", to: "half-open", at: now, reason: "probing", generation, trips: state.trips })
        }
        later(reprobe(index, name, ref, generation, since), Duration.millis(probeGrace / 2))
      })

    /** Batches a call counted on instance `index` for the others (see the module comment). */
    const onOutcome = (index: number, name: string, kind: BreakerStore.OutcomeKind, startedAt: number) => {
      const key = `${index}\u0000${name}`
      let entry = pending.get(key)
      const deliver = (batch: typeof entry) =>
        Effect.suspend(() => {
          // delivered once, by whichever of its schedules comes first
          if (batch === undefined || pending.get(key) !== batch) return Effect.void
          pending.delete(key)
          const others = (breakers.get(name) ?? []).filter((m) => m.index !== index)
          return Effect.forEach(others, (m) => m.registration.applyOutcomes(batch.outcomes), { discard: true })
        })
      if (entry === undefined) {
        // the first outcome of a batch schedules its delivery with the next sync; the rest join it
        pending.set(key, entry = { outcomes: BreakerStore.emptyOutcomes(), urgent: false })
        later(deliver(entry))
      }
      BreakerStore.addOutcome(entry.outcomes, kind, startedAt)
      if (!entry.urgent && (kind === "failure" || kind === "slowFailure")) {
        // a failure wakes the sync: it goes out within the minimum gap between syncs
        entry.urgent = true
        later(deliver(entry), Duration.min(Duration.sum(minSyncGap, roundTrip), delay))
      }
    }

    return {
      stores: (index) => ({
        health: {
          register: (registration) =>
            Effect.sync(() => {
              const members = trackers.get(registration.name) ?? []
              members.push({ index, registration })
              trackers.set(registration.name, members)
              const key = `${index}\u0000${registration.name}`
              return {
                onSample: (target, sample) => {
                  let batch = samples.get(key)
                  if (batch === undefined) {
                    samples.set(key, batch = new Map())
                    const sent = batch
                    later(Effect.suspend(() => {
                      samples.delete(key)
                      const others = (trackers.get(registration.name) ?? []).filter((m) => m.index !== index)
                      return Effect.forEach(others, (m) =>
                        Effect.forEach(sent, ([k, list]) => m.registration.apply(k, list), { discard: true }), { discard: true })
                    }))
                  }
                  const list = batch.get(target)
                  if (list === undefined) batch.set(target, [sample])
                  else list.push(sample)
                }
              }
            })
        },
        breakers: {
          register: (registration) =>
            Effect.gen(function*() {
              const members = breakers.get(registration.name) ?? []
              members.push({ index, registration })
              breakers.set(registration.name, members)
              const ref = yield* Ref.make(registration.initial)
              const name = registration.name
              return {
                ref,
                onTransition: (transition) => {
                  send(index, transition)
                  if (transition.to === "half-open") {
                    // as SharedState's sync: "probing" again every half grace while a probe of this spell runs here
                    later(reprobe(index, name, ref, transition.generation, transition.at), Duration.millis(probeGrace / 2))
                  }
                },
                onOutcome: (kind, startedAt) => onOutcome(index, name, kind, startedAt)
              }
            })
        },
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
