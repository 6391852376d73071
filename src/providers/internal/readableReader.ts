/**
 * A Node `Readable` read one read at a time, each under a deadline, for the
 * SSE reader of the adapters on the live clock: `take` waits on the
 * readable's own events with a plain `setTimeout`. Through `Stream` a read
 * costs a channel step and, under a deadline, a fiber (`timeoutFail`) or a
 * reader fiber (`ReadAhead`); here it is one `Effect.async`.
 *
 * The contract is `ReadAhead`'s:
 *
 * - `take` succeeds with every buffer the readable holds, as one chunk, as
 *   soon as it holds any; it fails with `None` at the end, with
 *   `Some(onError(cause))` once the readable has failed (after what it held
 *   before), and with `onTimeout()` if nothing comes within `millis`;
 * - interrupting `take` withdraws it and clears its timer;
 * - when `scope` closes, a `take` still waiting gets the end, the
 *   listeners go, and a readable that has not closed is destroyed (which
 *   aborts its HTTP request if it is still running), with one error made
 *   once: destroyed with none before its `end` event, undici's body builds
 *   an abort error each time and Node formats its stack (2% of a streamed
 *   answer's CPU: an SSE body is left at its `[DONE]`, before that event).
 *
 * Only for the live clock: virtual time cannot drive a `setTimeout`.
 *
 * @internal
 */
import { Chunk, Effect, Option, Scope } from "effect"
import type { Readable } from "node:stream"
import type { ReadAhead } from "../../resilience/internal/readAhead.js"
import { armTimer } from "../../resilience/internal/timeout.js"


/** What a readable still bringing data is destroyed with when its reader closes: made once, its stack formatted once. */
const closedEarly = new Error("the reader closed before the body ended")

const ignore = (): void => {}

class Reader<E> implements ReadAhead<Chunk.Chunk<Uint8Array>, Option.Option<E>> {
  /** Set once the readable has nothing more to give: `None` at its end, or its failure. */
  private last: Option.Option<E> | undefined = undefined
  /** The `take` waiting for the readable, if any. */
  private waiting: (() => void) | undefined = undefined

  constructor(
    private readonly readable: Readable,
    private readonly onError: (cause: unknown) => E
  ) {
    readable.on("readable", this.wake)
    readable.on("end", this.ended)
    readable.on("error", this.failed)
    // it may have ended or failed before anyone listened (as `NodeStream.fromReadable`, no longer readable is the end)
    if (readable.errored !== null) this.failed(readable.errored)
    else if (!readable.readable) this.ended()
  }

  private readonly wake = (): void => {
    const waiting = this.waiting
    if (waiting === undefined) return
    this.waiting = undefined
    waiting()
  }

  private readonly ended = (): void => {
    this.last ??= Option.none()
    this.wake()
  }

  private readonly failed = (cause: unknown): void => {
    this.last ??= Option.some(this.onError(cause))
    this.wake()
  }

  /** What the readable holds now, else its end or failure, else `undefined` (wait). */
  private poll(): Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<E>> | undefined {
    let item: Uint8Array | null = this.readable.read()
    if (item !== null) {
      const parts = [item]
      while ((item = this.readable.read()) !== null) parts.push(item)
      return Effect.succeed(Chunk.unsafeFromArray(parts))
    }
    return this.last === undefined ? undefined : Effect.fail(this.last)
  }

  readonly take = <E1>(millis: number, onTimeout: () => E1): Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<E> | E1> =>
    Effect.suspend(() => {
      const now = this.poll()
      if (now !== undefined) return now
      return Effect.async<Chunk.Chunk<Uint8Array>, Option.Option<E> | E1>((resume) => {
        const timer = armTimer(millis, () => {
          this.waiting = undefined
          resume(Effect.fail(onTimeout()))
        })
        // a `readable` event may bring nothing yet (the end is its own event): wait on
        const check = (): void => {
          const result = this.poll()
          if (result === undefined) {
            this.waiting = check
            return
          }
          clearTimeout(timer)
          resume(result)
        }
        this.waiting = check
        return Effect.sync(() => {
          clearTimeout(timer)
          this.waiting = undefined
        })
      })
    })

  readonly close = (): void => {
    // a `take` still waiting (its fiber was not interrupted first) gets the end, not a wait for ever
    this.last ??= Option.none()
    this.wake()
    this.readable.off("readable", this.wake)
    this.readable.off("end", this.ended)
    this.readable.off("error", this.failed)
    if (this.readable.closed) return
    // the error is the stream's to emit: heard here, as nobody else listens any more
    this.readable.on("error", ignore)
    this.readable.destroy(closedEarly)
  }
}

/**
 * Starts reading `readable`; what it fails with is mapped by `onError`.
 * Closing `scope` stops the reading.
 *
 * @internal
 */
export const make = <E>(
  readable: Readable,
  onError: (cause: unknown) => E,
  scope: Scope.Scope
): Effect.Effect<ReadAhead<Chunk.Chunk<Uint8Array>, Option.Option<E>>> =>
  Effect.suspend(() => {
    const reader = new Reader(readable, onError)
    return Effect.as(Scope.addFinalizer(scope, Effect.sync(reader.close)), reader)
  })
