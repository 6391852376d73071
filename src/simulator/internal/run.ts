/**
 * One run of a scenario under one policy, inside virtual time: builds the
 * real router from the config, sends the scenario's traffic, and gathers
 * what happened (every request's outcome, every upstream call, every breaker
 * transition). The figures are computed from this afterwards (`report.ts`).
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type { Scope } from "effect"
import { Cause, Chunk, Clock, Data, Deferred, Duration, Effect, Exit, FiberSet, Option, Queue, Random, Stream } from "effect"
import * as Config from "../../config/Config.js"
import type { ChatRequest } from "../../llm/Chat.js"
import type { Attempt } from "../../llm/FailoverError.js"
import * as Tokens from "../../llm/Tokens.js"
import { seedOf } from "../../providers/internal/simulatedDraw.js"
import type * as LanguageModel from "../../llm/LanguageModel.js"
import type { ProviderError } from "../../llm/ProviderError.js"
import type * as Simulated from "../../providers/Simulated.js"
import type * as CircuitBreaker from "../../resilience/CircuitBreaker.js"
import * as BreakerStore from "../../resilience/BreakerStore.js"
import * as Health from "../../resilience/Health.js"
import * as RetryBudget from "../../resilience/RetryBudget.js"
import * as Router from "../../router/Router.js"
import type * as Scenario from "../Scenario.js"
import * as Hub from "./hub.js"
import { maxRequests } from "./scenario.js"

/**
 * Upstream calls a run may make, on average, for each of its requests: a
 * policy that retries or hedges almost without end (`maxAttempts: 10000`
 * against a provider that always fails) would run for minutes and hold
 * gigabytes. A chain of five targets, each tried five times and hedged,
 * stays well within it. @internal
 */
export const callsPerRequest = 100

/** The fewest upstream calls a run may make, however few its requests. @internal */
export const minCalls = 1_000

/**
 * The upstream calls a run of `requests` requests may make: `callsPerRequest`
 * each, `minCalls` at least, and no more than four times the most requests
 * a run may send (as many calls take about as long to simulate). @internal
 */
export const maxCalls = (requests: number): number => Math.min(4 * maxRequests, Math.max(minCalls, callsPerRequest * requests))

/** A run stopped at its bound of upstream calls (`maxCalls`). @internal */
export class TooManyCalls extends Data.TaggedError("TooManyCalls")<{ readonly calls: number; readonly requests: number }> {
  override get message(): string {
    const n = (k: number) => k.toLocaleString("en-US")
    return `stopped after ${n(this.calls)} upstream calls for ${n(this.requests)} ${this.requests === 1 ? "request" : "requests"} ` +
      `(a run makes at most ${callsPerRequest} a request, ${n(minCalls)} at least): ` +
      "the policy retries or hedges almost without end (policy.retry.maxAttempts, hedge.maxHedges)"
  }
}

/**
 * The model with its calls counted against the run's bound: the call past
 * it completes `stop` (which ends the run) and never ends itself.
 */
const bounded = (
  model: LanguageModel.Service<ProviderError>,
  counter: { calls: number },
  limit: number,
  requests: number,
  stop: Deferred.Deferred<never, TooManyCalls>
): LanguageModel.Service<ProviderError> => {
  const admit = Effect.suspend(() => {
    if (++counter.calls <= limit) return Effect.void
    return Effect.zipRight(Deferred.fail(stop, new TooManyCalls({ calls: limit, requests })), Effect.never)
  })
  return {
    info: model.info,
    complete: (request) => Effect.zipRight(admit, model.complete(request)),
    stream: (request) => Stream.unwrap(Effect.as(admit, model.stream(request)))
  }
}

/** Every call a simulated provider makes is kept: wasted calls are counted from them. */
const keepEveryCall = 1_000_000_000

/** A request's outcome: served by a target, answered from degraded mode, or failed. @internal */
export type Outcome = "served" | "degraded" | "failed"

/** One request, as the load generator saw it. @internal */
export interface RequestRecord {
  /** The request's number, from 0, in arrival order. */
  readonly index: number
  /** Arrival, milliseconds since the start. */
  readonly at: number
  readonly outcome: Outcome
  /** Milliseconds from arrival to the answer (for a stream: to its end) or the failure. */
  readonly latency: number
  /** The target that answered (absent unless `served`). */
  readonly target?: string
  /** The distinct targets its attempts went to, a refusal (an open breaker's) included. */
  readonly tried: number
}

/** What the router's attempts say about one target. @internal */
export interface AttemptCounts {
  served: number
  /** Failed attempts by error class (`Overloaded`, `Timeout`, ...). */
  readonly failures: Record<string, number>
  /** Attempts the router refused without calling (`circuit-open`, `bulkhead-full`, ...). */
  readonly rejected: Record<string, number>
}

/** One target's simulated provider and everything recorded about it. @internal */
export interface TargetRecord {
  readonly name: string
  readonly sim: Simulated.Service
  readonly calls: ReadonlyArray<Simulated.Call>
  readonly attempts: AttemptCounts
  readonly transitions: ReadonlyArray<CircuitBreaker.Transition>
  /** When a breaker of this target went half-open, on every instance (a probe spell each). */
  readonly halfOpens: ReadonlyArray<number>
  /** Times a breaker of this target opened, on every instance; an opening mirrored from another instance is not one more. */
  readonly opens: number
  readonly budgetRefusals: number
}

/** Everything one run gathered. @internal */
export interface Raw {
  /** The virtual instant the run started (the simulated providers' epoch). */
  readonly start: number
  /** Milliseconds from the start to the last request's end. */
  readonly end: number
  /** The chain the requests used, and its targets. */
  readonly chain: string
  readonly requests: ReadonlyArray<RequestRecord>
  readonly targets: ReadonlyArray<TargetRecord>
  /** The input tokens of each request. */
  readonly inputTokens: number
  /** Routers that took the load, and how many of them learn of an outage separately (1 when they share state). */
  readonly instances: number
  readonly learners: number
}

/**
 * A simulated provider's seed in a run: its own `seed` (by default, as
 * `Simulated` takes it, a hash of its provider and model names) mixed with
 * the scenario's, so a sweep of the scenario's seed varies the providers'
 * failure and latency draws as well as the arrivals.
 *
 * @internal
 */
export const providerSeed = (scenarioSeed: number, own: number | undefined, provider: string, model: string): number =>
  seedOf(`scenario ${scenarioSeed}: ${own ?? seedOf(`${provider}/${model}`)}`)

/**
 * The file the router is built from: every call kept, answers of the load's
 * size, and every model on a simulated provider given an entry of its own
 * (under the same name) seeded from the scenario's seed (`providerSeed`).
 */
export const prepare = (file: Config.ConfigFile, load: Scenario.Load, seed: number): Config.ConfigFile => {
  const providers: Record<string, Config.ConfigFile["providers"][string]> = Object.fromEntries(
    Object.entries(file.providers).filter(([, provider]) => provider.type !== "simulated")
  )
  const models: Record<string, Config.ConfigFile["models"][string]> = {}
  for (const [alias, model] of Object.entries(file.models)) {
    const provider = file.providers[model.provider]
    if (provider?.type !== "simulated") {
      models[alias] = model
      continue
    }
    const name = provider.name ?? model.provider
    const key = `${model.provider}:${alias}`
    providers[key] = {
      ...provider,
      name,
      seed: providerSeed(seed, provider.seed, name, model.model ?? alias),
      history: keepEveryCall,
      ...(provider.outputTokens === undefined ? { outputTokens: load.completionTokens } : {})
    }
    models[alias] = { ...model, provider: key }
  }
  return { ...file, providers, models }
}

/** A scenario never touches the network: a call through this client is a bug. */
const noNetwork = HttpClient.make((request) =>
  Effect.fail(
    new HttpClientError.RequestError({ request, reason: "Transport", description: "a simulation has no network" })
  )
)

const filler = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "

/** Request `index`'s prompt: its own text (no cache hit across requests), about `promptTokens` tokens. */
export const requestFor = (index: number, load: Scenario.Load): ChatRequest => {
  const head = `request ${String(index).padStart(9, "0")}: `
  const length = Math.max(head.length, (load.promptTokens - 4) * 4)
  const body = filler.repeat(Math.ceil(length / filler.length))
  return { messages: [{ role: "user", content: (head + body).slice(0, length) }], maxTokens: load.completionTokens }
}

const isSimulated = (model: unknown): model is Simulated.Service =>
  typeof model === "object" && model !== null && "canServe" in model && "calls" in model && "epoch" in model

const emptyCounts = (): AttemptCounts => ({ served: 0, failures: {}, rejected: {} })

const count = (record: Record<string, number>, key: string) => {
  record[key] = (record[key] ?? 0) + 1
}

const tally = (counts: Map<string, AttemptCounts>, attempts: ReadonlyArray<Attempt>) => {
  for (const attempt of attempts) {
    const target = counts.get(attempt.target)
    if (target === undefined) continue
    const error = attempt.error
    if (error === undefined) target.served++
    else if (error._tag === "Rejected") count(target.rejected, error.reason)
    else count(target.failures, error._tag)
  }
}

interface Settled {
  readonly outcome: Outcome
  readonly target?: string
  readonly attempts: ReadonlyArray<Attempt>
}

const firstFailure = <E>(cause: Cause.Cause<E>): E | undefined => Option.getOrUndefined(Chunk.head(Cause.failures(cause)))

const settledFrom = (meta: Router.Meta): Settled =>
  meta.degraded === undefined
    ? { outcome: "served", target: meta.target, attempts: meta.attempts }
    : { outcome: "degraded", attempts: meta.attempts }

const failedFrom = (error: unknown): Settled => ({
  outcome: "failed",
  attempts:
    typeof error === "object" && error !== null && "attempts" in error ? (error.attempts as ReadonlyArray<Attempt>) : []
})

/** One completion through the router, settled into what the report needs. */
const completeOnce = (router: Router.Service, request: ChatRequest, options: Router.RequestOptions) =>
  Effect.map(Effect.exit(router.complete(request, options)), (exit) =>
    Exit.isSuccess(exit) ? settledFrom(exit.value.meta) : failedFrom(firstFailure(exit.cause))
  )

/** One stream through the router, read to its end. */
const streamOnce = (router: Router.Service, request: ChatRequest, options: Router.RequestOptions) =>
  Effect.scoped(
    Effect.flatMap(Effect.exit(router.stream(request, options)), (started) => {
      if (Exit.isFailure(started)) return Effect.succeed(failedFrom(firstFailure(started.cause)))
      const { chunks, done } = started.value
      return Effect.flatMap(Effect.exit(Stream.runDrain(chunks)), (drained) =>
        Effect.map(done, (meta): Settled =>
          Exit.isSuccess(drained) ? settledFrom(meta) : { outcome: "failed", attempts: meta.attempts }
        )
      )
    })
  )

/** The scenario's traffic, round robin over the routers; returns when every request has ended. */
const traffic = (
  routers: ReadonlyArray<Router.Service>,
  scenario: Scenario.Scenario,
  times: ReadonlyArray<number>,
  chain: string,
  counts: Map<string, AttemptCounts>
): Effect.Effect<ReadonlyArray<RequestRecord>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const options = { chain }
    const requests = new Array<RequestRecord>(times.length)
    const fibers = yield* FiberSet.make<void, never>()
    const start = yield* Clock.currentTimeMillis
    const once = scenario.load.stream ? streamOnce : completeOnce
    for (let index = 0; index < times.length; index++) {
      const at = times[index]!
      const wait = start + at - (yield* Clock.currentTimeMillis)
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
      const request = requestFor(index, scenario.load)
      yield* FiberSet.run(
        fibers,
        Effect.flatMap(once(routers[index % routers.length]!, request, options), (settled) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            tally(counts, settled.attempts)
            const latency = now - start - at
            const { outcome, target } = settled
            const tried = new Set(settled.attempts.map((attempt) => attempt.target)).size
            requests[index] = { index, at, outcome, latency, tried, ...(target === undefined ? {} : { target }) }
          })
        )
      )
    }
    yield* FiberSet.awaitEmpty(fibers)
    return requests
  })

/** Counts the retry budget's refusals per target, from the router's events. */
const countRefusals = (router: Router.Service, refusals: Map<string, number>) =>
  router.listen((event) => {
    if (event._tag === "BudgetExhausted") refusals.set(event.target, (refusals.get(event.target) ?? 0) + 1)
  })

/**
 * Runs the scenario's traffic against the router built from `file`. Must run
 * in virtual time (the caller provides the clock); the seed drives the
 * router's `Random`.
 *
 * @internal
 */
export const run = (
  scenario: Scenario.Scenario,
  file: Config.ConfigFile,
  times: ReadonlyArray<number>
): Effect.Effect<Raw, Router.RouterConfigError | Config.ConfigError | TooManyCalls> =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const built = yield* Config.toRouterConfig(prepare(file, scenario.load, scenario.seed))
    // every upstream call counted against the run's bound; past it, the run stops with TooManyCalls
    const stop = yield* Deferred.make<never, TooManyCalls>()
    const counter = { calls: 0 }
    const limit = maxCalls(times.length)
    const routerConfig = {
      ...built,
      targets: Object.fromEntries(
        Object.entries(built.targets).map(([name, target]) => [
          name,
          { ...target, model: bounded(target.model, counter, limit, times.length, stop) }
        ])
      )
    }
    const simulated = new Map(Object.entries(built.targets).flatMap(([name, target]) => (isSimulated(target.model) ? [[name, target.model] as const] : [])))
    // every instance is its own router over the same upstreams; shared ones see each other through the hub
    const { instances, propagation, shared } = scenario.load
    const hub = shared && instances > 1 ? yield* Hub.make(propagation) : undefined
    const routers = yield* Effect.forEach(Array.from({ length: instances }, (_, i) => i), (i) => {
      const make = Router.make(routerConfig)
      if (hub === undefined) return make
      const stores = hub.stores(i)
      return make.pipe(
        Effect.provideService(BreakerStore.CurrentBreakerStore, stores.breakers),
        Effect.provideService(RetryBudget.CurrentStore, stores.budgets),
        Effect.provideService(Health.CurrentStore, stores.health)
      )
    })
    const router = routers[0]!
    const chain = scenario.load.chain ?? router.chainFor(requestFor(0, scenario.load)) ?? "default"
    const sims = [...simulated]
    // the timeline shows the first instance's breakers; probe spells are counted on all
    const queues = yield* Effect.forEach(sims, ([name]) => router.breaker(name)!.subscribe)
    const others = yield* Effect.forEach(sims, ([name]) =>
      Effect.forEach(routers.slice(1), (r) => r.breaker(name)!.subscribe)
    )
    const refusals = new Map<string, number>()
    yield* Effect.forEach(routers, (r) => countRefusals(r, refusals), { discard: true })
    const counts = new Map(sims.map(([name]) => [name, emptyCounts()]))
    const requests = yield* Effect.raceFirst(traffic(routers, scenario, times, chain, counts), Deferred.await(stop))
    const end = (yield* Clock.currentTimeMillis) - start
    // a timer due now fires once every fiber has run: the events consumer has caught up
    yield* Effect.sleep(Duration.zero)
    const targets = yield* Effect.forEach(sims, ([name, sim], i) =>
      Effect.gen(function* () {
        const calls = yield* sim.calls
        const transitions = Chunk.toReadonlyArray(yield* Queue.takeAll(queues[i]!))
        const rest = yield* Effect.forEach(others[i]!, (queue) => Effect.map(Queue.takeAll(queue), Chunk.toReadonlyArray))
        const every = [transitions, ...rest]
        const halfOpens = every.flatMap((ts) => ts.filter((t) => t.to === "half-open").map((t) => t.at))
        const opens = every.reduce((n, ts) => n + ts.filter((t) => t.to === "open" && t.from !== "open" && t.reason !== "remote").length, 0)
        return {
          name,
          sim,
          calls,
          attempts: counts.get(name)!,
          transitions,
          halfOpens,
          opens,
          budgetRefusals: refusals.get(name) ?? 0
        } satisfies TargetRecord
      })
    )
    return {
      start,
      end,
      chain,
      requests,
      targets,
      inputTokens: Tokens.estimate(requestFor(0, scenario.load)),
      instances,
      learners: hub === undefined ? instances : 1
    } satisfies Raw
  }).pipe(
    Effect.scoped,
    Effect.withRandom(Random.make(scenario.seed)),
    Effect.provideService(HttpClient.HttpClient, noNetwork)
  )
