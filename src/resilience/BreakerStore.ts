/**
 * Where a circuit breaker keeps its state, and how a shared backend mirrors it.
 *
 * A breaker's state (closed, open until T, half-open, isolated) is kept in
 * process, so the hot path never leaves it: the breaker decides from its
 * own copy and writes every state it enters to a local `Ref`. A store hands
 * out that `Ref` when a breaker registers (its value then is the state the
 * breaker starts from), and may mirror it across instances:
 *
 * - it observes every transition the breaker makes locally
 *   (`Cell.onTransition`), e.g. to publish "opened until T" to Redis;
 * - it pushes transitions made elsewhere into the breaker
 *   (`Registration.apply`), e.g. another instance opened this breaker until
 *   T, so this instance opens until T too. Applied transitions reach the
 *   breaker's `changes` stream with reason `"remote"` and are not echoed back
 *   to `onTransition`.
 *
 * The default, {@link memory}, keeps the state in process and mirrors nothing.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Ref } from "effect"

/**
 * The states of a breaker. `isolated` is held open by hand until a reset.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { BreakerStore, CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 *
 * const stopsCalls = (status: BreakerStore.Status) => status === "open" || status === "isolated"
 * const down = Effect.map(breaker.snapshot, (snapshot) => stopsCalls(snapshot.state))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "closed" | "open" | "half-open" | "isolated"

/**
 * The state a breaker keeps in its store: the part a mirror replicates.
 * (Counters of the sliding windows stay local to each instance.)
 *
 * @example
 * ```ts
 * import { Effect, Ref } from "effect"
 * import type { BreakerStore } from "effect-llm-failover/resilience"
 *
 * declare const cell: BreakerStore.Cell
 *
 * // what a registered breaker's local state says now
 * const program = Effect.gen(function* () {
 *   const state: BreakerStore.State = yield* Ref.get(cell.ref)
 *   if (state.status === "open") yield* Effect.log(`open until ${new Date(state.openUntil).toISOString()} (trip ${state.trips})`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface State {
  readonly status: Status
  /** Bumped by every transition; results of calls admitted in an older generation are ignored. */
  readonly generation: number
  /** When `open`: the deadline, in epoch millis by the Effect `Clock`. Otherwise 0. */
  readonly openUntil: number
  /** Trips since the last recovery (half-open to closed); drives the open-duration backoff. */
  readonly trips: number
  /** When `half-open`: probe calls admitted and still running. Otherwise 0. */
  readonly probes: number
  /** When `half-open`: probe calls that succeeded. Otherwise 0. */
  readonly probeSuccesses: number
}

/**
 * Why a transition happened.
 *
 * - `"consecutive-failures"`, `"consecutive-slow-calls"`, `"failure-rate"`,
 *   `"slow-call-rate"` (or a custom strategy's reason): closed to open;
 * - `"deadline"`: the open deadline passed (open to half-open);
 * - `"probe-failure"`: a half-open probe failed (half-open to open);
 * - `"probes-succeeded"`: every probe succeeded (half-open to closed);
 * - `"forced"`, `"isolated"`, `"reset"`: `forceOpen`, `isolate`, `reset`;
 * - `"remote"`: applied from a mirror through {@link Registration.apply}.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import type { BreakerStore, CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * declare const breaker: CircuitBreaker.CircuitBreaker
 *
 * // page someone only for trips, not for recoveries or another instance's news
 * const isTrip = (reason: BreakerStore.TransitionReason) =>
 *   reason === "consecutive-failures" || reason === "consecutive-slow-calls" || reason === "failure-rate" ||
 *   reason === "slow-call-rate"
 * const program = Stream.runForEach(
 *   Stream.filter(breaker.changes, (t) => isTrip(t.reason)),
 *   (t) => Effect.logWarning(`${t.name} tripped: ${t.reason}`)
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type TransitionReason =
  | "consecutive-failures"
  | "consecutive-slow-calls"
  | "failure-rate"
  | "slow-call-rate"
  | "deadline"
  | "probe-failure"
  | "probes-succeeded"
  | "forced"
  | "isolated"
  | "reset"
  | "remote"
  | (string & {})

/**
 * One change of a breaker's state, as published on `breaker.changes` and
 * passed to {@link Cell.onTransition}. `from` equals `to` only when
 * `forceOpen` (or a remote open) moves the deadline of an open breaker.
 *
 * @example
 * ```ts
 * import { Effect, Queue } from "effect"
 * import { BreakerStore } from "effect-llm-failover/resilience"
 *
 * // a store that queues every local transition for a fiber to publish
 * const program = Effect.gen(function* () {
 *   const outbox = yield* Queue.unbounded<BreakerStore.Transition>()
 *   const store = BreakerStore.make({ onTransition: (t) => Queue.unsafeOffer(outbox, t) })
 *   const publish = Effect.gen(function* () {
 *     const t: BreakerStore.Transition = yield* Queue.take(outbox)
 *     yield* Effect.log(`${t.name}: ${t.from} -> ${t.to} (${t.reason}, generation ${t.generation})`)
 *   })
 *   return { store, publish }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Transition {
  /** The breaker's name. */
  readonly name: string
  readonly from: Status
  readonly to: Status
  /** When it happened, in epoch millis by the Effect `Clock`. */
  readonly at: number
  readonly reason: TransitionReason
  /** The generation the breaker entered: orders transitions of one breaker. */
  readonly generation: number
  /** Trips since the last recovery, after this transition. */
  readonly trips: number
  /** Present when `to` is `"open"`: the deadline in epoch millis. */
  readonly openUntil?: number
}

/**
 * A transition made by another instance, to apply locally.
 *
 * - `open`: open until `openUntil` (epoch millis). A deadline earlier than the
 *   local one is ignored; an isolated breaker stays isolated. `trips`, when
 *   given, replaces the local trip count so both instances back off alike.
 *   `forced`: the other instance was told by its server when to come back
 *   (`forceOpen`), so no instance probes it early before `openUntil`.
 * - `isolated`: isolate. `closed`: reset.
 * - `probing`: another instance is probing the target (it went half-open
 *   there). An open breaker stays open until at least `until`, and a
 *   half-open one that has admitted no probe yet goes back to open until
 *   then, so one probe serves every instance; any other state is left alone.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { BreakerStore } from "effect-llm-failover/resilience"
 *
 * declare const registration: BreakerStore.Registration
 *
 * // another instance opened this breaker for 30 seconds, on its second trip
 * const remote: BreakerStore.RemoteTransition = { to: "open", openUntil: Date.now() + 30_000, trips: 2 }
 * const program = registration.apply(remote)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type RemoteTransition =
  | { readonly to: "open"; readonly openUntil: number; readonly trips?: number; readonly forced?: boolean }
  | { readonly to: "isolated" }
  | { readonly to: "closed" }
  | { readonly to: "probing"; readonly until: number }

/**
 * What a breaker tells its store when it registers.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerStore } from "effect-llm-failover/resilience"
 *
 * // keep each breaker's registration, to push in what other instances report
 * const registrations = new Map<string, BreakerStore.Registration>()
 * const store = BreakerStore.make({
 *   onRegister: (registration) => Effect.sync(() => registrations.set(registration.name, registration))
 * })
 * const onPeerIsolated = (name: string) => registrations.get(name)?.apply({ to: "isolated" }) ?? Effect.void
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Registration {
  readonly name: string
  /** The state to start from, unless the store knows better (e.g. a mirror that is already open). */
  readonly initial: State
  /**
   * Applies a transition made elsewhere. Call it, once `register` has
   * returned, whenever the mirror reports one.
   */
  readonly apply: (remote: RemoteTransition) => Effect.Effect<void>
  /**
   * Counts calls made elsewhere, as if they had just ended here: in a
   * closed state only, they feed the breaker's trip strategies, so
   * instances that share a target trip on their combined traffic.
   * Failures count as if each had started at `failureStartedAt` (now, when
   * the batch has none, or a later time), successes as if each had started
   * at `successStartedAt` (so a success that started before the latest
   * failing call known here started, say one that began before an outage,
   * does not end a run of consecutive failures), abandoned calls at
   * `abandonedStartedAt` (before any success when none), and a slow call
   * as slower than any slow-call threshold. A batch does not say in what order its
   * calls came, so its kinds are counted interleaved, each spread evenly
   * over the batch, and the kind that started last, failures or successes,
   * ends it: a busy peer's scattered failures make no run, and a peer
   * whose latest calls fail ends on one. A trip they
   * cause is this breaker's own: it reaches `onTransition` like any other.
   * A batch of more than 10,000 calls is counted as 10,000 in the same
   * proportions, so no batch can hold the breaker (or the event loop) long.
   */
  readonly applyOutcomes: (outcomes: Outcomes) => Effect.Effect<void>
}

/**
 * Calls that ended on one instance since its last report, as a store
 * mirrors them: only those its breaker counted while closed (no ignored
 * call, no half-open probe). A call is slow when a slow-call strategy of
 * the breaker says so; `abandoned` are calls given up as slow (outcome
 * `"slow"`, e.g. a hedge that lost).
 *
 * @example
 * ```ts
 * import type { BreakerStore } from "effect-llm-failover/resilience"
 *
 * // since the last report: 3 failures, one of them slow, and nothing else
 * const batch: BreakerStore.Outcomes = {
 *   successes: 0, failures: 2, slowSuccesses: 0, slowFailures: 1, abandoned: 0, successStartedAt: 0
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcomes {
  readonly successes: number
  readonly failures: number
  readonly slowSuccesses: number
  readonly slowFailures: number
  readonly abandoned: number
  /** The latest start (epoch millis) of the batch's successes, slow or not; 0 when it has none. */
  readonly successStartedAt: number
  /**
   * The latest start (epoch millis) of the batch's failures, slow or not; 0
   * or absent when it has none (an instance of an earlier version sends
   * none: its failures count as started when they arrive).
   */
  readonly failureStartedAt?: number
  /**
   * The latest start (epoch millis) of the batch's abandoned calls; 0 or
   * absent when it has none (an instance of an earlier version sends none:
   * its abandoned calls count as started before any success, so that they
   * cannot keep a success from ending their run).
   */
  readonly abandonedStartedAt?: number
}

/**
 * How one counted call ended, as {@link Cell.onOutcome} reports it:
 * `"abandoned"` is the outcome `"slow"` of the breaker (a call given up as
 * slow).
 *
 * @example
 * ```ts
 * import { BreakerStore } from "effect-llm-failover/resilience"
 *
 * // batch each breaker's counted calls between two reports to the other instances
 * const batches = new Map<string, ReturnType<typeof BreakerStore.emptyOutcomes>>()
 * const store = BreakerStore.make({
 *   onOutcome: (name: string, kind: BreakerStore.OutcomeKind, startedAt: number) => {
 *     const batch = batches.get(name) ?? BreakerStore.emptyOutcomes()
 *     BreakerStore.addOutcome(batch, kind, startedAt)
 *     batches.set(name, batch)
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type OutcomeKind = "success" | "failure" | "slowSuccess" | "slowFailure" | "abandoned"

/**
 * An empty batch of outcomes, and how to add one call to a batch: what a
 * store that mirrors outcomes accumulates between reports.
 *
 * @example
 * ```ts
 * import { BreakerStore } from "effect-llm-failover/resilience"
 *
 * const batch = BreakerStore.emptyOutcomes()
 * BreakerStore.addOutcome(batch, "failure", Date.now() - 800)
 * console.log(batch.failures) // 1
 * ```
 *
 * @since 0.1.0
 * @category outcomes
 */
export const emptyOutcomes = (): { -readonly [K in keyof Outcomes]: number } => ({
  successes: 0,
  failures: 0,
  slowSuccesses: 0,
  slowFailures: 0,
  abandoned: 0,
  successStartedAt: 0,
  failureStartedAt: 0,
  abandonedStartedAt: 0
})

const fieldOf: Readonly<Record<OutcomeKind, Exclude<keyof Outcomes, `${string}StartedAt`>>> = {
  success: "successes",
  failure: "failures",
  slowSuccess: "slowSuccesses",
  slowFailure: "slowFailures",
  abandoned: "abandoned"
}

/**
 * Adds one call, started at `startedAt` (epoch millis), to a batch made by
 * {@link emptyOutcomes}.
 *
 * @example
 * ```ts
 * import { BreakerStore } from "effect-llm-failover/resilience"
 *
 * const batch = BreakerStore.emptyOutcomes()
 * BreakerStore.addOutcome(batch, "slowFailure", Date.now() - 12_000)
 * ```
 *
 * @since 0.1.0
 * @category outcomes
 */
export const addOutcome = (
  batch: { -readonly [K in keyof Outcomes]: number },
  kind: OutcomeKind,
  startedAt: number
): void => {
  batch[fieldOf[kind]]++
  if ((kind === "success" || kind === "slowSuccess") && startedAt > batch.successStartedAt) {
    batch.successStartedAt = startedAt
  } else if ((kind === "failure" || kind === "slowFailure") && startedAt > (batch.failureStartedAt ?? 0)) {
    batch.failureStartedAt = startedAt
  } else if (kind === "abandoned" && startedAt > (batch.abandonedStartedAt ?? 0)) {
    batch.abandonedStartedAt = startedAt
  }
}

/**
 * What a store gives a registered breaker.
 *
 * @example
 * ```ts
 * import { Effect, Ref } from "effect"
 * import type { BreakerStore } from "effect-llm-failover/resilience"
 *
 * // a store that logs every transition, state kept in process
 * const logging: BreakerStore.BreakerStore = {
 *   register: (registration) =>
 *     Effect.map(Ref.make(registration.initial), (ref): BreakerStore.Cell => ({
 *       ref,
 *       onTransition: (t) => console.log(`${t.name}: ${t.from} -> ${t.to}`)
 *     }))
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Cell {
  /**
   * The local state. Its value when `register` returns is the state the
   * breaker starts from; after that, the breaker writes its state here after
   * every change, so the `Ref` always ends at the latest one (a change made
   * by a call's outcome is written in the call's next step, so another
   * change may overtake it). Every transition, in order, is what
   * `onTransition` sees. Only the breaker writes to it.
   */
  readonly ref: Ref.Ref<State>
  /**
   * Sees every local transition, in order, synchronously inside the atomic
   * state update that made it, so no transition is missed or reordered,
   * whatever happens to the fiber that caused it. Keep it quick and
   * non-blocking: hand the transition to a queue (`Queue.unsafeOffer`)
   * that a fiber of the store drains. Anything it throws is ignored.
   */
  readonly onTransition: (transition: Transition) => void
  /**
   * Sees every call the breaker counts while closed (not the calls of
   * other instances it is told about through `applyOutcomes`),
   * synchronously: keep it quick (add it to a batch, see
   * {@link addOutcome}). Optional: a store that mirrors only transitions
   * leaves it out. Anything it throws is ignored.
   */
  readonly onOutcome?: (kind: OutcomeKind, startedAt: number) => void
}

/**
 * A place to keep breaker state. Implement `register` to mirror breakers
 * across instances; {@link make} covers the usual case.
 *
 * @example
 * ```ts
 * import { Effect, Ref } from "effect"
 * import { BreakerStore, CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * // every breaker starts isolated until an operator resets it
 * const isolatedAtStart: BreakerStore.BreakerStore = {
 *   register: (registration) =>
 *     Effect.map(Ref.make<BreakerStore.State>({ ...registration.initial, status: "isolated" }), (ref) => ({ ref, onTransition: () => {} }))
 * }
 * const breaker = CircuitBreaker.make({ name: "search", store: isolatedAtStart })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BreakerStore {
  readonly register: (registration: Registration) => Effect.Effect<Cell>
}

/**
 * The default store: state in a local `Ref`, mirrored nowhere.
 *
 * @example
 * ```ts
 * import { BreakerStore, CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * const breaker = CircuitBreaker.make({ name: "search", store: BreakerStore.memory })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const memory: BreakerStore = {
  register: (registration) => Effect.map(Ref.make(registration.initial), (ref) => ({ ref, onTransition: noTransition }))
}

const noTransition = (_: Transition): void => {}

/**
 * A store with local state and hooks for mirroring: `onRegister` receives
 * each breaker's registration (keep its `apply` to push remote transitions
 * in), `onTransition` sees every local transition.
 *
 * @example
 * ```ts
 * import { Effect, Queue } from "effect"
 * import { BreakerStore } from "effect-llm-failover/resilience"
 *
 * // Queues every transition for a fiber to publish (e.g. to Redis), and
 * // keeps each breaker's `apply` to push in what other instances publish.
 * const program = Effect.gen(function*() {
 *   const outbox = yield* Queue.unbounded<BreakerStore.Transition>()
 *   const breakers = new Map<string, BreakerStore.Registration["apply"]>()
 *   const store = BreakerStore.make({
 *     onRegister: (r) => Effect.sync(() => breakers.set(r.name, r.apply)),
 *     onTransition: (t) => Queue.unsafeOffer(outbox, t)
 *   })
 *   return { store, outbox, breakers }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (hooks: {
  readonly onRegister?: (registration: Registration) => Effect.Effect<void>
  readonly onTransition?: (transition: Transition) => void
  /** Sees every call a breaker counts while closed, by the breaker's name (see {@link Cell.onOutcome}). */
  readonly onOutcome?: (name: string, kind: OutcomeKind, startedAt: number) => void
}): BreakerStore => ({
  register: (registration) =>
    Effect.gen(function*() {
      if (hooks.onRegister !== undefined) yield* hooks.onRegister(registration)
      const ref = yield* Ref.make(registration.initial)
      const onOutcome = hooks.onOutcome
      return {
        ref,
        onTransition: hooks.onTransition ?? noTransition,
        ...(onOutcome === undefined ? {} : { onOutcome: (kind: OutcomeKind, startedAt: number) => onOutcome(registration.name, kind, startedAt) })
      }
    })
})

/**
 * The store breakers use when their options name none. Provide it to move
 * every breaker made inside onto a shared backend.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { BreakerStore, CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * const program = CircuitBreaker.make({ name: "search" }).pipe(
 *   Effect.provide(BreakerStore.layer(BreakerStore.memory))
 * )
 * ```
 *
 * @since 0.1.0
 * @category context
 */
export class CurrentBreakerStore extends Context.Tag("effect-llm-failover/resilience/BreakerStore")<
  CurrentBreakerStore,
  BreakerStore
>() {}

/**
 * A layer providing {@link CurrentBreakerStore}: the store every breaker
 * built under it keeps its state in (`SharedState`'s Redis store shares it
 * between instances).
 *
 * @example
 * import { Effect } from "effect"
 * import { BreakerStore, CircuitBreaker } from "effect-llm-failover/resilience"
 *
 * const program = Effect.gen(function* () {
 *   const breaker = yield* CircuitBreaker.make({ name: "search" })
 *   return yield* breaker.snapshot
 * }).pipe(Effect.provide(BreakerStore.layer(BreakerStore.memory)))
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (store: BreakerStore): Layer.Layer<CurrentBreakerStore> => Layer.succeed(CurrentBreakerStore, store)
