/**
 * The circuit breaker's state machine.
 *
 * The breaker's state lives in a plain field, `state`, which is the truth
 * for every decision; the store's `Ref` is written after every change (in
 * the same step by `update`, in the next step by `flush`), so it always
 * ends at the latest state.
 * Every change is made synchronously, in one fiber step, by the fiber that
 * caused it, so it is atomic: JavaScript runs one fiber step at a time. The
 * same step drives the mutable trip strategies and hands each transition,
 * in order, to the `PubSub` and the store's hook, so nothing that happens to
 * the calling fiber afterwards can lose a transition.
 *
 * The closed-state success path of `protect` reads the field, makes one
 * ticket and runs the call under one `matchCauseEffect` whose callback
 * records the outcome synchronously (O(1) in the strategies); it touches
 * the `Ref` only when the outcome trips the breaker. An `Exit` is built for
 * the classifier only when the classifier is a custom one. The clock,
 * captured at `make`, is read synchronously.
 *
 * @internal
 */
import type { Clock, Queue, Scope, Stream } from "effect"
import { Cause, Duration, Effect, Exit, FiberId, Option, PubSub, Ref, Stream as S } from "effect"
import type { Cell, OutcomeKind, Outcomes, Registration, RemoteTransition, State, Transition, TransitionReason } from "../BreakerStore.js"
import { CurrentBreakerStore, memory } from "../BreakerStore.js"
import type {
  CircuitBreaker,
  Classifier,
  CountedOutcome,
  Options,
  Outcome,
  Permit,
  Snapshot,
  TripPolicy,
  TripReason,
  TripStrategy,
  WindowMetrics
} from "../CircuitBreaker.js"
import { CircuitOpen, consecutiveFailures, defaultClassifier } from "../CircuitBreaker.js"
import { isNegative } from "./duration.js"
import { monotonicMillis } from "./timeout.js"

/** Resolved options. @internal */
export interface Config<E> {
  readonly name: string
  readonly baseMillis: number
  readonly factor: number
  readonly capMillis: number
  readonly halfOpenProbes: number
  readonly classify: Classifier<E>
  readonly strategies: ReadonlyArray<TripStrategy>
  /** Some strategy reads durations or times, so closed-state calls read the clock. */
  readonly usesTime: boolean
  /** The classifier does not ignore interruptions, so `protect` must observe them. */
  readonly countsInterruption: boolean
  /** The strategies that say when one more failure would trip them (none when `probeBeforeTrip` is off). */
  readonly edgeStrategies: ReadonlyArray<TripStrategy>
}

/** What an admission returns: the caller's result, and the new state. */
type Admission = readonly [Effect.Effect<Ticket, CircuitOpen>, State]

const closedState = (generation: number): State => ({
  status: "closed",
  generation,
  openUntil: 0,
  trips: 0,
  probes: 0,
  probeSuccesses: 0
})

/** @internal */
export const initialState: State = closedState(0)

/**
 * One admitted call: the generation that admitted it, when (0 when the
 * breaker does not time closed-state calls), its place in the order of
 * admissions, and whether its outcome was recorded.
 *
 * @internal
 */
export class Ticket {
  settled = false
  /** Its slot given back before its outcome (see `Permit.freeSlot`): the outcome then frees none. */
  slotFreed = false
  constructor(
    readonly generation: number,
    readonly startedAt: number,
    readonly order: number,
    /** A half-open probe's, or a guarded closed breaker's one trial: others wait for its outcome. */
    readonly slot = false
  ) {}
}

const succeedTrue = Effect.succeed(true)

/** @internal */
export class BreakerImpl<E> implements CircuitBreaker<E> {
  readonly name: string
  readonly acquire: Effect.Effect<Permit<E>, CircuitOpen>
  readonly acquireProbe: Effect.Effect<Permit<E>, CircuitOpen>
  readonly acquireLastResort: Effect.Effect<Permit<E>, CircuitOpen>
  readonly acquireScoped: Effect.Effect<Permit<E>, CircuitOpen, Scope.Scope>
  readonly isAvailable: Effect.Effect<boolean>
  readonly snapshot: Effect.Effect<Snapshot>
  readonly isolate: Effect.Effect<void>
  readonly reset: Effect.Effect<void>
  /** Admission in any state, without the permit wrapper. */
  private readonly admit: Effect.Effect<Ticket, CircuitOpen>
  /** Writes `state` to the store's `Ref`, after a change made outside `update`. */
  private readonly flush: Effect.Effect<void>
  /** The classifier is the default one: outcomes are read from the cause, no `Exit` built. */
  private readonly defaultClassify: boolean
  /** Failures in a row while closed, for snapshots (counted as `consecutiveFailures` counts them). */
  private consecutiveFailures = 0
  /** When the latest-started failing call counted in `consecutiveFailures` started. */
  private lastFailureAt = Number.NEGATIVE_INFINITY
  /** Calls admitted so far (each ticket's `order`). */
  private admitted = 0
  /** The `order` of the latest-admitted counted failing call: a ticket of a later `order` started after it, whatever the clock says. */
  private admittedBeforeFailure = 0
  /**
   * Closed, and one failure short of a trip (some strategy's
   * `oneFailureShort`): calls are admitted one at a time, as probes are.
   */
  private guarded = false
  /**
   * Until when `forceOpen` (a server's Retry-After) holds the breaker open:
   * no early probe before then. A shared store's other instances hold it
   * too (`RemoteTransition`'s `forced`): the wait is usually the account's.
   */
  private forcedUntil = 0
  /**
   * When open: the deadline on the clock's monotonic time, which a step of
   * the wall clock does not move. The open state ends when either this or
   * its wall-clock `openUntil` (which a shared store carries) has passed:
   * a wall clock put back an hour (NTP, a resumed VM) would otherwise hold
   * the breaker open an hour longer.
   */
  private openUntilMonotonic = Infinity
  /** The call admitted while `guarded`, until it settles or the breaker leaves this closed generation. */
  private trial: Ticket | undefined = undefined
  /** Made on the first subscription: with no subscriber, a transition has nobody to reach. */
  private hub: PubSub.PubSub<Transition> | undefined = undefined

  constructor(
    readonly config: Config<E>,
    private readonly cell: Cell,
    private readonly clock: Clock.Clock,
    /** The current state; see the module docs. */
    private state: State
  ) {
    this.name = config.name
    this.defaultClassify = config.classify === defaultClassifier
    // a store may start it open (a mirror's state)
    if (state.status === "open") this.openUntilMonotonic = monotonicMillis(clock) + (state.openUntil - this.now())
    this.flush = Ref.update(cell.ref, () => this.state)
    const admitSlow = Effect.flatten(this.update((state, now): Admission => this.admitAt(state, now)))
    const admitEarly = Effect.flatten(this.update((state, now): Admission => this.admitAt(this.early(state, now), now)))
    /** A closed breaker's ticket at once, unless `heldByTrial` and a trial rule is in force (`guarded`); else `otherwise`. */
    const closedOr = (heldByTrial: boolean, otherwise: Effect.Effect<Ticket, CircuitOpen>) =>
      Effect.suspend(() =>
        this.state.status === "closed" && !(heldByTrial && this.guarded)
          ? Effect.succeed(this.ticket(this.state.generation))
          : otherwise
      )
    const permit = (admission: Effect.Effect<Ticket, CircuitOpen>) =>
      Effect.uninterruptible(Effect.map(admission, (ticket) => new PermitImpl(this, ticket)))
    this.admit = closedOr(true, admitSlow)
    this.acquire = permit(this.admit)
    this.acquireLastResort = permit(closedOr(false, admitSlow))
    this.acquireProbe = permit(closedOr(true, admitEarly))
    // recording a settled permit does nothing: this frees the slot of a caller that never recorded
    this.acquireScoped = Effect.acquireRelease(this.acquire, (permit) => permit.record("ignored"))
    const availableSlow = this.update((state) => [this.admits(state), state])
    this.isAvailable = Effect.suspend(() => this.state.status === "closed" && !this.guarded ? succeedTrue : availableSlow)
    this.snapshot = this.update((state, now) => [this.snapshotOf(state, now), state])
    this.isolate = this.update((state, now) => [undefined, this.isolateAt(state, now, "isolated", true)])
    this.reset = this.update((state, now) => [undefined, this.resetAt(state, now, "reset", true)])
  }

  /** Every transition from when the stream starts running, in order. */
  get changes(): Stream.Stream<Transition> {
    return S.unwrap(Effect.map(this.pubsub, (hub) => S.fromPubSub(hub)))
  }

  /** A subscription to every transition from when it completes, in order. */
  get subscribe(): Effect.Effect<Queue.Dequeue<Transition>, never, Scope.Scope> {
    return Effect.flatMap(this.pubsub, PubSub.subscribe)
  }

  /** The transition `PubSub`, made by the first subscriber. */
  private get pubsub(): Effect.Effect<PubSub.PubSub<Transition>> {
    return Effect.suspend(() =>
      this.hub !== undefined
        ? Effect.succeed(this.hub)
        : Effect.map(PubSub.unbounded<Transition>(), (made) => (this.hub ??= made))
    )
  }

  /**
   * Two fast paths skip the uninterruptible region that admission otherwise
   * runs in: a rejection before the open deadline (nothing to undo), and a
   * closed breaker, not guarded, whose classifier ignores interruptions
   * (such a ticket holds no slot, and an interrupted call would be ignored
   * anyway).
   */
  readonly protect = <A, E1 extends E, R>(self: Effect.Effect<A, E1, R>): Effect.Effect<A, E1 | CircuitOpen, R> =>
    Effect.suspend((): Effect.Effect<A, E1 | CircuitOpen, R> => {
      const state = this.state
      switch (state.status) {
        case "closed":
          if (!this.config.countsInterruption && !this.guarded) return this.run(self, this.ticket(state.generation))
          break
        case "open": {
          const now = this.now()
          if (!this.expired(state, now)) return this.reject(Duration.millis(this.openLeft(state, now)), now < this.forcedUntil)
          break
        }
        case "isolated":
          return this.reject(Duration.infinity)
      }
      return Effect.uninterruptibleMask((restore) => Effect.flatMap(this.admit, (ticket) => this.run(restore(self), ticket)))
    })

  readonly forceOpen = (duration: Duration.DurationInput): Effect.Effect<void> => {
    const millis = Duration.toMillis(Duration.decode(duration))
    return this.update((state, now) => {
      if (state.status !== "isolated") this.forcedUntil = Math.max(this.forcedUntil, now + millis)
      return [undefined, this.openAt(state, now, now + millis, state.trips, "forced", true)]
    })
  }

  /** Applies a transition pushed by the store's mirror. */
  readonly applyRemote = (remote: RemoteTransition): Effect.Effect<void> =>
    this.update((state, now) => {
      switch (remote.to) {
        case "open": {
          const opened = this.openAt(state, now, remote.openUntil, remote.trips ?? state.trips, "remote", false)
          // another instance's server said when to come back: no early probe here either
          if (remote.forced === true && opened.status === "open") this.forcedUntil = Math.max(this.forcedUntil, remote.openUntil)
          return [undefined, opened]
        }
        case "isolated":
          return [undefined, this.isolateAt(state, now, "remote", false)]
        case "closed":
          return [undefined, this.resetAt(state, now, "remote", false)]
        case "probing":
          return [undefined, this.holdFor(state, now, remote.until)]
      }
    })

  /** Another instance probes: stay open until `until`, or go back to open if no probe of ours has started. */
  private holdFor(state: State, now: number, until: number): State {
    if (state.status === "open") return this.openAt(state, now, until, state.trips, "remote", false)
    if (state.status === "half-open" && state.probes === 0 && state.probeSuccesses === 0 && until > now) {
      return this.transition(state, this.openState(state, until, state.trips), "remote", now, false)
    }
    return state
  }

  /**
   * Counts calls of other instances (see `Registration.applyOutcomes`): in
   * a closed state only, failures as if started at the batch's
   * `failureStartedAt` (as if just ended when it has none), abandoned calls
   * at its `abandonedStartedAt` (before any success when it has none),
   * successes at its `successStartedAt`; a slow one as slower than any
   * threshold. They are not reported back to the store. A batch past
   * `maxRemoteCalls` is scaled down to it first (see there).
   *
   * The order of a batch's calls is not sent, so its kinds are counted
   * interleaved, each spread evenly over the batch (`interleave`), and the
   * kind that started last (failures or successes, by their latest starts)
   * ends it: a busy peer's scattered failures are no run (counted first,
   * 5 failures among 95 successes tripped a threshold of 5), and a peer
   * whose latest calls fail still ends on a run.
   */
  readonly applyOutcomes = (batch: Outcomes): Effect.Effect<void> =>
    this.update((state, now) => {
      if (state.status !== "closed") return [undefined, state]
      const outcomes = scaledDown(batch)
      // a peer's failing calls started when it says, at the latest now (its clock may run ahead of ours)
      const failedFrom = outcomes.failureStartedAt !== undefined && outcomes.failureStartedAt > 0 ? Math.min(outcomes.failureStartedAt, now) : now
      // an earlier version sends no start: as started before any success, so that none is kept from ending their run
      const abandonedFrom = outcomes.abandonedStartedAt !== undefined && outcomes.abandonedStartedAt > 0
        ? Math.min(outcomes.abandonedStartedAt, now)
        : 0
      const kinds = remoteKinds(failedFrom, abandonedFrom, outcomes.successStartedAt)
      const counts = [outcomes.failures, outcomes.slowFailures, outcomes.abandoned, outcomes.successes, outcomes.slowSuccesses]
      const failures = counts[0]! + counts[1]!
      const successes = counts[3]! + counts[4]!
      // the group that started last keeps one call back, to end the batch
      let last = -1
      if (failures > 0 && successes > 0) {
        last = outcomes.successStartedAt >= failedFrom ? (counts[3]! > 0 ? 3 : 4) : (counts[0]! > 0 ? 0 : 1)
        counts[last]!--
      }
      let next = state
      const count = (kind: number) => {
        const { outcome, duration, startedAt } = kinds[kind]!
        next = this.countClosed(next, outcome, duration, now, startedAt)
        return next.status === "closed"
      }
      if (interleave(counts, count) && last >= 0) count(last)
      return [undefined, next]
    })

  /** Records a ticket's outcome (only its first). */
  settle(ticket: Ticket, outcome: Outcome, durationMillis: number | undefined): Effect.Effect<void> {
    return Effect.suspend(() => this.settleNow(ticket, outcome, durationMillis) ? this.flush : Effect.void)
  }

  /**
   * Gives back the slot a ticket holds (a trial's, or a half-open probe's of
   * the current generation) before its outcome, which still counts when it
   * comes: the next call may take the slot meanwhile.
   */
  freeSlot(ticket: Ticket): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (!ticket.slot || ticket.settled || ticket.slotFreed) return Effect.void
      ticket.slotFreed = true
      if (ticket === this.trial) {
        this.trial = undefined
        return Effect.void
      }
      const state = this.state
      if (state.status !== "half-open" || state.generation !== ticket.generation) return Effect.void
      this.state = { ...state, probes: state.probes - 1 }
      return this.flush
    })
  }

  /**
   * Runs an admitted call and records its outcome synchronously in the
   * callback its exit takes; the `Ref` is written only if the state changed.
   */
  private run<A, E1 extends E, R>(self: Effect.Effect<A, E1, R>, ticket: Ticket): Effect.Effect<A, E1, R> {
    return Effect.matchCauseEffect(self, {
      onSuccess: (value) => {
        if (this.defaultClassify) return this.recorded(ticket, "success", Effect.succeed(value))
        return this.classified(ticket, Exit.succeed(value))
      },
      onFailure: (cause) => {
        if (this.defaultClassify) {
          return this.recorded(ticket, Cause.isInterruptedOnly(cause) ? "ignored" : "failure", Effect.failCause(cause))
        }
        return this.classified(ticket, Exit.failCause(cause))
      }
    })
  }

  /**
   * Records `exit` as the custom classifier says, then returns it. A
   * classifier that throws is a defect of the call, and the ticket is
   * settled as ignored first, so that it holds no slot.
   */
  private classified<A, E1 extends E>(ticket: Ticket, exit: Exit.Exit<A, E1>): Effect.Effect<A, E1> {
    let outcome: Outcome
    try {
      outcome = this.config.classify(exit)
    } catch (defect) {
      return this.recorded(ticket, "ignored", Effect.die(defect))
    }
    return this.recorded(ticket, outcome, exit)
  }

  /** Records `outcome` for `ticket`, then returns `result` (after writing the `Ref` if the state changed). */
  private recorded<A, E1>(ticket: Ticket, outcome: Outcome, result: Effect.Effect<A, E1>): Effect.Effect<A, E1> {
    return this.settleNow(ticket, outcome, undefined) ? Effect.zipRight(this.flush, result) : result
  }

  /**
   * Records a ticket's outcome (only its first) in `state`, synchronously.
   * Returns whether the state changed. An open or isolated state never
   * matches a ticket's generation (every transition starts a new one), so
   * an expired open deadline need not be looked at here.
   */
  private settleNow(ticket: Ticket, outcome: Outcome, durationMillis: number | undefined): boolean {
    const state = this.state
    const next = this.settleAt(state, ticket, outcome, durationMillis, this.now())
    if (next === state) return false
    this.state = next
    return true
  }

  private now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  /** Whether an open state's deadline has passed, by the wall clock or by the monotonic one (see `openUntilMonotonic`). */
  private expired(state: State, now: number): boolean {
    return now >= state.openUntil || monotonicMillis(this.clock) >= this.openUntilMonotonic
  }

  /** The time left until an open state's deadline (the nearer of the two: see `expired`). */
  private openLeft(state: State, now: number): number {
    return Math.min(state.openUntil - now, this.openUntilMonotonic - monotonicMillis(this.clock))
  }

  private ticket(generation: number): Ticket {
    return new Ticket(generation, this.config.usesTime ? this.now() : 0, ++this.admitted)
  }

  /**
   * One atomic state update at the current time, after first moving an
   * open breaker whose deadline passed to half-open: computes the next state
   * from `state` and writes it to both `state` and the store's `Ref`.
   */
  private update<A>(f: (state: State, now: number) => readonly [A, State]): Effect.Effect<A> {
    return this.cell.ref.modify(() => {
      const now = this.now()
      const current = this.state
      const result = f(current.status === "open" && this.expired(current, now) ? this.toHalfOpen(current, now) : current, now)
      this.state = result[1]
      return result
    })
  }

  // ---- admission -----------------------------------------------------------

  /** Admits or rejects a call; `update` has already moved an expired open state to half-open. */
  private admitAt(state: State, now: number): Admission {
    switch (state.status) {
      case "closed": {
        if (!this.guarded) return [Effect.succeed(new Ticket(state.generation, now, ++this.admitted)), state]
        if (this.trial !== undefined) return [this.reject(Duration.zero), state]
        const trial = new Ticket(state.generation, now, ++this.admitted, true)
        this.trial = trial
        return [Effect.succeed(trial), state]
      }
      case "half-open":
        return this.admits(state)
          ? [Effect.succeed(new Ticket(state.generation, now, ++this.admitted, true)), { ...state, probes: state.probes + 1 }]
          : [this.reject(Duration.zero), state]
      case "open":
        return [this.reject(Duration.millis(this.openLeft(state, now)), now < this.forcedUntil), state]
      case "isolated":
        return [this.reject(Duration.infinity), state]
    }
  }

  private admits(state: State): boolean {
    switch (state.status) {
      case "closed":
        return !this.guarded || this.trial === undefined
      case "half-open":
        return state.probes + state.probeSuccesses < this.config.halfOpenProbes
      case "open":
      case "isolated":
        return false
    }
  }

  private reject(retryAfter: Duration.Duration, serverAsked = false): Effect.Effect<never, CircuitOpen> {
    const fields = serverAsked ? { name: this.config.name, retryAfter, serverAsked } : { name: this.config.name, retryAfter }
    return Effect.fail(new CircuitOpen(fields, { disableValidation: true }))
  }

  // ---- outcomes ------------------------------------------------------------

  private settleAt(
    state: State,
    ticket: Ticket,
    outcome: Outcome,
    durationMillis: number | undefined,
    now: number
  ): State {
    if (ticket.settled) return state
    ticket.settled = true
    if (ticket === this.trial) this.trial = undefined
    // A result from an older generation must not touch the current state.
    if (ticket.generation !== state.generation) return state
    const duration = durationMillis ?? (this.config.usesTime ? now - ticket.startedAt : 0)
    // Open and isolated admit nothing, so a matching generation is closed or half-open.
    return state.status === "closed"
      ? this.settleClosed(state, outcome, duration, now, this.startOf(ticket), ticket.order)
      : this.settleProbe(state, outcome, duration, now, ticket.slotFreed ? 0 : 1)
  }

  /**
   * When a ticket's call started, as the strategies compare it with the
   * latest failing call's start: a call admitted after that call started at
   * its start at the earliest, even when the wall clock has since been put back
   * (NTP, a resumed VM), where its own start would read as before it and
   * its success would not end the streak.
   */
  private startOf(ticket: Ticket): number {
    return ticket.order > this.admittedBeforeFailure && ticket.startedAt < this.lastFailureAt ? this.lastFailureAt : ticket.startedAt
  }

  private settleClosed(state: State, outcome: Outcome, duration: number, now: number, startedAt: number, order: number): State {
    if (outcome === "ignored") return state
    const onOutcome = this.cell.onOutcome
    if (onOutcome !== undefined) {
      try {
        onOutcome(this.kindOf(outcome, duration), this.config.usesTime ? startedAt : now - duration)
      } catch {
        // A store's failure must not break the breaker (documented on Cell).
      }
    }
    return this.countClosed(state, outcome, duration, now, startedAt, order)
  }

  /** How a store sees a counted call: slow when a slow-call strategy would reject it as a probe. */
  private kindOf(outcome: CountedOutcome, duration: number): OutcomeKind {
    if (outcome === "slow") return "abandoned"
    const slow = this.config.usesTime && this.rejectsProbe("success", duration)
    return outcome === "success" ? (slow ? "slowSuccess" : "success") : (slow ? "slowFailure" : "failure")
  }

  /** Counts one call in a closed state: the strategies see it, and may trip. */
  /** `order`: the call's admission (another instance's calls: every call admitted so far, as if they had just ended). */
  private countClosed(state: State, outcome: CountedOutcome, duration: number, now: number, startedAt: number, order = this.admitted): State {
    if (outcome === "failure") {
      this.consecutiveFailures++
      // the failing call's start, not its end (see `ConsecutiveRun`): overlapping calls must reset the count
      this.lastFailureAt = Math.max(this.lastFailureAt, startedAt)
      this.admittedBeforeFailure = Math.max(this.admittedBeforeFailure, order)
    } else if (outcome === "success" && (!this.config.usesTime || startedAt >= this.lastFailureAt)) {
      // untimed breakers (no start times) reset on any success
      this.consecutiveFailures = 0
    }
    const strategies = this.config.strategies
    let reason: TripReason | undefined
    // Every strategy sees every outcome, so each window stays complete.
    for (let i = 0; i < strategies.length; i++) {
      const tripped = strategies[i]!.record(outcome, duration, now, startedAt)
      if (reason === undefined) reason = tripped
    }
    if (reason === undefined) {
      this.guarded = this.oneFailureShort()
      return state
    }
    return this.transition(state, this.tripped(state, now), reason, now, true)
  }

  private oneFailureShort(): boolean {
    const strategies = this.config.edgeStrategies
    for (let i = 0; i < strategies.length; i++) {
      if (strategies[i]!.oneFailureShort!()) return true
    }
    return false
  }

  /** `held`: the slot the probe still holds (0 once given back by `freeSlot`), freed with its outcome. */
  private settleProbe(state: State, outcome: Outcome, duration: number, now: number, held: number): State {
    if (outcome === "ignored") return held === 0 ? state : { ...state, probes: state.probes - held }
    if (outcome === "failure" || this.rejectsProbe(outcome, duration)) {
      return this.transition(state, this.tripped(state, now), "probe-failure", now, true)
    }
    // a probe abandoned as slow that no strategy rejects proves nothing: it frees its slot
    if (outcome === "slow") return held === 0 ? state : { ...state, probes: state.probes - held }
    const probeSuccesses = state.probeSuccesses + 1
    if (probeSuccesses >= this.config.halfOpenProbes) {
      return this.transition(state, closedState(state.generation + 1), "probes-succeeded", now, true)
    }
    return { ...state, probes: state.probes - held, probeSuccesses }
  }

  private rejectsProbe(outcome: "success" | "slow", duration: number): boolean {
    const strategies = this.config.strategies
    for (let i = 0; i < strategies.length; i++) {
      if (strategies[i]!.rejectsProbe(outcome, duration)) return true
    }
    return false
  }

  // ---- transitions ---------------------------------------------------------

  private toHalfOpen(state: State, now: number, reason: TransitionReason = "deadline"): State {
    const halfOpen: State = { ...state, status: "half-open", generation: state.generation + 1, openUntil: 0 }
    return this.transition(state, halfOpen, reason, now, true)
  }

  /** For an early probe: an open breaker goes half-open now, before its deadline, unless a `forceOpen` holds it. */
  private early(state: State, now: number): State {
    return state.status === "open" && now >= this.forcedUntil ? this.toHalfOpen(state, now, "early-probe") : state
  }

  /** The open state of one more trip, for its backed-off duration. */
  private tripped(state: State, now: number): State {
    const trips = state.trips + 1
    return this.openState(state, now + this.openMillis(trips), trips)
  }

  private openState(state: State, openUntil: number, trips: number): State {
    return { status: "open", generation: state.generation + 1, openUntil, trips, probes: 0, probeSuccesses: 0 }
  }

  /** Opens until `openUntil`, unless isolated or already open for longer. */
  private openAt(
    state: State,
    now: number,
    openUntil: number,
    trips: number,
    reason: TransitionReason,
    local: boolean
  ): State {
    // what is left of it by either clock (see `openLeft`): a wall clock put back must not make it look longer
    if (state.status === "isolated" || (state.status === "open" && this.openLeft(state, now) >= openUntil - now)) return state
    return this.transition(state, this.openState(state, openUntil, trips), reason, now, local)
  }

  private isolateAt(state: State, now: number, reason: TransitionReason, local: boolean): State {
    if (state.status === "isolated") return state
    const isolated: State = {
      ...state,
      status: "isolated",
      generation: state.generation + 1,
      openUntil: 0,
      probes: 0,
      probeSuccesses: 0
    }
    return this.transition(state, isolated, reason, now, local)
  }

  private resetAt(state: State, now: number, reason: TransitionReason, local: boolean): State {
    return this.transition(state, closedState(state.generation + 1), reason, now, local)
  }

  /**
   * Enters `to`: clears the counters when entering closed, and publishes the
   * transition unless nothing observable changed (a reset of a closed
   * breaker). Local transitions also go to the store's hook.
   */
  private transition(from: State, to: State, reason: TransitionReason, now: number, local: boolean): State {
    // every transition starts a new generation, which no trial belongs to
    this.guarded = false
    this.trial = undefined
    // a server's wait holds an open breaker only: a reset, an isolation or a probe ends it
    if (to.status !== "open") this.forcedUntil = 0
    else this.openUntilMonotonic = monotonicMillis(this.clock) + (to.openUntil - now)
    if (to.status === "closed") this.clearCounters(now)
    if (from.status === to.status && to.status !== "open") return to
    const transition: Transition = {
      name: this.config.name,
      from: from.status,
      to: to.status,
      at: now,
      reason,
      generation: to.generation,
      trips: to.trips,
      ...(to.status === "open" ? { openUntil: to.openUntil } : {})
    }
    this.hub?.unsafeOffer(transition)
    if (local) {
      try {
        this.cell.onTransition(transition)
      } catch {
        // A store's failure must not break the breaker (documented on Cell).
      }
    }
    return to
  }

  private clearCounters(now: number): void {
    this.consecutiveFailures = 0
    this.lastFailureAt = Number.NEGATIVE_INFINITY
    const strategies = this.config.strategies
    for (let i = 0; i < strategies.length; i++) strategies[i]!.reset(now)
  }

  /** `min(cap, base * factor^(trips - 1))`; 0 for a base of 0 (past 1,024 trips the power is Infinity, and 0 * Infinity is NaN). */
  private openMillis(trips: number): number {
    const { baseMillis, capMillis, factor } = this.config
    if (baseMillis === 0) return 0
    return Math.min(capMillis, baseMillis * Math.pow(factor, trips - 1))
  }

  // ---- observation ---------------------------------------------------------

  private snapshotOf(state: State, now: number): Snapshot {
    return {
      name: this.config.name,
      state: state.status,
      retryAfter: this.retryAfterOf(state, now),
      ...(state.status === "open" ? { openUntil: state.openUntil } : {}),
      ...(state.status === "open" && now < this.forcedUntil ? { forcedUntil: this.forcedUntil } : {}),
      consecutiveFailures: this.consecutiveFailures,
      trips: state.trips,
      probesInFlight: state.probes + (this.trial === undefined ? 0 : 1),
      generation: state.generation,
      ...this.metrics(now)
    }
  }

  private retryAfterOf(state: State, now: number): Duration.Duration {
    switch (state.status) {
      case "closed":
      case "half-open":
        return Duration.zero
      case "open":
        return Duration.millis(Math.max(0, this.openLeft(state, now)))
      case "isolated":
        return Duration.infinity
    }
  }

  /** Each figure from the first strategy that reports it. */
  private metrics(now: number): WindowMetrics {
    let merged: WindowMetrics = {}
    for (const strategy of this.config.strategies) {
      const metrics = strategy.metrics(now)
      if (metrics !== undefined) merged = { ...metrics, ...merged }
    }
    return merged
  }
}

/**
 * The most calls one batch of another instance's outcomes is counted as.
 * Each is counted one by one, so a batch of a billion (a buggy or hostile
 * peer) would hold the event loop for minutes; no trip strategy needs more
 * to reach its verdict (a count window holds fewer calls, and ten thousand
 * calls carry a time window's rate as well as a billion do).
 *
 * @internal
 */
export const maxRemoteCalls = 10_000

/** How a peer's calls of each kind are counted, in `applyOutcomes`'s order of kinds. */
const remoteKinds = (failedFrom: number, abandonedFrom: number, successStartedAt: number) =>
  [
    { outcome: "failure", duration: 0, startedAt: failedFrom },
    { outcome: "failure", duration: Infinity, startedAt: failedFrom },
    { outcome: "slow", duration: Infinity, startedAt: abandonedFrom },
    { outcome: "success", duration: 0, startedAt: successStartedAt },
    { outcome: "success", duration: Infinity, startedAt: successStartedAt }
  ] as const

/**
 * Visits `counts[k]` times each index `k`, the indices spread evenly (smooth
 * weighted round robin: 2 and 4 give 1 0 1 1 0 1), until `visit` says stop.
 * Returns whether every visit was made.
 */
const interleave = (counts: ReadonlyArray<number>, visit: (index: number) => boolean): boolean => {
  let total = 0
  for (const n of counts) total += n
  const credit = counts.map(() => 0)
  for (let step = 0; step < total; step++) {
    let best = 0
    for (let k = 0; k < counts.length; k++) {
      credit[k]! += counts[k]!
      if (credit[k]! > credit[best]!) best = k
    }
    credit[best]! -= total
    if (!visit(best)) return false
  }
  return true
}

/** `outcomes`, scaled down in proportion to at most about `maxRemoteCalls` calls; a kind present stays present. */
const scaledDown = (outcomes: Outcomes): Outcomes => {
  const total = outcomes.successes + outcomes.failures + outcomes.slowSuccesses + outcomes.slowFailures + outcomes.abandoned
  if (!(total > maxRemoteCalls)) return outcomes
  const scale = (n: number) => Math.ceil(n * maxRemoteCalls / total)
  return {
    successes: scale(outcomes.successes),
    failures: scale(outcomes.failures),
    slowSuccesses: scale(outcomes.slowSuccesses),
    slowFailures: scale(outcomes.slowFailures),
    abandoned: scale(outcomes.abandoned),
    successStartedAt: outcomes.successStartedAt,
    ...(outcomes.failureStartedAt !== undefined ? { failureStartedAt: outcomes.failureStartedAt } : {}),
    ...(outcomes.abandonedStartedAt !== undefined ? { abandonedStartedAt: outcomes.abandonedStartedAt } : {})
  }
}

/** The public permit: a ticket with bound methods. @internal */
class PermitImpl<E> implements Permit<E> {
  constructor(private readonly breaker: BreakerImpl<E>, private readonly ticket: Ticket) {}

  get holdsSlot(): boolean {
    return this.ticket.slot && !this.ticket.settled && !this.ticket.slotFreed
  }

  readonly freeSlot: Effect.Effect<void> = Effect.suspend(() => this.breaker.freeSlot(this.ticket))

  readonly record = (outcome: Outcome, duration?: Duration.DurationInput): Effect.Effect<void> =>
    this.breaker.settle(
      this.ticket,
      outcome,
      duration === undefined ? undefined : Duration.toMillis(Duration.decode(duration))
    )

  /** A classifier that throws: the permit is recorded as ignored (it holds no slot), and the throw is a defect. */
  readonly recordExit = (exit: Exit.Exit<unknown, E>): Effect.Effect<void> =>
    Effect.suspend(() => {
      let outcome: Outcome
      try {
        outcome = this.breaker.config.classify(exit)
      } catch (defect) {
        return Effect.zipRight(this.breaker.settle(this.ticket, "ignored", undefined), Effect.die(defect))
      }
      return this.breaker.settle(this.ticket, outcome, undefined)
    })
}

// ---- construction ------------------------------------------------------------

const millisOf = (input: Duration.DurationInput): number => Duration.toMillis(Duration.decode(input))

const invalid = (message: string) => Effect.die(new Cause.IllegalArgumentException(`CircuitBreaker.make: ${message}`))

/** Whether the classifier counts an interrupted call; a classifier that throws is assumed to. */
const countsInterruption = <E>(classify: Classifier<E>): boolean => {
  try {
    return classify(Exit.interrupt(FiberId.none)) !== "ignored"
  } catch {
    return true
  }
}

const isPolicies = (trip: TripPolicy | ReadonlyArray<TripPolicy>): trip is ReadonlyArray<TripPolicy> => Array.isArray(trip)

const resolveConfig = <E>(options: Options<E>): Effect.Effect<Config<E>> =>
  Effect.suspend(() => {
    const name = options.name ?? "circuit-breaker"
    const halfOpenProbes = options.halfOpenProbes ?? 1
    const baseMillis = millisOf(options.openDuration?.base ?? "30 seconds")
    const factor = options.openDuration?.factor ?? 2
    const capMillis = millisOf(options.openDuration?.cap ?? "5 minutes")
    if (!Number.isSafeInteger(halfOpenProbes) || halfOpenProbes < 1) {
      return invalid(`halfOpenProbes must be a positive integer, got ${halfOpenProbes}`)
    }
    if (!(factor >= 1 && Number.isFinite(factor))) return invalid(`openDuration.factor must be >= 1, got ${factor}`)
    for (const key of ["base", "cap"] as const) {
      const input = options.openDuration?.[key]
      if (input !== undefined && isNegative(input)) return invalid(`openDuration.${key} must not be negative, got ${String(input)}`)
    }
    if (!Number.isFinite(baseMillis)) return invalid("openDuration.base must be finite")
    const policies = options.trip === undefined ? [consecutiveFailures(5)] : isPolicies(options.trip) ? options.trip : [options.trip]
    const strategies = policies.map((policy) => policy.make())
    const classify: Classifier<E> = options.classify ?? defaultClassifier
    const edgeStrategies = options.probeBeforeTrip === true
      ? strategies.filter((strategy) => strategy.oneFailureShort !== undefined)
      : []
    return Effect.succeed({
      name,
      baseMillis,
      factor,
      capMillis,
      halfOpenProbes,
      classify,
      strategies,
      usesTime: strategies.some((strategy) => strategy.usesTime),
      countsInterruption: countsInterruption(classify),
      edgeStrategies
    })
  })

/** @internal */
export const make = <E>(options: Options<E>): Effect.Effect<CircuitBreaker<E>> =>
  Effect.gen(function*() {
    const config = yield* resolveConfig(options)
    const clock = yield* Effect.clock
    const store = options.store ?? Option.getOrElse(yield* Effect.serviceOption(CurrentBreakerStore), () => memory)
    let breaker: BreakerImpl<E> | undefined
    const registration: Registration = {
      name: config.name,
      initial: initialState,
      apply: (remote) =>
        Effect.suspend(() =>
          breaker === undefined
            ? Effect.dieMessage(`breaker "${config.name}": apply called before register returned`)
            : breaker.applyRemote(remote)
        ),
      applyOutcomes: (outcomes) =>
        Effect.suspend(() =>
          breaker === undefined
            ? Effect.dieMessage(`breaker "${config.name}": applyOutcomes called before register returned`)
            : breaker.applyOutcomes(outcomes)
        )
    }
    const cell = yield* store.register(registration)
    // the store may start from a state it knows (e.g. a mirror already open)
    breaker = new BreakerImpl(config, cell, clock, yield* Ref.get(cell.ref))
    return breaker
  })
