/**
 * Reads a request body up to a byte limit. On Node the reader stops at the
 * limit without destroying the socket, so the client still gets its 413
 * (the connection then closes, its rest unread); elsewhere it reads the
 * platform's body stream with the same limit.
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Http from "node:http"

/** The body passed the limit. @internal */
export class TooLarge extends Data.TaggedError("TooLarge")<{}> {}

/** The body could not be read (the client went away mid-body). @internal */
export class ReadFailed extends Data.TaggedError("ReadFailed")<{}> {}

const readNode = (source: Http.IncomingMessage, limit: number): Effect.Effect<Uint8Array, TooLarge | ReadFailed> =>
  Effect.async<Uint8Array, TooLarge | ReadFailed>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const cleanup = () => {
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

const readStream = (request: HttpServerRequest.HttpServerRequest, limit: number): Effect.Effect<Uint8Array, TooLarge | ReadFailed> =>
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
      })
    )
  })

/**
 * The whole body, failing with `TooLarge` as soon as it passes `limit` bytes.
 *
 * @internal
 */
export const read = (request: HttpServerRequest.HttpServerRequest, limit: number): Effect.Effect<Uint8Array, TooLarge | ReadFailed> =>
  request.source instanceof Http.IncomingMessage ? readNode(request.source, limit) : readStream(request, limit)
