/**
 * The log lines of `serve`: logfmt, one line a record, as Effect's
 * `Logger.logfmtLogger` writes them (a line of the gateway's or of the
 * router's events as `LogSink` writes it: the same, without the fiber, the
 * fields in the line's order), but batched: the records of the next 50 ms go out in
 * one write to stdout (a gateway logs a line a request; a write each cost a
 * gateway a system call a request, 25 to 30 µs of CPU at one connection).
 * A batch goes out 50 ms after its first line or at 64 KiB, whichever comes
 * first (64 Ki characters); closing the scope, or the process exiting,
 * writes what is left, and a line logged after the scope closed (by a fiber
 * that outlived it) goes out at once, unbatched. The `Console` service's
 * methods that write to stdout, in the layer's scope (the banner), write
 * the lines waiting before their own output, so stdout keeps the order
 * things happened in (its `unsafe` console, which the replaced loggers
 * wrote through, is left as it is).
 *
 * If stdout fails (its reader went away: `EPIPE`, as when piped to `head`),
 * the lines from then on are dropped, with one note on stderr, and the
 * gateway keeps serving: a log reader that left is no reason to stop
 * answering requests (without a listener, Node throws the stream's error
 * and the process dies).
 *
 * @internal
 */
import { Console, Effect, Layer, Logger } from "effect"
import { writeSync } from "node:fs"
import * as LogSink from "../../observability/internal/logSink.js"

const maxPending = 64 * 1024

/** How long a batch's first line waits for company, in milliseconds. */
export const flushAfterMillis = 50

class Batch {
  private pending = ""
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  /** stdout failed: every line is dropped. */
  private closed = false
  /** The layer's scope closed: no more batches, no timer (nor exit listener) to write them. */
  private ended = false

  readonly add = (line: string): void => {
    if (this.closed) return
    this.pending += line + "\n"
    if (this.ended) return this.flushSync()
    if (this.pending.length >= maxPending) return this.flush()
    // unref'd: lines waiting never hold the process open (the exit listener writes them)
    this.timer ??= setTimeout(this.flush, flushAfterMillis).unref()
  }

  /** The layer's scope closed: what waits goes out, and each later line at once. */
  readonly end = (): void => {
    this.flush()
    this.ended = true
  }

  /** What is waiting, now taken: the next lines start a new batch. */
  private take(): string {
    const out = this.pending
    this.pending = ""
    return out
  }

  readonly flush = (): void => {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.pending !== "" && !this.closed) process.stdout.write(this.take())
  }

  /** stdout failed: drop what waits and every line after it. */
  readonly fail = (error: Error): void => {
    if (this.closed) return
    this.closed = true
    this.pending = ""
    if (this.timer !== undefined) clearTimeout(this.timer)
    const code = (error as NodeJS.ErrnoException).code ?? error.message
    try {
      process.stderr.write(`llm-failover: stdout failed (${code}); log lines are dropped from now on\n`)
    } catch {
      // stderr is gone too: nothing left to tell
    }
  }

  /** Writes what is left at once: at exit (no callback runs any more), and for each line after the scope ended. */
  readonly flushSync = (): void => {
    if (this.pending === "" || this.closed) return
    try {
      writeSync(1, this.take())
    } catch {
      // stdout is gone: nothing left to tell
    }
  }
}

/**
 * `console` with the lines waiting written before whatever its methods that
 * write to stdout write.
 */
const linesFirst = (console: Console.Console, batch: Batch): Console.Console => {
  const first = <A>(effect: Effect.Effect<A>): Effect.Effect<A> => Effect.zipRight(Effect.sync(batch.flush), effect)
  return {
    ...console,
    count: (label) => first(console.count(label)),
    debug: (...args) => first(console.debug(...args)),
    dir: (item, options) => first(console.dir(item, options)),
    dirxml: (...args) => first(console.dirxml(...args)),
    group: (options) => first(console.group(options)),
    info: (...args) => first(console.info(...args)),
    log: (...args) => first(console.log(...args)),
    table: (data, properties) => first(console.table(data, properties)),
    timeEnd: (label) => first(console.timeEnd(label)),
    timeLog: (label, ...args) => first(console.timeLog(label, ...args))
  }
}

/** A batch, from the layer's start to its end: flushed when it ends, stdout's failure heard meanwhile. */
const batch = Effect.acquireRelease(
  Effect.sync(() => {
    const batch = new Batch()
    process.once("exit", batch.flushSync)
    process.stdout.on("error", batch.fail)
    return batch
  }),
  (batch) =>
    Effect.sync(() => {
      process.removeListener("exit", batch.flushSync)
      batch.end()
      // a failure of that last write is emitted on a later tick: heard until then
      setImmediate(() => process.stdout.removeListener("error", batch.fail))
    })
)

/**
 * Replaces the default logger with the batched logfmt logger for the scope
 * of the layer, and the `Console` service with one that writes the waiting
 * lines before its own output; provides a `LogSink`, whose lines (the
 * gateway's line a request, the router's event lines) become logfmt lines
 * in the same batches, without Effect's logger (see `LogSink`).
 *
 * @internal
 */
export const layer: Layer.Layer<LogSink.LogSink> = Layer.unwrapScoped(
  Effect.map(batch, (batch) =>
    Layer.mergeAll(
      Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, batch.add)),
      Layer.unwrapEffect(Console.consoleWith((console) => Effect.succeed(Console.setConsole(linesFirst(console, batch))))),
      Layer.succeed(LogSink.LogSink, { write: (line) => batch.add(LogSink.logfmt(line)) })
    )
  )
)
