/**
 * Where the gateway writes its line a request, when something other than
 * Effect's logger takes it.
 *
 * By default the gateway logs each request through Effect's logger (a
 * message and its fields as annotations), so a program's own logger gets
 * the lines. That path costs a busy gateway about a tenth of a completion's
 * CPU (the annotations made into a `HashMap` and set in a `FiberRef`, the
 * loggers' set walked, each value formatted; BENCHMARKS.md, "gateway",
 * session 13), which is most of what a log line costs. With an `AccessLog`
 * in its context, the gateway hands each request's record to it instead,
 * as a proxy writes its access log apart from its other logs: `serve`
 * provides one that writes logfmt lines into its batched stdout. The
 * minimum log level still applies; the record carries the request's
 * fields only (no fiber id, spans or annotations from around the gateway).
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as LogLevel from "effect/LogLevel"

/** A request's record: when, how severe, the message and its fields in order. @internal */
export interface Record {
  readonly timeMillis: number
  readonly level: LogLevel.LogLevel
  readonly message: string
  readonly fields: Readonly<globalThis.Record<string, string | number>>
}

/** Takes each request's record, synchronously. @internal */
export class AccessLog extends Context.Tag("effect-llm-failover/gateway/AccessLog")<
  AccessLog,
  { readonly write: (record: Record) => void }
>() {}

/** Text that needs no quotes in logfmt: no whitespace, quote or equals sign (as Effect's logfmt logger). */
const textOnly = /^[^\s"=]*$/
const labelUnsafe = /[\s="]/g

const value = (text: string): string => (textOnly.test(text) ? text : JSON.stringify(text))

/**
 * A record as one logfmt line, written as Effect's logfmt logger writes
 * its records (`timestamp=… level=… message=…`, then each field; a value
 * quoted as JSON when it holds whitespace, a quote or an equals sign; a
 * key's such characters made `_`), without its `fiber`, and with the
 * fields in the record's order (Effect's logger writes its annotations in
 * the order of their `HashMap`).
 *
 * @internal
 */
export const logfmt = (record: Record): string => {
  let line = `timestamp=${new Date(record.timeMillis).toISOString()} level=${value(record.level.label)} message=${value(record.message)}`
  for (const key in record.fields) {
    line += ` ${key.replace(labelUnsafe, "_")}=${value(String(record.fields[key]))}`
  }
  return line
}
