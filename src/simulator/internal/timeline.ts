/**
 * The timeline: one row per target and one for the requests, one character
 * per column (a minute, or several for runs longer than two hours), so the
 * incident shows at a glance.
 *
 * @internal
 */
import type * as Simulated from "../../providers/Simulated.js"
import type { Window } from "./report.js"
import type { RequestRecord } from "./run.js"

/** The characters of the timeline. @internal */
export const legend = {
  served: "=",
  slow: "s",
  partial: "~",
  failed: "X",
  cancelled: "-",
  open: "o",
  idle: "."
} as const

/** At most this many columns: longer runs put several minutes in a column. */
const maxColumns = 120

/** @internal */
export interface Columns {
  readonly count: number
  /** Minutes a column stands for. */
  readonly minutes: number
  /** Milliseconds a column stands for. */
  readonly width: number
}

/** The columns of a run of `duration` milliseconds of traffic. @internal */
export const columns = (duration: number): Columns => {
  const total = Math.max(1, Math.ceil(duration / 60_000))
  const minutes = Math.ceil(total / maxColumns)
  return { count: Math.ceil(total / minutes), minutes, width: minutes * 60_000 }
}

/** A column's answers are slow when their median takes more than this many times the usual. */
const slowFactor = 4

const median = (values: Array<number>): number => {
  values.sort((a, b) => a - b)
  return values[Math.floor((values.length - 1) / 2)] ?? 0
}

/** The column of an offset; what ends after the traffic (a request's tail) lands in the last one. */
const columnOf = (columns: Columns, offset: number) =>
  Math.min(columns.count - 1, Math.max(0, Math.floor(offset / columns.width)))

const zeros = (columns: Columns) => new Array<number>(columns.count).fill(0)

/**
 * A target's row: `=` every call served, `s` every call served but their
 * median more than 4 times the target's `usual` latency, `~` some failed,
 * `X` all failed, `-` only calls the router cancelled (timeouts, lost
 * hedges), `o` no answer and the breaker open for at least half the column
 * (of the part of it the run covers, up to `end`, milliseconds since the
 * start: a last column shorter than the others is judged on its own time),
 * `.` idle.
 *
 * @internal
 */
export const targetRow = (
  columns: Columns,
  calls: ReadonlyArray<Simulated.Call>,
  start: number,
  open: ReadonlyArray<Window>,
  usual: number,
  end: number
): string => {
  const durations: Array<Array<number>> = Array.from({ length: columns.count }, () => [])
  const succeeded = zeros(columns)
  const failed = zeros(columns)
  const cancelled = zeros(columns)
  const openMillis = zeros(columns)
  for (const call of calls) {
    const column = columnOf(columns, call.startedAt - start)
    if (call.outcome === "succeeded") {
      succeeded[column]!++
      durations[column]!.push((call.endedAt ?? call.startedAt) - call.startedAt)
    } else if (call.outcome === "failed") failed[column]!++
    else if (call.outcome === "interrupted") cancelled[column]!++
  }
  for (const span of open) {
    for (let column = columnOf(columns, span.from); column <= columnOf(columns, span.to); column++) {
      const from = Math.max(span.from, column * columns.width)
      const to = Math.min(span.to, (column + 1) * columns.width)
      if (to > from) openMillis[column]! += to - from
    }
  }
  let row = ""
  for (let column = 0; column < columns.count; column++) {
    const s = succeeded[column]!
    const f = failed[column]!
    const covered = Math.min(columns.width, end - column * columns.width)
    row +=
      s > 0
        ? f > 0 ? legend.partial : median(durations[column]!) > slowFactor * usual ? legend.slow : legend.served
        : openMillis[column]! > 0 && openMillis[column]! * 2 >= covered
        ? legend.open
        : f > 0
        ? legend.failed
        : cancelled[column]! > 0
        ? legend.cancelled
        : openMillis[column]! > 0
        ? legend.open
        : legend.idle
  }
  return row
}

/**
 * The requests' row, by arrival: `=` all answered, `s` all answered but
 * their median latency more than 4 times the oracle's median for them, `~`
 * some not answered, `X` none, `.` no request. `oracle[i]` is the oracle's
 * latency for request i (`undefined` when it could not be served).
 *
 * @internal
 */
export const requestRow = (
  columns: Columns,
  requests: ReadonlyArray<RequestRecord>,
  oracle: ReadonlyArray<number | undefined>
): string => {
  const served = zeros(columns)
  const other = zeros(columns)
  const latencies: Array<Array<number>> = Array.from({ length: columns.count }, () => [])
  const best: Array<Array<number>> = Array.from({ length: columns.count }, () => [])
  for (const request of requests) {
    const column = columnOf(columns, request.at)
    if (request.outcome === "served") {
      served[column]!++
      latencies[column]!.push(request.latency)
      const fastest = oracle[request.index]
      if (fastest !== undefined) best[column]!.push(fastest)
    } else other[column]!++
  }
  let row = ""
  for (let column = 0; column < columns.count; column++) {
    const s = served[column]!
    const o = other[column]!
    const slow = best[column]!.length > 0 && median(latencies[column]!) > slowFactor * median(best[column]!)
    row += s + o === 0 ? legend.idle : o === 0 ? (slow ? legend.slow : legend.served) : s === 0 ? legend.failed : legend.partial
  }
  return row
}
