/**
 * The oracle: what a router that knew the fault schedule could have done
 * for each request. It uses only the simulated providers' schedule view
 * (`canServe`, `faultsAt`), their configured latencies and prices, and
 * their models' limits (a window too small for the request, an answer cut
 * to `maxOutputTokens`), as the router applies them.
 *
 * @internal
 */
import { Duration } from "effect"
import type * as Config from "../../config/Config.js"
import { cost as priceOf } from "../../llm/ModelInfo.js"
import type * as Simulated from "../../providers/Simulated.js"
import { standardNormal, streams } from "./random.js"

/** The z-score of the 99th percentile of the standard normal distribution. */
const z99 = 2.326347874

/** A latency as a log-normal in milliseconds (sigma 0: fixed). */
interface LatencyModel {
  readonly median: number
  readonly sigma: number
}

const defaultLatency: LatencyModel = { median: 100, sigma: 0 }

const latencyModel = (latency: Simulated.Latency | undefined): LatencyModel => {
  if (latency === undefined) return defaultLatency
  if (Duration.isDuration(latency)) return { median: Duration.toMillis(latency), sigma: 0 }
  const median = Duration.toMillis(latency.p50)
  const p99 = Duration.toMillis(latency.p99)
  return { median, sigma: median > 0 && p99 > median ? Math.log(p99 / median) / z99 : 0 }
}

/** What the oracle knows of one target. @internal */
export interface OracleTarget {
  readonly name: string
  readonly sim: Simulated.Service
  readonly base: LatencyModel
  /** Milliseconds a stream spends after its first token. */
  readonly streamTail: number
  /** The cost of one answer. */
  readonly answerCost: number
  /** Whether its context window holds the prompt and the answer asked of it: else the router passes it over. */
  readonly fits: boolean
}

type SimulatedEntry = Extract<Config.ConfigFile["providers"][string], { readonly type: "simulated" }>

const providerOf = (file: Config.ConfigFile, name: string): SimulatedEntry | undefined => {
  const model = file.models[name]
  const entry = model === undefined ? undefined : file.providers[model.provider]
  return entry?.type === "simulated" ? (entry as SimulatedEntry) : undefined
}

interface LoadShape {
  readonly completionTokens: number
  readonly stream: boolean
}

/** The answer's length a target is asked for: the load's, at most its model's `maxOutputTokens` (as the router asks it). */
const askedOf = (sim: Simulated.Service, load: LoadShape): number =>
  Math.min(load.completionTokens, sim.info.maxOutputTokens ?? Infinity)

/** The answer's tokens, and the milliseconds a stream spends after its first one. */
const answerShape = (provider: SimulatedEntry | undefined, asked: number, load: LoadShape) => {
  const tokens = Math.min(provider?.outputTokens ?? asked, asked)
  const tokenDelay =
    provider?.tokenDelay !== undefined ? Duration.toMillis(provider.tokenDelay) : 1000 / (provider?.tokensPerSecond ?? 100)
  return { tokens, streamTail: load.stream ? Math.max(0, tokens - 1) * tokenDelay : 0 }
}

/** The oracle's view of a target from its config entry. @internal */
export const target = (
  file: Config.ConfigFile,
  name: string,
  sim: Simulated.Service,
  options: LoadShape & { readonly inputTokens: number }
): OracleTarget => {
  const provider = providerOf(file, name)
  const asked = askedOf(sim, options)
  const { streamTail, tokens } = answerShape(provider, asked, options)
  return {
    name,
    sim,
    base: latencyModel(provider?.latency),
    streamTail,
    answerCost: priceOf(sim.info.price, { inputTokens: options.inputTokens, outputTokens: tokens }),
    fits: options.inputTokens + asked <= sim.info.contextWindow
  }
}

/** A target's usual latency: its configured median (no fault), plus a stream's tail. @internal */
export const usualLatency = (file: Config.ConfigFile, name: string, sim: Simulated.Service, load: LoadShape): number => {
  const provider = providerOf(file, name)
  return latencyModel(provider?.latency).median + answerShape(provider, askedOf(sim, load), load).streamTail
}

/** The latency model of a target for a call starting at `at`: the first active slow fault's, else its own. */
const modelAt = (t: OracleTarget, at: number): LatencyModel => {
  for (const fault of t.sim.faultsAt(at)) if ("latency" in fault) return latencyModel(fault.latency)
  return t.base
}

/**
 * Whether target `t` is in an outage at `at` (epoch ms), as the wasted-calls
 * target counts one, under a request deadline of `deadline` ms: the faults
 * active then fail a call with a combined chance (1 - the product of
 * 1 - each failing fault's `errorRate`) of more than one half (it fails
 * more calls than it serves), or the slow fault that governs its latency
 * has a median (plus a stream's tail) past the deadline. A gray failure of
 * 30%, or of 50% (a coin's toss: half the calls served), is no outage; one
 * of 99% is.
 *
 * @internal
 */
export const outageAt = (t: OracleTarget, at: number, deadline: number): boolean => {
  if (failsMostly(t, at)) return true
  const slow = slowFault(t, at)
  return slow !== undefined && slow.median + t.streamTail > deadline
}

/** Whether the faults active at `at` fail a call with a combined chance of more than one half (see `outageAt`). */
const failsMostly = (t: OracleTarget, at: number): boolean => {
  let survives = 1
  for (const fault of t.sim.faultsAt(at)) if (!("latency" in fault)) survives *= 1 - (fault.errorRate ?? 1)
  return 1 - survives > 0.5
}

/** The first slow fault's latency model at `at`, if any. */
const slowFault = (t: OracleTarget, at: number): LatencyModel | undefined => {
  for (const fault of t.sim.faultsAt(at)) if ("latency" in fault) return latencyModel(fault.latency)
  return undefined
}

/** The oracle's answer for one request: whether it was servable, and how fast and cheaply. @internal */
export interface Verdict {
  readonly servable: boolean
  readonly latency: number
  readonly cost: number
}

const unservable: Verdict = { servable: false, latency: 0, cost: 0 }

/**
 * The oracle's verdict for request `index` arriving at `at` (epoch ms) on a
 * chain of `targets`, under a request deadline of `deadline` ms (the
 * policy's total timeout). A target can serve it when it is up
 * (`canServe`) and not in an outage (see `outageAt`: more than half its
 * calls failing, or a slow fault's median past the deadline; the calls made
 * there count as wasted, so no window is both), the request fits its
 * window, and its answer (this
 * request's draw from its latency distribution, the same standard normal
 * for every target, plus a stream's tail) arrives within the deadline. Its
 * latency is that answer's from the fastest of them (lowest median plus
 * tail).
 *
 * @internal
 */
export const verdict = (
  targets: ReadonlyArray<OracleTarget>,
  at: number,
  index: number,
  seed: number,
  deadline: number = Infinity
): Verdict => {
  let fastest: { readonly typical: number; readonly latency: number } | undefined = undefined
  let cheapest = Infinity
  let z: number | undefined = undefined
  for (const t of targets) {
    // in an outage as the wasted-calls target reads one (most calls failing, or a slow fault's median past the
    // deadline), a target serves none of its requests, whatever one request's draw: no window is both
    if (!t.fits || !t.sim.canServe(at) || outageAt(t, at, deadline)) continue
    const model = modelAt(t, at)
    if (model.sigma !== 0 && z === undefined) z = standardNormal(seed, streams.oracleLatency, index)
    const draw = model.sigma === 0 ? model.median : model.median * Math.exp(model.sigma * z!)
    const latency = Math.round(draw) + t.streamTail
    if (latency > deadline) continue
    const typical = model.median + t.streamTail
    if (fastest === undefined || typical < fastest.typical) fastest = { typical, latency }
    cheapest = Math.min(cheapest, t.answerCost)
  }
  if (fastest === undefined) return unservable
  return { servable: true, latency: fastest.latency, cost: cheapest }
}
