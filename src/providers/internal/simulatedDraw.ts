/**
 * Counter-based deterministic randomness for the simulated provider.
 *
 * Every draw is a pure function of `(seed, call, slot)`: call `k` always gets
 * the same numbers for the same seed, whatever other calls drew before it and
 * however calls interleave. There is no generator state to share between
 * fibers, so concurrency cannot make a run flaky.
 *
 * @internal
 */

/** The z-score of the 99th percentile of the standard normal distribution. */
export const z99 = 2.326347874

/** @internal */
export const twoPow32 = 4294967296

/** A 32-bit integer finaliser with full avalanche (Wellons' "lowbias32"). */
export const mix32 = (input: number): number => {
  let x = input >>> 0
  x ^= x >>> 16
  x = Math.imul(x, 0x7feb352d)
  x ^= x >>> 15
  x = Math.imul(x, 0x846ca68b)
  x ^= x >>> 16
  return x >>> 0
}

/** A 32-bit seed from any text (FNV-1a), so a provider's name can seed it. */
export const seedOf = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** A 32-bit seed from a user's number (any integer, negative or large). */
export const normalizeSeed = (seed: number): number => mix32(Math.trunc(seed) % twoPow32)

/**
 * A uniform number in the open interval (0, 1) for one draw `slot` of call
 * number `call`.
 */
export const uniform = (seed: number, call: number, slot: number): number => {
  const perCall = mix32(mix32(seed ^ 0x9e3779b9) ^ (call % twoPow32))
  const h = mix32(perCall + Math.imul(slot + 1, 0x9e3779b9))
  return (h + 0.5) / twoPow32
}

/** A standard normal draw for a call (Box-Muller over slots 0 and 1). */
export const standardNormal = (seed: number, call: number): number =>
  Math.sqrt(-2 * Math.log(uniform(seed, call, 0))) * Math.cos(2 * Math.PI * uniform(seed, call, 1))

/** The draw slots the latency uses; fault draws start after them. */
export const latencySlots = 2
