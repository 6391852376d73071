/**
 * How long a provider asked us to wait, from its headers or its error body.
 *
 * @internal
 */
import * as Duration from "effect/Duration"

const seconds = /^\s*\d+(?:\.\d+)?\s*$/

/**
 * The longest wait a provider's answer is taken to ask for: a day. A day's
 * quota resets within one; past it, a value is a server's mistake (400
 * digits are Infinity as a number), and the router force-opens a target's
 * breaker for the wait, with no early probe before it ends: it must end.
 *
 * @internal
 */
export const longest = Duration.days(1)

const atMostADay = (wait: Duration.Duration): Duration.Duration => Duration.min(wait, longest)
/** Every HTTP-date form (IMF-fixdate, RFC 850, asctime) starts with a day name. */
const httpDate = /^\s*(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)/i

/**
 * Reads `retry-after-ms` (milliseconds, OpenAI and Anthropic) or else
 * `Retry-After` (delta seconds or an HTTP date, RFC 9110 §10.2.3) from
 * lower-cased response headers. A date in the past is a zero wait; a value
 * that is neither is ignored; a wait past a day is a day (`longest`).
 *
 * @internal
 */
export const fromHeaders = (
  headers: Readonly<Record<string, string | undefined>>,
  nowMillis: number
): Duration.Duration | undefined => {
  const ms = headers["retry-after-ms"]
  if (ms !== undefined) {
    const value = Number(ms.trim())
    // digits past what a number holds are Infinity: a wait past a day all the same
    if (ms.trim() !== "" && !Number.isNaN(value) && value >= 0) return atMostADay(Duration.millis(value))
  }
  const header = headers["retry-after"]
  if (header === undefined) return undefined
  if (seconds.test(header)) return atMostADay(Duration.seconds(Number(header)))
  if (!httpDate.test(header)) return undefined
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : atMostADay(Duration.millis(Math.max(0, at - nowMillis)))
}

const protobufDuration = /^\s*(\d+(?:\.\d+)?)s\s*$/

/**
 * Reads a Google `RetryInfo.retryDelay` such as `"37s"` or `"1.5s"`, at
 * most a day (`longest`).
 *
 * @internal
 */
export const fromProtobufDuration = (value: string): Duration.Duration | undefined => {
  const match = protobufDuration.exec(value)
  return match === null ? undefined : atMostADay(Duration.millis(Math.round(Number(match[1]) * 1000)))
}
