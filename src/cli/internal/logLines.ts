/**
 * The log lines of `serve`: logfmt, one line a record, as Effect's default
 * logger writes them, but batched: the records of one turn of the event
 * loop go out in one write to stdout (a gateway logs a line a request; a
 * write each cost a busy gateway a system call a request). A batch waits
 * for the end of its turn (`setImmediate`) or 64 KiB, whichever comes
 * first; closing the scope, or the process exiting, writes what is left.
 *
 * If stdout fails (its reader went away: `EPIPE`, as when piped to `head`),
 * the lines from then on are dropped, with one note on stderr, and the
 * gateway keeps serving: a log reader that left is no reason to stop
 * answering requests (without a listener, Node throws the stream's error
 * and the process dies).
 *
 * @internal
 */
import { Effect, Layer, Logger } from "effect"
import { writeSync } from "node:fs"

const maxPending = 64 * 1024

class Batch {
  private pending = ""
  private scheduled = false
  private closed = false

  readonly add = (line: string): void => {
    if (this.closed) return
    this.pending += line + "\n"
    if (this.pending.length >= maxPending) return this.flush()
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
  }

  /** What is waiting, now taken: the next lines start a new batch. */
  private take(): string {
    const out = this.pending
    this.pending = ""
    return out
  }

  readonly flush = (): void => {
    this.scheduled = false
    if (this.pending !== "" && !this.closed) process.stdout.write(this.take())
  }

  /** stdout failed: drop what waits and every line after it. */
  readonly fail = (error: Error): void => {
    if (this.closed) return
    this.closed = true
    this.pending = ""
    const code = (error as NodeJS.ErrnoException).code ?? error.message
    try {
      process.stderr.write(`llm-failover: stdout failed (${code}); log lines are dropped from now on\n`)
    } catch {
      // stderr is gone too: nothing left to tell
    }
  }

  /** At exit no callback runs any more: write what is left at once. */
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
 * Replaces the default logger with the batched logfmt logger for the scope
 * of the layer.
 *
 * @internal
 */
export const layer: Layer.Layer<never> = Logger.replaceScoped(
  Logger.defaultLogger,
  Effect.acquireRelease(
    Effect.sync(() => {
      const batch = new Batch()
      process.once("exit", batch.flushSync)
      process.stdout.on("error", batch.fail)
      return { batch, logger: Logger.map(Logger.logfmtLogger, batch.add) }
    }),
    ({ batch }) =>
      Effect.sync(() => {
        process.removeListener("exit", batch.flushSync)
        batch.flush()
        // a failure of that last write is emitted on a later tick: heard until then
        setImmediate(() => process.stdout.removeListener("error", batch.fail))
      })
  ).pipe(Effect.map(({ logger }) => logger))
)
