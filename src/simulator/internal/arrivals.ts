/**
 * When requests arrive: a seeded Poisson process, or evenly spaced requests
 * each jittered within half a gap. Times are whole milliseconds from the
 * start of the run, ascending.
 *
 * @internal
 */
import { streams, uniform } from "./random.js"

/** @internal */
export type Process = "poisson" | "even"

/**
 * The arrival times in `[0, horizon)` milliseconds of a process at `rate`
 * requests a second.
 *
 * - `poisson`: exponential gaps of mean `1000 / rate` ms, the i-th gap drawn
 *   from the seed's i-th number.
 * - `even`: the i-th request at `i * gap`, moved by a uniform offset in
 *   `(-gap / 2, gap / 2)`, so the order never changes.
 *
 * @internal
 */
export const times = (process: Process, rate: number, horizon: number, seed: number): ReadonlyArray<number> => {
  const gap = 1000 / rate
  const out: Array<number> = []
  if (process === "even") {
    for (let i = 0; ; i++) {
      const at = Math.floor(Math.max(0, i * gap + (uniform(seed, streams.jitter, i) - 0.5) * gap))
      if (at >= horizon) break
      out.push(at)
    }
    return out
  }
  let t = 0
  for (let i = 0; ; i++) {
    t += -Math.log(uniform(seed, streams.arrival, i)) * gap
    const at = Math.floor(t)
    if (at >= horizon) break
    out.push(at)
  }
  return out
}
