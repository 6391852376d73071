/**
 * The oracle: what a router that knew the fault schedule could have done
 * for each request. It uses only the simulated providers' schedule view
 * (`canServe`, `faultsAt`) and their configured latencies and prices.
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

/** The answer's tokens, and the milliseconds a stream spends after its first one. */
const answerShape = (provider: SimulatedEntry | undefined, load: LoadShape) => {
  const tokens = Math.min(provider?.outputTokens ?? load.completionTokens, load.completionTokens)
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
  const { streamTail, tokens } = answerShape(provider, options)
  return {
    name,
    sim,
    base: latencyModel(provider?.latency),
    streamTail,
    answerCost: priceOf(sim.info.price, { inputTokens: options.inputTokens, outputTokens: tokens })
  }
}

/** A target's usual latency: its configured median (no fault), plus a stream's tail. @internal */
export const usualLatency = (file: Config.ConfigFile, name: string, load: LoadShape): number => {
  const provider = providerOf(file, name)
  return latencyModel(provider?.latency).median + answerShape(provider, load).streamTail
}

/** The latency model of a target for a call starting at `at`: the first active slow fault's, else its own. */
const modelAt = (t: OracleTarget, at: number): LatencyModel => {
  for (const fault of t.sim.faultsAt(at)) if ("latency" in fault) return latencyModel(fault.latency)
  return t.base
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
 * chain of `targets`. Its latency is one draw (the request's own, from the
 * seed) from the fastest servable target's distribution.
 *
 * @internal
 */
export const verdict = (targets: ReadonlyArray<OracleTarget>, at: number, index: number, seed: number): Verdict => {
  let fastest: { readonly model: LatencyModel; readonly tail: number } | undefined = undefined
  let cheapest = Infinity
  for (const t of targets) {
    if (!t.sim.canServe(at)) continue
    const model = modelAt(t, at)
    if (fastest === undefined || model.median + t.streamTail < fastest.model.median + fastest.tail) {
      fastest = { model, tail: t.streamTail }
    }
    cheapest = Math.min(cheapest, t.answerCost)
  }
  if (fastest === undefined) return unservable
  const { model, tail } = fastest
  const draw = model.sigma === 0 ? model.median : model.median * Math.exp(model.sigma * standardNormal(seed, streams.oracleLatency, index))
  return { servable: true, latency: Math.round(draw) + tail, cost: cheapest }
}
