/**
 * A stream's response body for Node's HTTP server, written from its pull,
 * in the handler's own fiber.
 *
 * `@effect/platform-node` writes a `Stream` body with
 * `Stream.runForEachChunk` (a channel executor and a sink for every
 * response) and a `Readable` body through `stream.pipeline` with an
 * `AbortSignal` (a controller a response, and a read of the `Readable` a
 * fiber of its own). The gateway's SSE body is a pull to begin with, so on
 * Node the handler writes it itself: the status and headers, then each
 * read's bytes as they come, waiting for `drain` when the socket's buffer
 * is full, then the end. The platform then finds the response ended and
 * writes nothing more.
 *
 * - The end of the pull (`None`) ends the response; the pull never fails
 *   otherwise (a failure after the head is an SSE event of its own). A
 *   write that ends any other way (interrupted, or the pull died) destroys
 *   the response: the client sees the connection close, not a body that
 *   never ends.
 * - A client that leaves closes the response before it ended: the platform
 *   then interrupts the handler's fiber, and with it the read in flight or
 *   the wait for `drain`. The write runs interruptibly whatever the region
 *   it is called from, as the platform's own body writes do: a server's
 *   handler fibers start with the interruptibility of the fiber that
 *   started the server, which may have had it off (a layer, a resource's
 *   acquisition).
 * - A client that stays connected but stops reading (its socket's buffer
 *   full for `sendTimeout`, as nginx's `send_timeout`) has its response
 *   closed: the stream, and the upstream call it reads, are not held for a
 *   reader that never comes back.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { OutgoingHttpHeaders, ServerResponse } from "node:http"

/** One read of the body: some bytes, or its end. @internal */
export type Pull = Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<never>>

/**
 * How long a client may leave the socket full, and what to do when it has
 * (before its response is closed). @internal
 */
export interface Stall {
  readonly sendTimeout: Duration.Duration
  readonly onStall: () => void
}

/** Waits until `response` can take more (`drain`), or is closed. */
const drained = (response: ServerResponse): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    // the fiber may have yielded since the write: the drain may have come already
    if (!response.writableNeedDrain || response.destroyed) return resume(Effect.void)
    const stop = () => {
      response.off("drain", wake)
      response.off("close", wake)
    }
    const wake = () => {
      stop()
      resume(Effect.void)
    }
    response.on("drain", wake)
    response.on("close", wake)
    return Effect.sync(stop)
  })

/**
 * Writes `status`, `headers` and the body `pull` reads to `response`, then
 * ends it. See the module docs.
 *
 * @internal
 */
export const write = (
  response: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
  pull: Pull,
  stall?: Stall
): Effect.Effect<void> =>
  Effect.interruptible(Effect.suspend(() => {
    response.writeHead(status, headers)
    // whether the drain came (false: the client left the socket full for the send timeout)
    const waitDrain: Effect.Effect<boolean> = stall === undefined || !Duration.isFinite(stall.sendTimeout)
      ? Effect.as(drained(response), true)
      : Effect.timeoutTo(drained(response), {
          duration: stall.sendTimeout,
          onSuccess: () => true,
          onTimeout: () => false
        })
    const next: Effect.Effect<void> = Effect.matchEffect(pull, {
      // the only failure a pull has is its end
      onFailure: () => Effect.sync(() => void response.end()),
      onSuccess: (bytes) => {
        // the client left: nothing more to read for it
        if (response.destroyed) return Effect.void
        for (const chunk of bytes) response.write(chunk)
        // a write past the buffer's mark asks for a drain
        if (!response.writableNeedDrain) return next
        return Effect.flatMap(waitDrain, (came) => {
          if (came) return next
          stall!.onStall()
          return Effect.sync(() => void response.destroy())
        })
      }
    })
    return Effect.ensuring(next, cutShort(response))
  }))

/**
 * A response the write did not end (interrupted, or the pull died): closed
 * at once, and marked ended, so that the platform, which would answer the
 * failure with a status of its own, finds it ended and writes nothing (a
 * second head would throw: this one went out).
 */
const cutShort = (response: ServerResponse): Effect.Effect<void> =>
  Effect.sync(() => {
    if (response.writableEnded) return
    response.destroy()
    response.end()
  })
