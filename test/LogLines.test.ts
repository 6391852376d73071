/**
 * `serve`'s log lines: logfmt, one line a record, written in one batch per
 * 50 ms (or 64 KiB), after whatever waited when the console writes, and
 * nothing left behind when the scope closes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "@effect/vitest"
import { Console, Effect } from "effect"
import * as LogLines from "../src/cli/internal/logLines.js"

const nextTurn = Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
/** Node's timers moved on by `millis` (faked: the batch's timer is Node's setTimeout). */
const advance = (millis: number) => Effect.sync(() => vi.advanceTimersByTime(millis))

/** Every write to stdout, as text, instead of writing it. */
const captureStdout = (): Array<string> => {
  const writes: Array<string> = []
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    writes.push(String(chunk))
    return true
  })
  return writes
}

const linesOf = (writes: ReadonlyArray<string>): Array<string> =>
  writes
    .join("")
    .split("\n")
    .filter((line) => line !== "")

describe("serve's log lines", () => {
  beforeEach(() => {
    // setImmediate stays real: a later turn of the loop still comes
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] })
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.restoreAllMocks()
  })

  it.live("writes the records of 50 ms in one write, in order, as logfmt lines", () =>
    Effect.gen(function* () {
      const writes = captureStdout()
      const program = Effect.gen(function* () {
        yield* Effect.logInfo("one")
        yield* Effect.logWarning("two").pipe(Effect.annotateLogs({ chain: "default" }))
        yield* nextTurn
        yield* advance(LogLines.flushAfterMillis - 1)
        yield* Effect.logInfo("three")
        expect(writes).toEqual([]) // nothing yet: the batch waits 50 ms from its first line
        yield* advance(1)
        expect(writes).toHaveLength(1)
        yield* Effect.logInfo("four")
        yield* advance(LogLines.flushAfterMillis - 1)
        expect(writes).toHaveLength(1) // the next batch's clock starts at its own first line
        yield* Effect.logInfo("five")
      })
      yield* Effect.scoped(program.pipe(Effect.provide(LogLines.layer)))
      // the scope closed: what was left went out at once
      expect(writes).toHaveLength(2)
      const lines = linesOf(writes)
      expect(lines).toHaveLength(5)
      expect(lines[0]).toMatch(/^timestamp=\S+ level=INFO fiber=#\d+ message=one$/)
      expect(lines[1]).toMatch(/level=WARN .*message=two chain=default$/)
      expect(lines.map((line) => /message=(\w+)/.exec(line)?.[1])).toEqual(["one", "two", "three", "four", "five"])
      expect(writes[0]).toMatch(/message=three\n$/)
    }))

  it.live("writes a batch of 64 KiB at once, without waiting", () =>
    Effect.gen(function* () {
      const writes = captureStdout()
      const message = "x".repeat(1000)
      const program = Effect.gen(function* () {
        // each line is a little over 1 KB: the 64 KiB mark is passed within 70 lines
        for (let i = 0; i < 70; i++) yield* Effect.logInfo(message)
        expect(writes).toHaveLength(1)
        expect(writes[0]!.length).toBeGreaterThanOrEqual(64 * 1024)
        expect(writes[0]!.length).toBeLessThan(64 * 1024 + 1100)
      })
      yield* Effect.scoped(program.pipe(Effect.provide(LogLines.layer)))
      expect(linesOf(writes)).toHaveLength(70)
    }))

  it.live("writes the lines waiting before what the console writes to stdout", () =>
    Effect.gen(function* () {
      const writes = captureStdout()
      const printed: Array<string> = []
      // the global console, as Effect's default console calls it: its output is recorded
      vi.spyOn(console, "log").mockImplementation((...args: Array<unknown>) => {
        printed.push(`${writes.length}:${args.join(" ")}`)
      })
      vi.spyOn(console, "info").mockImplementation((...args: Array<unknown>) => {
        printed.push(`${writes.length}:${args.join(" ")}`)
      })
      vi.spyOn(console, "error").mockImplementation((...args: Array<unknown>) => {
        printed.push(`${writes.length}:${args.join(" ")}`)
      })
      const program = Effect.gen(function* () {
        yield* Effect.logInfo("before the banner")
        yield* Console.log("banner")
        yield* Effect.logInfo("after the banner")
        yield* Console.info("info")
        // what goes to stderr leaves the batch alone
        yield* Effect.logInfo("waits past stderr")
        yield* Console.error("to stderr")
        expect(writes).toHaveLength(2)
      })
      yield* Effect.scoped(program.pipe(Effect.provide(LogLines.layer)))
      // each console write came after a write of the lines before it
      expect(printed).toEqual(["1:banner", "2:info", "2:to stderr"])
      expect(linesOf(writes).map((line) => /message="([^"]+)"/.exec(line)?.[1])).toEqual([
        "before the banner",
        "after the banner",
        "waits past stderr"
      ])
    }))

  it.live("drops its lines once stdout fails (EPIPE), says so once on stderr, and goes on", () =>
    Effect.gen(function* () {
      const writes = captureStdout()
      const notes: Array<string> = []
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
        yield* advance(LogLines.flushAfterMillis)
        expect(writes).toHaveLength(1)
        yield* Effect.logInfo("waiting when stdout fails")
        // without a listener, emitting "error" throws here, as a real EPIPE kills the process
        process.stdout.emit("error", epipe)
        process.stdout.emit("error", epipe)
        yield* Effect.logInfo("after")
        yield* advance(LogLines.flushAfterMillis)
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
