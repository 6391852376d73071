/**
 * A stream's response body for Node's HTTP server, without a `Stream`.
 *
 * `@effect/platform-node` writes a `Stream` body by running it with
 * `Stream.runForEachChunk`: a channel executor and a sink for every
 * response, which cost a streamed answer more allocation than everything
 * the gateway itself does to it. The gateway's SSE body is a pull to begin
 * with (one effect a read), so on Node it is handed over as a `Readable`
 * instead, which the platform pipes into the response: each read runs the
 * pull once, in a fiber of the handler's runtime (its services, log
 * annotations and scope), and pushes what it gives.
 *
 * - The end of the pull (`None`) ends the body; the pull never fails
 *   otherwise (a failure after the head is an SSE event of its own).
 * - When the body is done with, at its end or because the client left,
 *   the read in flight is interrupted and `onDone` runs, once.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { Readable } from "node:stream"

/** One read of the body: some bytes, or its end. @internal */
export type Pull = Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<never>>

class PullReadable extends Readable {
  private reading: Fiber.RuntimeFiber<Chunk.Chunk<Uint8Array>, Option.Option<never>> | undefined = undefined

  constructor(
    private readonly run: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>,
    private readonly pull: Pull,
    private readonly onDone: Effect.Effect<void>
  ) {
    super()
  }

  override _read(): void {
    if (this.reading !== undefined) return
    const fiber = this.run(this.pull)
    this.reading = fiber
    fiber.addObserver((exit) => {
      if (this.reading !== fiber) return // interrupted by _destroy
      this.reading = undefined
      if (Exit.isSuccess(exit)) {
        for (const bytes of exit.value) this.push(bytes)
        // an empty read asks for nothing: read on
        if (Chunk.isEmpty(exit.value)) this._read()
      } else if (Option.isSome(Cause.failureOption(exit.cause))) {
        // the only failure a pull has is its end
        this.push(null)
      } else {
        this.destroy(new Error("the response body failed"))
      }
    })
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const reading = this.reading
    this.reading = undefined
    const done = reading === undefined ? this.onDone : Effect.zipRight(Fiber.interrupt(reading), this.onDone)
    this.run(done).addObserver(() => callback(error))
  }
}

/**
 * The body of `pull` as a `Readable`, its reads run in `runtime`.
 *
 * @internal
 */
export const readable = (runtime: Runtime.Runtime<never>, pull: Pull, onDone: Effect.Effect<void>): Readable => {
  const fork = Runtime.runFork(runtime)
  // the handler's runtime may have been captured where interruption is off: a read must stay interruptible
  return new PullReadable((effect) => fork(Effect.interruptible(effect)), pull, onDone)
}
