/**
 * Where the gateway's line a request and the router's event lines go when
 * something other than Effect's logger takes them.
 *
 * By default they go through Effect's logger (a message and its fields as
 * annotations), so a program's own logger gets them. That path costs a busy
 * gateway about a tenth of a completion's CPU for its line a request (the
 * annotations made into a `HashMap` and set in a `FiberRef`, the loggers'
 * set walked, each value formatted; BENCHMARKS.md, "gateway", session 13).
 * With a `LogSink` in their context when they are made, the gateway and
 * `Telemetry` hand each line to it instead, as a proxy writes its access
 * log apart from its other logs: `serve` provides one that writes logfmt
 * lines into its batched stdout. Either way, a line below the fiber's
 * minimum log level is not written, nor its annotations set; a line given
 * to the sink carries its own fields only (no fiber id, spans or
 * annotations from around it).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as LogLevel from "effect/LogLevel"

/** A line's fields, in the order they are written. @internal */
export type Fields = Readonly<Record<string, string | number>>

/** A line: when, how severe, the message and its fields. @internal */
export interface Line {
  readonly timeMillis: number
  readonly level: LogLevel.LogLevel
  readonly message: string
  readonly fields: Fields
}

/** Takes each line, synchronously. @internal */
export class LogSink extends Context.Tag("effect-llm-failover/observability/LogSink")<
  LogSink,
  { readonly write: (line: Line) => void }
>() {}

/** A sink, or none (Effect's logger). @internal */
export type Sink = Context.Tag.Service<LogSink> | undefined

/**
 * Logs a line at `level`, unless the fiber's minimum log level is above it:
 * to `sink` if there is one (at `timeMillis`, or the clock's time), else
 * through Effect's logger with `fields` as annotations.
 *
 * @internal
 */
export const log = (
  sink: Sink,
  level: LogLevel.LogLevel,
  message: string,
  fields: Fields,
  timeMillis?: number
): Effect.Effect<void> =>
  FiberRef.getWith(FiberRef.currentMinimumLogLevel, (minimum) => {
    if (LogLevel.greaterThan(minimum, level)) return Effect.void
    if (sink === undefined) return Effect.annotateLogs(Effect.logWithLevel(level, message), fields)
    return timeMillis !== undefined
      ? Effect.sync(() => sink.write({ timeMillis, level, message, fields }))
      : Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => sink.write({ timeMillis: now, level, message, fields })))
  })

/**
 * `log` at the clock's time, its fields made with that time: with a sink,
 * one step that reads the clock and the minimum level and writes the line.
 *
 * @internal
 */
export const logTimed = (
  sink: Sink,
  level: LogLevel.LogLevel,
  message: string,
  fields: (now: number) => Fields
): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
    if (sink === undefined || LogLevel.greaterThan(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), level)) {
      return log(sink, level, message, fields(now), now)
    }
    sink.write({ timeMillis: now, level, message, fields: fields(now) })
    return Effect.void
  })

/** Text that needs no quotes in logfmt: no whitespace, quote or equals sign (as Effect's logfmt logger). */
const textOnly = /^[^\s"=]*$/
const labelUnsafe = /[\s="]/g

const value = (text: string): string => (textOnly.test(text) ? text : JSON.stringify(text))

/**
 * A line as logfmt, written as Effect's logfmt logger writes its records
 * (`timestamp=… level=… message=…`, then each field; a value quoted as JSON
 * when it holds whitespace, a quote or an equals sign; a key's such
 * characters made `_`), without its `fiber`, and with the fields in the
 * line's order (Effect's logger writes its annotations in the order of
 * their `HashMap`).
 *
 * @internal
 */
export const logfmt = (line: Line): string => {
  let out = `timestamp=${new Date(line.timeMillis).toISOString()} level=${value(line.level.label)} message=${value(line.message)}`
  for (const key in line.fields) {
    out += ` ${key.replace(labelUnsafe, "_")}=${value(String(line.fields[key]))}`
  }
  return out
}
