/**
 * Reads a request body up to a byte limit and within a deadline. On Node
 * the reader stops at the limit or the deadline without destroying the
 * socket, so the client still gets its 413 or 408 (the connection then
 * closes, its rest unread); its deadline is one timer, no fiber. Elsewhere
 * it reads the platform's body stream with the same limit and deadline.
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import { armTimer } from "../../resilience/internal/timeout.js"

/** The body passed the limit. @internal */
export class TooLarge extends Data.TaggedError("TooLarge")<{}> {}

/** The body could not be read (the client went away mid-body). @internal */
export class ReadFailed extends Data.TaggedError("ReadFailed")<{}> {}

/** The body did not arrive before the deadline. @internal */
export class TimedOut extends Data.TaggedError("TimedOut")<{}> {}

/** Why a body could not be read. @internal */
export type ReadError = TooLarge | ReadFailed | TimedOut

/**
 * `read` for a Node request itself.
 *
 * @internal
 */
export const readIncoming = (source: Http.IncomingMessage, limit: number, timeout: Duration.Duration): Effect.Effect<Uint8Array, ReadError> =>
  Effect.async<Uint8Array, ReadError>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    // a deadline past a timer's range is none (Node would fire such a timer at once)
    const timer = armTimer(Duration.toMillis(timeout), () => {
      cleanup()
      source.pause()
      resume(Effect.fail(new TimedOut()))
    })
    const cleanup = () => {
      clearTimeout(timer)
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
    }
    function onData(chunk: Buffer) {
      size += chunk.length
      if (size > limit) {
        cleanup()
        source.pause()
        resume(Effect.fail(new TooLarge()))
      } else {
        chunks.push(chunk)
      }
    }
    function onEnd() {
      cleanup()
      resume(Effect.succeed(Buffer.concat(chunks, size)))
    }
    function onError() {
      cleanup()
      resume(Effect.fail(new ReadFailed()))
    }
    source.on("data", onData)
    source.once("end", onEnd)
    source.once("error", onError)
    return Effect.sync(cleanup)
  })

const readStream = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number,
  timeout: Duration.Duration
): Effect.Effect<Uint8Array, ReadError> =>
  Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return request.stream.pipe(
      Stream.mapError(() => new ReadFailed()),
      Stream.runForEach((chunk) => {
        size += chunk.length
        if (size > limit) return Effect.fail(new TooLarge())
        chunks.push(chunk)
        return Effect.void
      }),
      Effect.map(() => {
        const out = new Uint8Array(size)
        let offset = 0
        for (const chunk of chunks) {
          out.set(chunk, offset)
          offset += chunk.length
        }
        return out
      }),
      Effect.timeoutFail({ duration: timeout, onTimeout: () => new TimedOut() })
    )
  })

/**
 * The whole body, failing with `TooLarge` as soon as it passes `limit`
 * bytes, and with `TimedOut` if it has not all arrived within `timeout`.
 *
 * @internal
 */
export const read = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number,
  timeout: Duration.Duration
): Effect.Effect<Uint8Array, ReadError> =>
  request.source instanceof Http.IncomingMessage
    ? readIncoming(request.source, limit, timeout)
    : readStream(request, limit, timeout)
