/**
 * Counter-based draws for the simulator: every number is a pure function of
 * `(seed, stream, index)`, so an arrival time or an oracle's latency sample
 * does not depend on how many other draws came before it.
 *
 * @internal
 */
import { mix32, twoPow32 } from "../../providers/internal/simulatedDraw.js"

/** The draw streams, so arrivals and oracle samples never share numbers. @internal */
export const streams = { arrival: 1, jitter: 2, oracleLatency: 3 } as const

/**
 * The seed's bits above its low 32, mixed in; a seed from -2^31 to 2^32 has
 * none to mix (its draws are those its low 32 bits always gave, which
 * BENCHMARKS.md's figures come from).
 */
const highBits = (seed: number, base: number): number => {
  if (seed >= -0x80000000 && seed < twoPow32) return base
  return mix32(base ^ mix32(Math.floor(seed / twoPow32) ^ 0x27d4eb2f))
}

/** A uniform number in the open interval (0, 1). @internal */
export const uniform = (seed: number, stream: number, index: number): number => {
  const base = highBits(seed, mix32(mix32((seed | 0) ^ 0x9e3779b9) + Math.imul(stream, 0x85ebca6b)))
  const h = mix32(base ^ mix32(index >>> 0) ^ Math.imul(Math.floor(index / twoPow32), 0xc2b2ae35))
  return (h + 0.5) / twoPow32
}

/** A standard normal draw (Box-Muller over two uniforms of the stream). @internal */
export const standardNormal = (seed: number, stream: number, index: number): number =>
  Math.sqrt(-2 * Math.log(uniform(seed, stream, 2 * index))) * Math.cos(2 * Math.PI * uniform(seed, stream, 2 * index + 1))
