/**
 * Per-call timing by interleaved rounds, so that a ratio between two cases
 * holds on a shared, loaded machine.
 *
 * - A case is a batch: one sample makes `calls` calls one after another and
 *   is divided by `calls`, so the timer's resolution and the harness's own
 *   await are spread over many calls (and a case that runs its calls inside
 *   one `Effect.runPromise` pays that entry once per batch, as a program
 *   does). `calls` is calibrated per case during warm-up so that one batch
 *   takes about `batchMs`.
 * - Cases come in groups, the cases to be compared with one another. Every
 *   round runs one batch of every case of a group, starting from a different
 *   case each round (a rotation), so no case always runs first or after the
 *   same neighbour. Rounds repeat until the group's share of the time budget
 *   is spent; then the next group runs.
 * - Each sample is taken on two clocks, CPU time and wall time (see
 *   `Clock`). A case's figure is the median of its per-round samples; a
 *   ratio between two cases is the median of their per-round ratios, and
 *   beside it the ratio of their means. Both sides of a ratio are measured
 *   in the same round, milliseconds apart, so a change of the machine's load
 *   between rounds moves both sides together. (Timing each case for a
 *   second, one after another, as tinybench does, let ratios swing
 *   several-fold between runs on the shared 2-core machine.)
 * - Nothing collects garbage between samples: a case that allocates pays for
 *   the scavenges it triggers, as it would in an application.
 */
import { performance } from "node:perf_hooks"
import { collect } from "./gc.js"

/** One measured way of making a call. */
export interface Case {
  readonly id: string
  /** Makes `calls` calls one after another, resolving after the last. */
  readonly batch: (calls: number) => Promise<unknown>
  /** `calls` is always a multiple of this (default 1), e.g. the calls of one program. */
  readonly unit?: number
}

/**
 * Which time a sample counts: `"cpu"`, the process's CPU time (user +
 * system, all threads, so garbage collection done off the main thread
 * counts too), or `"wall"`, elapsed time. On a shared machine CPU time is
 * the steadier measure of cost, since time spent descheduled is not counted.
 */
export type Clock = "cpu" | "wall"

/** Figures of one case on one clock, in nanoseconds per call. */
export interface Stats {
  /** The median of the per-round samples. */
  readonly median: number
  readonly mean: number
  readonly p25: number
  readonly p75: number
  /** One sample per round, in round order. */
  readonly samples: ReadonlyArray<number>
}

/** A case's figures. */
export interface Measured {
  readonly id: string
  /** Calls per batch (calibrated). */
  readonly calls: number
  readonly cpu: Stats
  readonly wall: Stats
}

export interface MeasureOptions {
  /** Warm-up time of each case, in milliseconds (also calibrates `calls`). */
  readonly warmupMs: number
  /** The time all rounds may take together, in milliseconds. */
  readonly budgetMs: number
  /** The duration one batch aims for, in milliseconds. */
  readonly batchMs: number
  /** At least this many rounds are run, whatever the budget. */
  readonly minRounds: number
  readonly log: (line: string) => void
}

/** The q-quantile (0..1) of a non-empty list, by linear interpolation. */
export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const position = (sorted.length - 1) * q
  const low = Math.floor(position)
  const high = Math.ceil(position)
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low)
}

/** The median of a non-empty list. */
export const median = (values: ReadonlyArray<number>): number => quantile(values, 0.5)

const stats = (samples: ReadonlyArray<number>): Stats => ({
  median: median(samples),
  mean: samples.reduce((sum, x) => sum + x, 0) / samples.length,
  p25: quantile(samples, 0.25),
  p75: quantile(samples, 0.75),
  samples
})

interface Sample {
  readonly cpu: number
  readonly wall: number
}

const timeBatch = async (c: Case, calls: number): Promise<Sample> => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  await c.batch(calls)
  const wall = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { cpu: ((used.user + used.system) * 1e3) / calls, wall: (wall * 1e6) / calls }
}

/** The calls per batch, a multiple of the case's unit, that take about `batchMs` at `nsPerCall`. */
const batchCalls = (c: Case, nsPerCall: number, options: MeasureOptions): number => {
  const unit = c.unit ?? 1
  const wanted = Math.min(100_000, Math.max(10, (options.batchMs * 1e6) / nsPerCall))
  return Math.max(1, Math.round(wanted / unit)) * unit
}

/**
 * Runs a case for `warmupMs` (and at least 10 batches), and returns the
 * calls per batch that take about `batchMs`, from the median speed of the
 * second half of the warm-up.
 */
const warmUp = async (c: Case, options: MeasureOptions): Promise<number> => {
  let calls = batchCalls(c, 1e5, options)
  const speeds: Array<number> = []
  const deadline = performance.now() + options.warmupMs
  while (speeds.length < 10 || performance.now() < deadline) {
    speeds.push((await timeBatch(c, calls)).wall)
    calls = batchCalls(c, median(speeds.slice(speeds.length >> 1)), options)
  }
  return calls
}

/** Runs interleaved rounds of one group's cases until `budgetMs` is spent (and `minRounds` are done). */
const runGroup = async (
  group: ReadonlyArray<Case>,
  calls: ReadonlyMap<string, number>,
  budgetMs: number,
  minRounds: number
): Promise<Map<string, Array<Sample>>> => {
  const samples = new Map<string, Array<Sample>>(group.map((c) => [c.id, []]))
  const deadline = performance.now() + budgetMs
  for (let round = 0; round < minRounds || performance.now() < deadline; round++) {
    for (let k = 0; k < group.length; k++) {
      const c = group[(round + k) % group.length]!
      samples.get(c.id)!.push(await timeBatch(c, calls.get(c.id)!))
    }
  }
  return samples
}

/**
 * Measures groups of cases; see the module docs. The cases of a group are
 * interleaved round by round, so ratios are taken within a group; groups run
 * one after another, each for a share of the budget in proportion to its
 * number of cases.
 */
export const measure = async (
  groups: ReadonlyArray<ReadonlyArray<Case>>,
  options: MeasureOptions
): Promise<ReadonlyMap<string, Measured>> => {
  const cases = groups.flat()
  const ids = new Set(cases.map((c) => c.id))
  if (ids.size !== cases.length) throw new Error("benchmark case ids must be unique")
  options.log(`  warm-up: ${cases.length} cases, ${options.warmupMs} ms each`)
  const calls = new Map<string, number>()
  for (const c of cases) calls.set(c.id, await warmUp(c, options))
  const measured = new Map<string, Measured>()
  for (const group of groups) {
    collect()
    const samples = await runGroup(group, calls, (options.budgetMs * group.length) / cases.length, options.minRounds)
    const rounds = samples.get(group[0]!.id)!.length
    options.log(`  ${group.map((c) => c.id).join(", ")}: ${rounds} rounds`)
    for (const c of group) {
      const s = samples.get(c.id)!
      measured.set(c.id, { id: c.id, calls: calls.get(c.id)!, cpu: stats(s.map((x) => x.cpu)), wall: stats(s.map((x) => x.wall)) })
    }
  }
  return measured
}

/** A ratio between two cases of one group. */
export interface Ratio {
  /** The median of the per-round ratios. */
  readonly median: number
  /** Quartiles of the per-round ratios. */
  readonly p25: number
  readonly p75: number
  /** Mean over mean: total time per call, every slow round (a collection, a pause) included. */
  readonly ofMeans: number
}

/** `ours / theirs` on one clock, round by round: below 1 means `ours` is faster. */
export const ratio = (ours: Measured, theirs: Measured, clock: Clock): Ratio => {
  const theirSamples = theirs[clock].samples
  const ourSamples = ours[clock].samples
  if (ourSamples.length !== theirSamples.length) throw new Error(`${ours.id} and ${theirs.id} are not in one group`)
  const perRound = ourSamples.map((ns, i) => ns / theirSamples[i]!)
  return {
    median: median(perRound),
    p25: quantile(perRound, 0.25),
    p75: quantile(perRound, 0.75),
    ofMeans: ours[clock].mean / theirs[clock].mean
  }
}
