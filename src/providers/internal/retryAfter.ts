/**
 * How long a provider asked us to wait, from its headers or its error body.
 *
 * @internal
 */
import * as Duration from "effect/Duration"

const seconds = /^\s*\d+(?:\.\d+)?\s*$/
/** Every HTTP-date form (IMF-fixdate, RFC 850, asctime) starts with a day name. */
const httpDate = /^\s*(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)/i

/**
 * Reads `retry-after-ms` (milliseconds, OpenAI and Anthropic) or else
 * `Retry-After` (delta seconds or an HTTP date, RFC 9110 §10.2.3) from
 * lower-cased response headers. A date in the past is a zero wait; a value
 * that is neither is ignored.
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
    if (ms.trim() !== "" && Number.isFinite(value) && value >= 0) return Duration.millis(value)
  }
  const header = headers["retry-after"]
  if (header === undefined) return undefined
  if (seconds.test(header)) return Duration.seconds(Number(header))
  if (!httpDate.test(header)) return undefined
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Duration.millis(Math.max(0, at - nowMillis))
}

const protobufDuration = /^\s*(\d+(?:\.\d+)?)s\s*$/

/**
 * Reads a Google `RetryInfo.retryDelay` such as `"37s"` or `"1.5s"`.
 *
 * @internal
 */
export const fromProtobufDuration = (value: string): Duration.Duration | undefined => {
  const match = protobufDuration.exec(value)
  return match === null ? undefined : Duration.millis(Math.round(Number(match[1]) * 1000))
}
