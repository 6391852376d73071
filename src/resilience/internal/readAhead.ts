/**
 * A pull read one step ahead by a fiber of its own, for a consumer that
 * waits for each read under a deadline: on the live clock the wait is an
 * `Effect.async` with a plain `setTimeout`, where a deadline a read would
 * otherwise fork a fiber a read (`timeoutFail`). A long answer streams one
 * read a token, so that fiber was most of what a read cost.
 *
 * - The reader pulls, hands the result over, and waits until it is taken
 *   before it pulls again: one read ahead at most.
 * - `take` succeeds or fails as the read did; if no read comes within its
 *   deadline it fails with `onTimeout()`, and the read in flight goes on
 *   until the reader's scope closes (which interrupts it).
 * - The reader stops after handing over a failure (the end of a stream is
 *   a failure with `None`, as `Stream.toPull` says it).
 * - Interrupting `take` withdraws it and clears its timer.
 *
 * Only for the live clock: virtual time (a `TestClock`, the simulator's
 * clock) cannot drive a `setTimeout`; callers keep `timeoutFail` there.
 *
 * @internal
 */
import { Effect, Exit, Scope } from "effect"
import { armTimer } from "./timeout.js"


/** @internal */
export interface ReadAhead<A, E> {
  /** The next read, or a failure with `onTimeout()` if none comes within `millis`. */
  readonly take: <E1>(millis: number, onTimeout: () => E1) => Effect.Effect<A, E | E1>
}

class Mailbox<A, E> implements ReadAhead<A, E> {
  /** A read handed over and not yet taken. */
  private ready: Exit.Exit<A, E> | undefined = undefined
  /** Resumes the reader once `ready` has been taken. */
  private taken: (() => void) | undefined = undefined
  /** The consumer waiting for a read, if any. */
  private waiting: ((exit: Exit.Exit<A, E>) => void) | undefined = undefined

  /** The reader's step: hands `exit` over, and returns once it has been taken. */
  readonly put = (exit: Exit.Exit<A, E>): Effect.Effect<void> =>
    Effect.async<void>((resume) => {
      const waiting = this.waiting
      if (waiting !== undefined) {
        this.waiting = undefined
        waiting(exit)
        return resume(Effect.void)
      }
      this.ready = exit
      this.taken = () => resume(Effect.void)
      return Effect.sync(() => {
        this.taken = undefined
      })
    })

  readonly take = <E1>(millis: number, onTimeout: () => E1): Effect.Effect<A, E | E1> =>
    Effect.async<A, E | E1>((resume) => {
      const ready = this.ready
      if (ready !== undefined) {
        this.ready = undefined
        const taken = this.taken
        this.taken = undefined
        taken?.()
        return resume(ready)
      }
      const timer = armTimer(millis, () => {
        this.waiting = undefined
        resume(Effect.fail(onTimeout()))
      })
      this.waiting = (exit) => {
        if (timer !== undefined) clearTimeout(timer)
        resume(exit)
      }
      return Effect.sync(() => {
        this.waiting = undefined
        if (timer !== undefined) clearTimeout(timer)
      })
    })
}

/**
 * Starts reading `pull` ahead in a fiber of `scope` (closing the scope
 * interrupts it, and the read in flight).
 *
 * @internal
 */
export const start = <A, E>(pull: Effect.Effect<A, E>, scope: Scope.Scope): Effect.Effect<ReadAhead<A, E>> =>
  Effect.suspend(() => {
    const mailbox = new Mailbox<A, E>()
    const reader: Effect.Effect<void> = Effect.flatMap(Effect.exit(pull), (exit) =>
      exit._tag === "Success" ? Effect.zipRight(mailbox.put(exit), reader) : mailbox.put(exit)
    )
    return Effect.as(Effect.forkIn(reader, scope), mailbox)
  })
