/**
 * A fixed-size log-scale histogram for latencies in milliseconds, after
 * DDSketch (Masson, Rim, Lee, VLDB 2019): bin `k` holds the values in
 * `(gamma^(k-1), gamma^k]` with `gamma = (1 + a) / (1 - a)`, and is reported
 * as `2 gamma^k / (gamma + 1)`, which is within a relative error `a` of every
 * value in the bin. Order is kept across bins, so the nearest-rank quantile
 * read from the histogram is within `a` of the exact nearest-rank quantile.
 *
 * The bins use `a = BIN_ACCURACY` (1.99%); the reported bound
 * `RELATIVE_ACCURACY` (2%) leaves room for rounding the reported value to a
 * whole nanosecond when it becomes a `Duration` (at most 0.5 ns, i.e. 0.005%
 * of the smallest tracked value).
 *
 * Bin 0 holds zero (and any non-positive or NaN value) and reports 0. Values
 * outside `[MIN_TRACKED_MILLIS, MAX_TRACKED_MILLIS]` are clamped into the
 * first or last log bin, so the guarantee holds inside that range only.
 *
 * Several histograms (one per time bucket) share one `Uint32Array`, each in
 * its own stride of `BIN_COUNT` counters.
 *
 * @internal
 */

/** The relative error bound of a reported quantile (2%), nanosecond rounding included. @internal */
export const RELATIVE_ACCURACY = 0.02

/** The relative error bound of a bin's representative value. @internal */
export const BIN_ACCURACY = 0.0199

/** The smallest latency tracked with the error bound: 10 microseconds. @internal */
export const MIN_TRACKED_MILLIS = 0.01

/** The largest latency tracked with the error bound: 10,000 seconds (about 2.8 h). @internal */
export const MAX_TRACKED_MILLIS = 10_000_000

const GAMMA = (1 + BIN_ACCURACY) / (1 - BIN_ACCURACY)
const LN_GAMMA = Math.log(GAMMA)
const MIN_KEY = Math.ceil(Math.log(MIN_TRACKED_MILLIS) / LN_GAMMA)
const MAX_KEY = Math.ceil(Math.log(MAX_TRACKED_MILLIS) / LN_GAMMA)

/** Counters per histogram: the zero bin plus one per log bin. @internal */
export const BIN_COUNT = MAX_KEY - MIN_KEY + 2

const representatives = (() => {
  const values = new Float64Array(BIN_COUNT)
  for (let bin = 1; bin < BIN_COUNT; bin++) {
    values[bin] = (2 * Math.pow(GAMMA, bin - 1 + MIN_KEY)) / (GAMMA + 1)
  }
  return values
})()

/** The bin of a latency in milliseconds. @internal */
export const binOf = (millis: number): number => {
  if (!(millis > 0)) return 0
  if (millis <= MIN_TRACKED_MILLIS) return 1
  if (millis >= MAX_TRACKED_MILLIS) return BIN_COUNT - 1
  return Math.ceil(Math.log(millis) / LN_GAMMA) - MIN_KEY + 1
}

/** The value reported for a bin, in milliseconds. @internal */
export const valueOfBin = (bin: number): number => representatives[bin]!

/**
 * Nearest-rank quantiles over the sum of the histograms at `strides` (their
 * indexes in `counts`) holding `total` values: for each `q`, the smallest
 * reported value with at least `ceil(q * total)` values at or below it.
 * `qs` must be ascending. Returns milliseconds, one per `q`.
 *
 * @internal
 */
export const quantiles = (
  counts: Uint32Array,
  strides: ReadonlyArray<number>,
  total: number,
  qs: ReadonlyArray<number>
): Array<number> => {
  const ranks = qs.map((q) => Math.max(1, Math.ceil(q * total)))
  const result = new Array<number>(qs.length)
  let next = 0
  let seen = 0
  for (let bin = 0; bin < BIN_COUNT && next < ranks.length; bin++) {
    for (let i = 0; i < strides.length; i++) {
      seen += counts[strides[i]! * BIN_COUNT + bin]!
    }
    while (next < ranks.length && seen >= ranks[next]!) {
      result[next++] = representatives[bin]!
    }
  }
  return result
}
