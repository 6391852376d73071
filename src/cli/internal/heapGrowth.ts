/**
 * How far `serve` lets V8's heap grow past what is live.
 *
 * After each full collection V8 sets the next one's trigger at the live
 * heap times a factor it picks from how fast the program allocates: under
 * load, up to 4x. A gateway's live heap is small (19 MB idle, bundled; 26
 * MB under load) and almost everything a request allocates dies with it, so
 * the factor mostly decides how much garbage waits in memory. Measured
 * under 50 connections (BENCHMARKS.md, "gateway"): V8's own policy, 250 to
 * 265 MB RSS; 100%, 190 to 210 MB; 60% (the default here), 160 to 165 MB
 * for the same CPU a response (interleaved runs, the bundle split in
 * modules); 45%, 155 to 165 MB for about 5% more CPU; 20 to 30%, 20 to 30%
 * more CPU, as full collections come too often. It is V8's
 * `--heap-growing-percent`, set when `serve` starts (the command owns its
 * process; the library never touches V8's flags).
 *
 * @internal
 */
import { Effect } from "effect"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

/** The growth `serve` sets unless told otherwise, in percent. */
export const defaultPercent = 60

/** The largest growth `--heap-growth` takes, in percent (V8's own policy stops at 4x). */
export const maxPercent = 300

/**
 * Sets the growth past the live heap, in percent, and collects once, so that
 * it holds from the first request; 0 leaves V8's own policy. (The limit V8
 * set while the program loaded stands until the next full collection, and
 * with it the gateway's RSS rose to 260 MB before the growth took hold.
 * `gc` is not a global here: it comes from a new context once the flag that
 * exposes it is set.)
 */
export const set = (percent: number): Effect.Effect<void> =>
  Effect.sync(() => {
    if (percent <= 0) return
    setFlagsFromString(`--heap-growing-percent=${percent}`)
    setFlagsFromString("--expose-gc")
    const gc = runInNewContext("gc") as () => void
    gc()
  })
