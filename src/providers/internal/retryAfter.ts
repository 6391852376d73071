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
 * lower-cased response headers; without either, the reset of a rate limit
 * used up (see `fromResets`). A date in the past is a zero wait; a value
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
  if (header === undefined) return fromResets(headers, nowMillis)
  if (seconds.test(header)) return atMostADay(Duration.seconds(Number(header)))
  if (!httpDate.test(header)) return fromResets(headers, nowMillis)
  const at = Date.parse(header)
  return Number.isNaN(at) ? fromResets(headers, nowMillis) : atMostADay(Duration.millis(Math.max(0, at - nowMillis)))
}

/**
 * The rate limits whose reset a provider sends beside what is left of
 * them: OpenAI's `x-ratelimit-remaining-<limit>` and
 * `x-ratelimit-reset-<limit>` (a duration: `"1s"`, `"6m0s"`, `"20ms"`),
 * Anthropic's `anthropic-ratelimit-<limit>-remaining` and
 * `anthropic-ratelimit-<limit>-reset` (an RFC 3339 time).
 */
const resetHeaders: ReadonlyArray<readonly [remaining: string, reset: string]> = [
  ...["requests", "tokens"].map((limit) => [`x-ratelimit-remaining-${limit}`, `x-ratelimit-reset-${limit}`] as const),
  ...["requests", "tokens", "input-tokens", "output-tokens"].map(
    (limit) => [`anthropic-ratelimit-${limit}-remaining`, `anthropic-ratelimit-${limit}-reset`] as const
  )
]

/** An RFC 3339 time (Anthropic's resets): a date, `T`, a time. */
const rfc3339 = /^\s*\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/

/** One reset: a duration (OpenAI's), or a time (Anthropic's), as a wait from now. */
const resetOf = (value: string, nowMillis: number): Duration.Duration | undefined => {
  const duration = fromGoDuration(value)
  if (duration !== undefined || !rfc3339.test(value)) return duration
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : atMostADay(Duration.millis(Math.max(0, at - nowMillis)))
}

/**
 * When a provider sent no Retry-After, the wait its rate-limit headers
 * imply: the reset of each limit whose remaining is `0` (a limit with some
 * left is not what refused the call), the latest when several are used up
 * (the call needs all of them), at most a day (`longest`). `undefined`
 * when no limit is used up, or its reset does not read.
 *
 * @internal
 */
export const fromResets = (
  headers: Readonly<Record<string, string | undefined>>,
  nowMillis: number
): Duration.Duration | undefined => {
  let latest: Duration.Duration | undefined
  for (const [remaining, reset] of resetHeaders) {
    const left = headers[remaining]
    const at = headers[reset]
    if (left === undefined || at === undefined || left.trim() !== "0") continue
    const wait = resetOf(at, nowMillis)
    if (wait !== undefined && (latest === undefined || Duration.greaterThan(wait, latest))) latest = wait
  }
  return latest
}

const goDuration = /^\s*((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)\s*$/
const goDurationPart = /(\d+(?:\.\d+)?)(ms|h|m|s)/g
const unitMillis: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 }

/**
 * Reads a duration as OpenAI writes its resets and its "Please try again in
 * 7m12s": Go's form, numbers each with a unit of `h`, `m`, `s` or `ms`
 * (`"6m0s"`, `"1.5s"`, `"20ms"`), at most a day (`longest`).
 *
 * @internal
 */
export const fromGoDuration = (value: string): Duration.Duration | undefined => {
  const match = goDuration.exec(value)
  if (match === null) return undefined
  let millis = 0
  for (const [, amount, unit] of match[1]!.matchAll(goDurationPart)) millis += Number(amount) * unitMillis[unit!]!
  return atMostADay(Duration.millis(Math.round(millis)))
}

const tryAgainIn = /\btry again in ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)\b/i

/**
 * The wait a rate limit's message asks for, as OpenAI words it ("Please try
 * again in 7m12s.", "… in 120ms."), at most a day (`longest`).
 *
 * @internal
 */
export const fromMessage = (message: string): Duration.Duration | undefined => {
  const match = tryAgainIn.exec(message)
  return match === null ? undefined : fromGoDuration(match[1]!)
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
