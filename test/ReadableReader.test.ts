/**
 * `ReadableReader`: a Node `Readable` read one read at a time, each under a
 * plain timer (the live clock; data is pushed by the test, not by time).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Option, Scope } from "effect"
import { PassThrough } from "node:stream"
import * as ReadableReader from "../src/providers/internal/readableReader.js"

const timedOut = () => "timed out"
const long = 60_000
const text = (chunk: Chunk.Chunk<Uint8Array>) => Chunk.toReadonlyArray(chunk).map((b) => Buffer.from(b).toString()).join("")

describe("ReadableReader", () => {
  it.scopedLive("hands over what the readable holds as one chunk, then its end", () =>
    Effect.gen(function* () {
      const body = new PassThrough()
      const reader = yield* ReadableReader.make(body, String, yield* Effect.scope)
      body.write("one,")
      body.write("two")
      // both buffers, in one read
      expect(text(yield* reader.take(long, timedOut))).toBe("one,two")
      const waiting = yield* Effect.fork(reader.take(long, timedOut))
      body.end("three")
      expect(text(yield* Fiber.join(waiting))).toBe("three")
      expect(yield* Effect.flip(reader.take(long, timedOut))).toEqual(Option.none())
    }))

  it.scopedLive("fails after what came before the failure, and times out a read that brings nothing", () =>
    Effect.gen(function* () {
      const body = new PassThrough()
      const reader = yield* ReadableReader.make(body, (cause) => `failed: ${(cause as Error).message}`, yield* Effect.scope)
      expect(yield* Effect.flip(reader.take(5, timedOut))).toBe("timed out")
      body.write("held")
      body.destroy(new Error("reset"))
      expect(text(yield* reader.take(long, timedOut))).toBe("held")
      expect(yield* Effect.flip(reader.take(long, timedOut))).toEqual(Option.some("failed: reset"))
    }))

  it.live("closing the scope ends a take still waiting and destroys the readable", () =>
    Effect.gen(function* () {
      const body = new PassThrough()
      const scope = yield* Scope.make()
      const reader = yield* ReadableReader.make(body, String, scope)
      const waiting = yield* Effect.fork(reader.take(long, timedOut))
      yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      expect(yield* Effect.flip(Fiber.join(waiting))).toEqual(Option.none())
      expect(body.destroyed).toBe(true)
      expect(body.listenerCount("readable")).toBe(0)
    }))

  it.scopedLive("a readable that ended or failed before the reader came is its end or failure", () =>
    Effect.gen(function* () {
      const ended = new PassThrough()
      ended.end()
      ended.resume()
      yield* Effect.promise(() => new Promise((resolve) => ended.once("end", resolve)))
      const first = yield* ReadableReader.make(ended, String, yield* Effect.scope)
      expect(yield* Effect.flip(first.take(long, timedOut))).toEqual(Option.none())

      const failed = new PassThrough()
      failed.on("error", () => {})
      failed.destroy(new Error("gone"))
      const second = yield* ReadableReader.make(failed, (cause) => (cause as Error).message, yield* Effect.scope)
      expect(yield* Effect.flip(second.take(long, timedOut))).toEqual(Option.some("gone"))
    }))

  it.live("a reader closed before the body's end destroys it with one error, made once, which it hears", () =>
    Effect.gen(function* () {
      const errors: Array<Error | null> = []
      for (let i = 0; i < 2; i++) {
        const open = new PassThrough()
        const scope = yield* Scope.make()
        const reader = yield* ReadableReader.make(open, String, scope)
        open.write("data: one")
        expect(text(yield* reader.take(long, timedOut))).toBe("data: one")
        yield* Scope.close(scope, Exit.void)
        expect(open.destroyed).toBe(true)
        errors.push(open.errored)
        // the error is heard (nothing unhandled) once the stream emits it
        yield* Effect.promise(() => new Promise((resolve) => open.once("close", resolve)))
      }
      expect(errors[0]).toBeInstanceOf(Error)
      expect(errors[1]).toBe(errors[0])
    }))
})
