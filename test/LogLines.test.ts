/**
 * `serve`'s log lines: logfmt, one line a record, written in one batch per
 * turn of the event loop, and nothing left behind when the scope closes.
 */
import { afterEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect } from "effect"
import * as LogLines from "../src/cli/internal/logLines.js"

const nextTurn = Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))

describe("serve's log lines", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it.live("writes the records of one turn in one write, in order, as logfmt lines", () =>
    Effect.gen(function* () {
      const writes: Array<string> = []
      vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
        writes.push(String(chunk))
        return true
      })
      const program = Effect.gen(function* () {
        yield* Effect.logInfo("one")
        yield* Effect.logWarning("two").pipe(Effect.annotateLogs({ chain: "default" }))
        yield* Effect.logInfo("three")
        expect(writes).toEqual([]) // nothing yet: the batch waits for the end of the turn
        yield* nextTurn
        expect(writes).toHaveLength(1)
        yield* Effect.logInfo("four")
      })
      yield* Effect.scoped(program.pipe(Effect.provide(LogLines.layer)))
      // the scope closed: what was left went out at once
      expect(writes).toHaveLength(2)
      const lines = writes.join("").split("\n").filter((line) => line !== "")
      expect(lines).toHaveLength(4)
      expect(lines[0]).toMatch(/^timestamp=\S+ level=INFO fiber=#\d+ message=one$/)
      expect(lines[1]).toMatch(/level=WARN .*message=two chain=default$/)
      expect(lines.map((line) => /message=(\w+)/.exec(line)?.[1])).toEqual(["one", "two", "three", "four"])
    }))

  it.live("drops its lines once stdout fails (EPIPE), says so once on stderr, and goes on", () =>
    Effect.gen(function* () {
      const writes: Array<string> = []
      const notes: Array<string> = []
      vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
        writes.push(String(chunk))
        return true
      })
      vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
        notes.push(String(chunk))
        return true
      })
      // an earlier layer's listener goes a turn after its scope closed
      yield* nextTurn
      const listeners = process.stdout.listenerCount("error")
      const epipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE" })
      const program = Effect.gen(function* () {
        yield* Effect.logInfo("before")
        yield* nextTurn
        expect(writes).toHaveLength(1)
        yield* Effect.logInfo("waiting when stdout fails")
        // without a listener, emitting "error" throws here, as a real EPIPE kills the process
        process.stdout.emit("error", epipe)
        process.stdout.emit("error", epipe)
        yield* Effect.logInfo("after")
        yield* nextTurn
      })
      yield* Effect.scoped(program.pipe(Effect.provide(LogLines.layer)))
      // the last write's failure comes on a later tick, after the scope closed: still heard
      process.stdout.emit("error", epipe)
      yield* nextTurn
      expect(writes).toHaveLength(1)
      expect(writes[0]).toMatch(/message=before\n$/)
      expect(notes).toEqual(["llm-failover: stdout failed (EPIPE); log lines are dropped from now on\n"])
      // the layer's listener is gone with its scope
      expect(process.stdout.listenerCount("error")).toBe(listeners)
    }))
})
