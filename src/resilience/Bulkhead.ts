/**
 * A bulkhead caps how many effects run at once, with weighted permits and an
 * optional bounded, fair FIFO queue for the calls that must wait.
 *
 * Fairness: a call takes permits at once only when nobody is queued and
 * enough permits are free; otherwise it joins the tail of the queue. Permits
 * go to the head of the queue as soon as it fits, so a heavy waiter at the
 * head holds back lighter waiters behind it until enough permits are free:
 * it is never starved by them (strict FIFO, no barging).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { PermitPool, Waiter } from "./internal/bulkhead.js"

/**
 * Identifies a {@link Bulkhead}.
 *
 * @example
 * import { Effect } from "effect"
 * import { Bulkhead } from "effect-llm-failover/resilience"
 *
 * const program = Effect.map(Bulkhead.make({ maxConcurrent: 4 }), (bulkhead) => Bulkhead.TypeId in bulkhead) // true
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-llm-failover/Bulkhead")

/**
 * The type of {@link TypeId}.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "effect-llm-failover/resilience"
 *
 * // a type guard, e.g. for an option that takes a bulkhead or its options
 * const isBulkhead = (u: unknown): u is Bulkhead.Bulkhead =>
 *   typeof u === "object" && u !== null &&
 *   (u as { readonly [Bulkhead.TypeId]?: Bulkhead.TypeId })[Bulkhead.TypeId] === Bulkhead.TypeId
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Why a bulkhead turned a call away: `"full"` when every permit is taken and
 * the queue is full (or the call weighs more than the whole capacity),
 * `"queue-timeout"` when it waited in the queue longer than `queueTimeout`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "effect-llm-failover/resilience"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * declare const call: Effect.Effect<string>
 *
 * // "full" is load to shed at once; "queue-timeout" means callers waited too long
 * const status = (reason: Bulkhead.RejectionReason) => (reason === "full" ? 503 : 504)
 * const program = bulkhead.run(call).pipe(
 *   Effect.catchTag("BulkheadRejected", (e) => Effect.succeed(`HTTP ${status(e.reason)}`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type RejectionReason = "full" | "queue-timeout"

/**
 * The call was not admitted by the bulkhead; the wrapped effect never ran.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "effect-llm-failover/resilience"
 *
 * const program = Effect.gen(function* () {
 *   const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1 })
 *   yield* Effect.fork(bulkhead.run(Effect.never))
 *   yield* Effect.yieldNow()
 *   // the only permit is taken and there is no queue: rejected with "full"
 *   return yield* bulkhead.run(Effect.succeed("admitted")).pipe(
 *     Effect.catchTag("BulkheadRejected", (e) => Effect.succeed(e.reason))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BulkheadRejected extends Schema.TaggedError<BulkheadRejected>()("BulkheadRejected", {
  reason: Schema.Literal("full", "queue-timeout"),
  message: Schema.String
}) {}

/**
 * Options of {@link make}.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "effect-llm-failover/resilience"
 *
 * // 8 calls at once, 32 more may wait, none longer than 5 seconds
 * const options: Bulkhead.BulkheadOptions = { maxConcurrent: 8, maxQueued: 32, queueTimeout: "5 seconds" }
 * const bulkhead = Bulkhead.make(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BulkheadOptions {
  /** Permits available at once (a positive integer). */
  readonly maxConcurrent: number
  /** Calls that may wait for permits; more are rejected with `"full"`. Default 0. */
  readonly maxQueued?: number
  /** Longest wait in the queue before rejection with `"queue-timeout"`. Default: no limit. */
  readonly queueTimeout?: Duration.DurationInput
}

/**
 * Options of one call through a bulkhead.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "effect-llm-failover/resilience"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * declare const summarise: (document: string) => Effect.Effect<string>
 *
 * // a long document holds more permits, and gives up after 2 seconds in the queue
 * const optionsFor = (document: string): Bulkhead.RunOptions =>
 *   ({ weight: document.length > 50_000 ? 4 : 1, queueTimeout: "2 seconds" })
 * const program = (document: string) => bulkhead.run(summarise(document), optionsFor(document))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions extends AcquireOptions {
  /** Permits this call holds while it runs (a positive integer). Default 1. */
  readonly weight?: number
}

/**
 * Options of one wait for permits (`run`, `acquireWeighted`, `acquireIn`).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Bulkhead } from "effect-llm-failover/resilience"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 * declare const tokens: Stream.Stream<string>
 *
 * // a stream holds 2 permits for as long as its scope, after at most 1 second in the queue
 * const options: Bulkhead.AcquireOptions = { queueTimeout: "1 second" }
 * const guarded = Stream.unwrapScoped(Effect.as(bulkhead.acquireWeighted(2, options), tokens))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface AcquireOptions {
  /**
   * This caller's longest wait in the queue, when it is nearer than the
   * bulkhead's own `queueTimeout` (a caller with a deadline of its own waits
   * no longer than what is left of it). Either way a caller that waits too
   * long is rejected with `"queue-timeout"`. It costs nothing when the
   * permits are free at once. A zero wait never queues: the permits are
   * taken at once if they are free, else the caller is rejected at once,
   * without taking a place in the queue.
   */
  readonly queueTimeout?: Duration.DurationInput
}

/**
 * A bulkhead's occupancy at one instant.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "effect-llm-failover/resilience"
 *
 * declare const bulkhead: Bulkhead.Bulkhead
 *
 * const program = Effect.gen(function* () {
 *   const stats: Bulkhead.BulkheadStats = yield* bulkhead.stats
 *   yield* Effect.log(`${stats.active} running, ${stats.queued} waiting, ${stats.available} of ${bulkhead.maxConcurrent} permits free`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface BulkheadStats {
  /** Calls holding permits. */
  readonly active: number
  /** Calls waiting in the queue. */
  readonly queued: number
  /** Free permits. */
  readonly available: number
}

/**
 * A concurrency limiter with weighted permits and a fair FIFO queue.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "effect-llm-failover/resilience"
 *
 * declare const callModel: (prompt: string) => Effect.Effect<string, Error>
 *
 * // at most 4 calls to the model at once, shared by every caller
 * const program = Effect.gen(function* () {
 *   const bulkhead: Bulkhead.Bulkhead = yield* Bulkhead.make({ maxConcurrent: 4, maxQueued: 10 })
 *   const ask = (prompt: string) => bulkhead.run(callModel(prompt))
 *   return yield* Effect.all([ask("a"), ask("b"), ask("c")], { concurrency: "unbounded" })
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Bulkhead {
  readonly [TypeId]: TypeId
  /** The capacity, in permits. */
  readonly maxConcurrent: number
  /** The queue's capacity, in calls. */
  readonly maxQueued: number
  /** The longest wait in the queue, if limited. */
  readonly queueTimeout?: Duration.Duration | undefined
  /**
   * Runs `effect` while holding `weight` permits (default 1), waiting in the
   * queue if needed. Permits are released however the effect ends, and an
   * interrupted waiter leaves the queue at once.
   */
  readonly run: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: RunOptions
  ) => Effect.Effect<A, E | BulkheadRejected, R>
  /**
   * Takes 1 permit, waiting in the queue if needed, and holds it until the
   * enclosing `Scope` closes: for work whose lifetime is a scope rather than
   * one effect, such as a stream.
   */
  readonly acquire: Effect.Effect<void, BulkheadRejected, Scope.Scope>
  /** Like `acquire`, for `weight` permits (a positive integer). */
  readonly acquireWeighted: (weight: number, options?: AcquireOptions) => Effect.Effect<void, BulkheadRejected, Scope.Scope>
  /**
   * Like `acquire`, for `options.weight` permits (default 1), holding them
   * until `scope` closes: the scope is handed over rather than provided as
   * the `Scope` service (which copies the fiber's context, twice). Weights
   * are checked as `run` checks them; the give-back is registered in
   * `scope` as the permits are granted, with no interruption in between
   * (a scope already closed gets them back at once).
   *
   * @example
   * ```ts
   * import { Effect, Exit, Scope } from "effect"
   * import { Bulkhead } from "effect-llm-failover/resilience"
   *
   * const program = Effect.gen(function* () {
   *   const bulkhead = yield* Bulkhead.make({ maxConcurrent: 4 })
   *   const scope = yield* Scope.make()
   *   yield* bulkhead.acquireIn(scope, { weight: 2 }) // two permits, held until the scope closes
   *   const held = (yield* bulkhead.stats).active // 1 call holding 2 permits
   *   yield* Scope.close(scope, Exit.void)
   *   return held
   * })
   * ```
   */
  readonly acquireIn: (scope: Scope.Scope, options?: RunOptions) => Effect.Effect<void, BulkheadRejected>
  /** The current occupancy. */
  readonly stats: Effect.Effect<BulkheadStats>
}

/**
 * Creates a bulkhead. Invalid options (a non-positive or fractional
 * `maxConcurrent`, a negative `maxQueued`) are a defect.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "effect-llm-failover/resilience"
 *
 * const program = Effect.gen(function* () {
 *   const bulkhead = yield* Bulkhead.make({ maxConcurrent: 4, maxQueued: 16, queueTimeout: "2 seconds" })
 *   const answer = yield* bulkhead.run(Effect.succeed(42))
 *   const heavy = yield* bulkhead.run(Effect.succeed("big"), { weight: 3 })
 *   // a caller with 500 ms left of its own deadline waits no longer than that
 *   const hurried = yield* bulkhead.run(Effect.succeed("soon"), { queueTimeout: "500 millis" })
 *   return [answer, heavy, hurried] as const
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: BulkheadOptions): Effect.Effect<Bulkhead> =>
  Effect.suspend(() => {
    const maxQueued = options.maxQueued ?? 0
    if (!isPositiveInteger(options.maxConcurrent)) {
      return illegal(`Bulkhead: maxConcurrent must be a positive integer, got ${options.maxConcurrent}`)
    }
    if (!(maxQueued === Infinity || (Number.isInteger(maxQueued) && maxQueued >= 0))) {
      return illegal(`Bulkhead: maxQueued must be a non-negative integer, got ${maxQueued}`)
    }
    const queueTimeout = options.queueTimeout === undefined ? undefined : Duration.decode(options.queueTimeout)
    return Effect.succeed<Bulkhead>(new BulkheadImpl(options.maxConcurrent, maxQueued, queueTimeout))
  })

/**
 * Runs an effect through a bulkhead: the data-first form of `bulkhead.run`,
 * also usable in a pipe.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bulkhead } from "effect-llm-failover/resilience"
 *
 * const program = Effect.gen(function* () {
 *   const bulkhead = yield* Bulkhead.make({ maxConcurrent: 2 })
 *   const a = yield* Effect.succeed(1).pipe(Bulkhead.run(bulkhead))
 *   const b = yield* Bulkhead.run(Effect.succeed(2), bulkhead, { weight: 2 })
 *   return a + b
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const run: {
  (
    bulkhead: Bulkhead,
    options?: RunOptions
  ): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadRejected, R>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    bulkhead: Bulkhead,
    options?: RunOptions
  ): Effect.Effect<A, E | BulkheadRejected, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    bulkhead: Bulkhead,
    options?: RunOptions
  ): Effect.Effect<A, E | BulkheadRejected, R> => bulkhead.run(effect, options)
)

const isPositiveInteger = (n: number): boolean => Number.isInteger(n) && n > 0

const illegal = (message: string): Effect.Effect<never> => Effect.die(new Cause.IllegalArgumentException(message))

/** The arms of a `matchCauseEffect` that give `weight` permits back to `pool`, then pass the exit on. */
interface ReleasingArms<A, E> {
  readonly onFailure: (cause: Cause.Cause<E>) => Effect.Effect<never, E>
  readonly onSuccess: (value: A) => Effect.Effect<A>
}

const releasing = <A, E>(pool: PermitPool, weight: number): ReleasingArms<A, E> => ({
  onFailure: (cause) => {
    pool.release(weight)
    return Effect.failCause(cause)
  },
  onSuccess: (value) => {
    pool.release(weight)
    return Effect.succeed(value)
  }
})

class BulkheadImpl implements Bulkhead {
  readonly [TypeId]: TypeId = TypeId
  private readonly pool: PermitPool
  private readonly releaseOne: Effect.Effect<void>
  /** `matchCauseEffect` arms that give 1 permit back, whichever way the call ended (they pass any value on). */
  private readonly releasingOne: ReleasingArms<unknown, unknown>
  readonly acquire: Effect.Effect<void, BulkheadRejected, Scope.Scope>

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
    readonly queueTimeout: Duration.Duration | undefined
  ) {
    const pool = new PermitPool(maxConcurrent, maxQueued)
    this.pool = pool
    this.releaseOne = Effect.sync(() => pool.release(1))
    this.releasingOne = releasing(pool, 1)
    this.acquire = this.acquireWeighted(1)
  }

  readonly stats: Effect.Effect<BulkheadStats> = Effect.sync(() => ({
    active: this.pool.active,
    queued: this.pool.queued,
    available: this.pool.available
  }))

  /**
   * One uninterruptible region: take the permits (at once, or by waiting
   * interruptibly in the queue), then run the effect interruptibly and give
   * the permits back synchronously in whichever arm of `matchCauseEffect`
   * its exit takes. Nothing can interrupt the fiber between the grant and
   * the release being registered.
   */
  run<A, E, R>(effect: Effect.Effect<A, E, R>, options?: RunOptions): Effect.Effect<A, E | BulkheadRejected, R> {
    const weight = options?.weight ?? 1
    const refused = this.refuse(weight)
    if (refused !== undefined) return refused
    const pool = this.pool
    const arms = weight === 1 ? (this.releasingOne as ReleasingArms<A, E>) : releasing<A, E>(pool, weight)
    return Effect.uninterruptibleMask((restore) =>
      pool.tryAcquire(weight)
        ? Effect.matchCauseEffect(restore(effect), arms)
        : Effect.flatMap(restore(this.wait(weight, options)), () => Effect.matchCauseEffect(restore(effect), arms))
    )
  }

  acquireWeighted(weight: number, options?: AcquireOptions): Effect.Effect<void, BulkheadRejected, Scope.Scope> {
    return Effect.flatMap(Effect.scope, (scope) => this.take(scope, weight, options))
  }

  acquireIn(scope: Scope.Scope, options?: RunOptions): Effect.Effect<void, BulkheadRejected> {
    return this.take(scope, options?.weight ?? 1, options)
  }

  /** Takes `weight` permits (at once, or by waiting in the queue) and registers their give-back in `scope`. */
  private take(scope: Scope.Scope, weight: number, options: AcquireOptions | undefined): Effect.Effect<void, BulkheadRejected> {
    const refused = this.refuse(weight)
    if (refused !== undefined) return refused
    const pool = this.pool
    // the scope's own finalizer: `Effect.addFinalizer` would diff and patch every `FiberRef` to run a
    // synchronous give-back that reads none
    const releaseLater = Scope.addFinalizer(scope, this.releaseFor(weight))
    return Effect.uninterruptibleMask((restore) =>
      pool.tryAcquire(weight) ? releaseLater : Effect.zipRight(restore(this.wait(weight, options)), releaseLater)
    )
  }

  /** Turns away a weight that is invalid (a defect) or larger than the capacity. */
  private refuse(weight: number): Effect.Effect<never, BulkheadRejected> | undefined {
    if (weight === 1) return undefined
    if (!isPositiveInteger(weight)) return illegal(`Bulkhead: weight must be a positive integer, got ${weight}`)
    if (weight > this.maxConcurrent) {
      return Effect.fail(
        new BulkheadRejected({
          reason: "full",
          message: `weight ${weight} exceeds the bulkhead's capacity of ${this.maxConcurrent}`
        })
      )
    }
    return undefined
  }

  private releaseFor(weight: number): Effect.Effect<void> {
    const pool = this.pool
    return weight === 1 ? this.releaseOne : Effect.sync(() => pool.release(weight))
  }

  /** Queues for `weight` permits; succeeds once they are held. */
  private wait(weight: number, options: AcquireOptions | undefined): Effect.Effect<void, BulkheadRejected> {
    return Effect.suspend(() => {
      const timeout = nearer(this.queueTimeout, options?.queueTimeout)
      // no wait at all: not even for a moment in the queue, where it would hold a place another caller may need
      if (timeout !== undefined && Duration.toMillis(timeout) <= 0) return Effect.fail(this.timedOut(timeout))
      const pool = this.pool
      const waiter = new Waiter(weight)
      const waiting = Effect.async<void, BulkheadRejected>((resume) => {
        waiter.onGrant = () => resume(Effect.void)
        if (pool.enqueue(waiter) === "full") {
          resume(Effect.fail(this.full()))
        }
        return Effect.sync(() => pool.cancel(waiter))
      })
      if (timeout === undefined) return waiting
      return waiting.pipe(
        Effect.timeoutFail({ duration: timeout, onTimeout: () => this.timedOut(timeout) }),
        // A grant and the timeout can land in the same instant: if the waiter
        // was granted (and not given back by its canceler), it holds the permits.
        Effect.catchAll((error) => waiter.state === "granted" ? Effect.void : Effect.fail(error))
      )
    })
  }

  private full(): BulkheadRejected {
    return new BulkheadRejected({
      reason: "full",
      message: `bulkhead full: ${this.pool.available} of ${this.maxConcurrent} permits free and ` +
        `${this.pool.queued} of ${this.maxQueued} queue places taken`
    })
  }

  private timedOut(timeout: Duration.Duration): BulkheadRejected {
    return new BulkheadRejected({
      reason: "queue-timeout",
      message: `waited longer than ${Duration.format(timeout)} for a bulkhead permit`
    })
  }
}

/** The nearer of the bulkhead's queue timeout and a caller's, if either is set. */
const nearer = (own: Duration.Duration | undefined, caller: Duration.DurationInput | undefined) => {
  if (caller === undefined) return own
  const decoded = Duration.decode(caller)
  return own === undefined || Duration.lessThan(decoded, own) ? decoded : own
}
