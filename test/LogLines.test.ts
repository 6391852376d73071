/**
 * `serve`'s log lines: logfmt, one line a record, written in one batch per
 * 50 ms (or 64 KiB), after whatever waited when the console writes, nothing
 * left behind when the scope closes (no line, no timer), and a line logged
 * after it closed written at once.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "@effect/vitest"
import { Console, Effect, LogLevel } from "effect"
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { fileURLToPath } from "node:url"
import * as LogLines from "../src/cli/internal/logLines.js"

const execFileAsync = promisify(execFile)
import * as LogSink from "../src/observability/internal/logSink.js"

const logLinesModule = fileURLToPath(new URL("../src/cli/internal/logLines.ts", import.meta.url))

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
        yield* advance(1)
        expect(writes).toHaveLength(2) // 50 ms after "four"
        yield* Effect.logInfo("six")
      })
      yield* Effect.scoped(program.pipe(Effect.provide(LogLines.layer)))
      // the scope closed: what was left went out at once, and no timer is left behind
      expect(writes).toHaveLength(3)
      expect(vi.getTimerCount()).toBe(0)
      const lines = linesOf(writes)
      expect(lines).toHaveLength(6)
      expect(lines[0]).toMatch(/^timestamp=\S+ level=INFO fiber=#\d+ message=one$/)
      expect(lines[1]).toMatch(/level=WARN .*message=two chain=default$/)
      expect(lines.map((line) => /message=(\w+)/.exec(line)?.[1])).toEqual(["one", "two", "three", "four", "five", "six"])
      expect(writes[0]).toMatch(/message=three\n$/)
    }))

  it.live("writes its log sink's lines as logfmt lines in the same batches, in order", () =>
    Effect.gen(function* () {
      const writes = captureStdout()
      const program = Effect.gen(function* () {
        const sink = yield* LogSink.LogSink
        yield* Effect.logInfo("before")
        sink.write({ timeMillis: 0, level: LogLevel.Warning, message: "POST /v1/chat/completions 503", fields: { requestId: "r1", status: 503 } })
        yield* Effect.logInfo("after")
        expect(writes).toEqual([])
      })
      yield* Effect.scoped(program.pipe(Effect.provide(LogLines.layer)))
      expect(writes).toHaveLength(1)
      const lines = linesOf(writes)
      expect(lines[1]).toBe('timestamp=1970-01-01T00:00:00.000Z level=WARN message="POST /v1/chat/completions 503" requestId=r1 status=503')
      expect(lines.map((line) => /message=(\S+)/.exec(line)?.[1])).toEqual(["before", '"POST', "after"])
    }))

  it.live("writes a batch of 64 KiB at once, without waiting", () =>
    Effect.gen(function* () {
      const writes = captureStdout()
      const message = "x".repeat(1000)
      let logged = 0
      const program = Effect.gen(function* () {
        // each line is a little over 1 KB: the 64 KiB mark is passed within 70 lines
        while (writes.length === 0 && logged < 70) {
          yield* Effect.logInfo(message)
          logged++
        }
        expect(writes).toHaveLength(1)
        expect(writes[0]!.length).toBeGreaterThanOrEqual(64 * 1024)
        expect(writes[0]!.length).toBeLessThan(64 * 1024 + 1100)
        // the batch's timer went with it
        expect(vi.getTimerCount()).toBe(0)
        yield* Effect.logInfo("next batch")
        expect(vi.getTimerCount()).toBe(1)
      })
      yield* Effect.scoped(program.pipe(Effect.provide(LogLines.layer)))
      expect(linesOf(writes)).toHaveLength(logged + 1)
      expect(vi.getTimerCount()).toBe(0)
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
        expect(vi.getTimerCount()).toBe(0) // the write took the batch's timer with it
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

  it("writes a line logged after the scope closed at once, even when the process ends within 50 ms", async () => {
    // a fiber that outlives the layer's scope logs 10 ms after it closed; the process ends 10 ms later
    const script = `
      import { Effect } from "effect"
      import * as LogLines from ${JSON.stringify(logLinesModule)}
      const program = Effect.gen(function* () {
        yield* Effect.logInfo("inside")
        yield* Effect.forkDaemon(Effect.zipRight(Effect.sleep("10 millis"), Effect.logInfo("after-close")))
      })
      await Effect.runPromise(Effect.scoped(program.pipe(Effect.provide(LogLines.layer))))
      setTimeout(() => {}, 20)
    `
    // (not spawnSync: it would hold the worker's event loop, and Vitest's calls to it, while the child runs)
    const run = await execFileAsync(process.execPath, ["--import", "tsx", "--input-type=module", "--eval", script], {
      encoding: "utf8",
      timeout: 20_000
    })
    expect(run.stderr).toBe("")
    expect(linesOf([run.stdout]).map((line) => /message=(\S+)/.exec(line)?.[1])).toEqual(["inside", "after-close"])
  })
})
