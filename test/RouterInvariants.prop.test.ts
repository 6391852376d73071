/**
 * Properties of the router and its resilience core, in virtual time: random
 * chains of 1 to 4 simulated targets, random fault schedules (hard down,
 * 429 with a Retry-After, slow past the attempt timeout, gray failures,
 * streams cut after N tokens), random policies (retries, budget, breaker,
 * bulkhead, hedging, racing, timeouts) and random arrivals, completions and
 * streams mixed. Every case must keep the invariants checked in `check`.
 *
 * Deterministic: the seed is fixed (and the simulated targets' error rates
 * and the router's own draws are seeded), so a failure names its case and
 * the same case reruns.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Chunk, Clock, Duration, Effect, Exit, FastCheck as fc, Fiber, Option, Queue, Random, Stream, TestClock } from "effect"
import { Chat } from "../src/llm/index.js"
import * as Simulated from "../src/providers/Simulated.js"
import type { RouterEvent } from "../src/router/Events.js"
import type * as Policy from "../src/router/Policy.js"
import * as Router from "../src/router/Router.js"
import type { CircuitBreaker } from "../src/resilience/index.js"

// ---------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------

type FaultKind =
  | { readonly _tag: "none" }
  | { readonly _tag: "down"; readonly status: 500 | 503 | 529 }
  | { readonly _tag: "limited"; readonly retryAfter: number }
  | { readonly _tag: "slow"; readonly latency: number }
  | { readonly _tag: "gray"; readonly rate: number }
  | { readonly _tag: "cut"; readonly after: number }

interface Window {
  readonly from: number
  readonly to: number | undefined
}

interface TargetCase {
  readonly latency: number
  readonly outputTokens: number
  readonly fault: FaultKind
  readonly window: Window
  readonly seed: number
  readonly rpm: number | undefined
}

interface Arrival {
  readonly at: number
  readonly stream: boolean
  /** The caller goes away this long after it asked (interrupting the request, or its stream), if it does. */
  readonly cancelAfter: number | undefined
  /** A stream's caller stops reading after this many chunks, if it does. */
  readonly readChunks: number | undefined
}

interface Case {
  readonly targets: ReadonlyArray<TargetCase>
  readonly retry: { readonly maxAttempts: number; readonly base: number; readonly jitter: "none" | "full"; readonly retryAfterCap: number }
  readonly total: number
  readonly attempt: number | undefined
  readonly breaker: {
    readonly consecutiveFailures: number
    readonly openBase: number
    readonly halfOpenProbes: number
    readonly probeBeforeTrip: boolean
    readonly probeWhenAllOpen: boolean
  }
  readonly budget: { readonly maxTokens: number; readonly tokenRatio: number } | undefined
  readonly bulkhead: { readonly maxConcurrent: number; readonly maxQueued: number } | false
  readonly mode: { readonly _tag: "sequential" } | { readonly _tag: "race"; readonly race: number } | {
    readonly _tag: "hedge"
    readonly delay: number
    readonly maxHedges: number
  }
  readonly continueStreams: boolean
  readonly arrivals: ReadonlyArray<Arrival>
}

const faultArb: fc.Arbitrary<FaultKind> = fc.oneof(
  fc.constant({ _tag: "none" as const }),
  fc.constantFrom(500 as const, 503 as const, 529 as const).map((status) => ({ _tag: "down" as const, status })),
  fc.integer({ min: 1, max: 30 }).map((s) => ({ _tag: "limited" as const, retryAfter: s * 1_000 })),
  fc.integer({ min: 1, max: 60 }).map((s) => ({ _tag: "slow" as const, latency: s * 1_000 })),
  fc.integer({ min: 1, max: 9 }).map((tenths) => ({ _tag: "gray" as const, rate: tenths / 10 })),
  fc.integer({ min: 0, max: 6 }).map((after) => ({ _tag: "cut" as const, after }))
)

const windowArb: fc.Arbitrary<Window> = fc.oneof(
  fc.constant({ from: 0, to: undefined }),
  fc.record({ from: fc.integer({ min: 0, max: 10 }), length: fc.integer({ min: 1, max: 20 }) })
    .map(({ from, length }) => ({ from: from * 1_000, to: (from + length) * 1_000 }))
)

const targetArb: fc.Arbitrary<TargetCase> = fc.record({
  latency: fc.integer({ min: 1, max: 20 }).map((n) => n * 50),
  outputTokens: fc.integer({ min: 1, max: 12 }),
  fault: faultArb,
  window: windowArb,
  seed: fc.integer({ min: 1, max: 1_000 }),
  rpm: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined, freq: 3 })
})

const caseArb: fc.Arbitrary<Case> = fc.record({
  targets: fc.array(targetArb, { minLength: 1, maxLength: 4 }),
  retry: fc.record({
    maxAttempts: fc.integer({ min: 1, max: 4 }),
    base: fc.integer({ min: 1, max: 10 }).map((n) => n * 50),
    jitter: fc.constantFrom("none" as const, "full" as const),
    retryAfterCap: fc.integer({ min: 1, max: 10 }).map((s) => s * 1_000)
  }),
  total: fc.integer({ min: 1, max: 30 }).map((s) => s * 1_000),
  attempt: fc.option(fc.integer({ min: 1, max: 20 }).map((n) => n * 500), { nil: undefined }),
  breaker: fc.record({
    consecutiveFailures: fc.integer({ min: 0, max: 5 }),
    openBase: fc.integer({ min: 1, max: 20 }).map((s) => s * 1_000),
    halfOpenProbes: fc.integer({ min: 1, max: 3 }),
    probeBeforeTrip: fc.boolean(),
    probeWhenAllOpen: fc.boolean()
  }),
  budget: fc.option(
    fc.record({ maxTokens: fc.integer({ min: 1, max: 10 }), tokenRatio: fc.constantFrom(0.1, 0.5, 1) }),
    { nil: undefined }
  ),
  bulkhead: fc.oneof(
    fc.constant(false as const),
    fc.record({ maxConcurrent: fc.integer({ min: 1, max: 4 }), maxQueued: fc.integer({ min: 0, max: 4 }) })
  ),
  mode: fc.oneof(
    { arbitrary: fc.constant({ _tag: "sequential" as const }), weight: 3 },
    { arbitrary: fc.integer({ min: 2, max: 4 }).map((race) => ({ _tag: "race" as const, race })), weight: 1 },
    {
      arbitrary: fc.record({
        _tag: fc.constant("hedge" as const),
        delay: fc.integer({ min: 1, max: 20 }).map((n) => n * 100),
        maxHedges: fc.integer({ min: 1, max: 3 })
      }),
      weight: 1
    }
  ),
  continueStreams: fc.boolean(),
  arrivals: fc.array(
    fc.record({
      // spread over 20 s, or a burst within one
      at: fc.oneof(fc.integer({ min: 0, max: 200 }).map((n) => n * 100), fc.integer({ min: 0, max: 20 }).map((n) => n * 50)),
      stream: fc.boolean(),
      cancelAfter: fc.option(fc.integer({ min: 0, max: 100 }).map((n) => n * 50), { nil: undefined, freq: 4 }),
      readChunks: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined, freq: 4 })
    }),
    { minLength: 1, maxLength: 10 }
  )
})

const names = ["a", "b", "c", "d"] as const

const faultsOf = (target: TargetCase): ReadonlyArray<Simulated.FaultInput> => {
  const window = { from: target.window.from, ...(target.window.to === undefined ? {} : { to: target.window.to }) }
  const { fault } = target
  switch (fault._tag) {
    case "none":
      return []
    case "down":
      return [{ ...window, status: fault.status }]
    case "limited":
      return [{ ...window, status: 429, retryAfter: fault.retryAfter }]
    case "slow":
      return [{ ...window, latency: fault.latency }]
    case "gray":
      return [{ ...window, status: 500, errorRate: fault.rate }]
    case "cut":
      return [{ ...window, cutAfterTokens: fault.after }]
  }
}

const policyOf = (c: Case): Policy.Policy => ({
  retry: {
    maxAttempts: c.retry.maxAttempts,
    base: Duration.millis(c.retry.base),
    cap: "2 seconds",
    jitter: c.retry.jitter,
    retryAfterCap: Duration.millis(c.retry.retryAfterCap)
  },
  timeouts: {
    total: Duration.millis(c.total),
    firstToken: Duration.millis(Math.max(500, c.total / 2)),
    idle: "5 seconds",
    ...(c.attempt === undefined ? {} : { attempt: Duration.millis(c.attempt) })
  },
  breaker: {
    consecutiveFailures: c.breaker.consecutiveFailures,
    openDuration: { base: Duration.millis(c.breaker.openBase) },
    halfOpenProbes: c.breaker.halfOpenProbes,
    probeBeforeTrip: c.breaker.probeBeforeTrip,
    probeWhenAllOpen: c.breaker.probeWhenAllOpen
  },
  bulkhead: c.bulkhead,
  ...(c.budget === undefined ? {} : { budget: c.budget })
})

const chainOf = (c: Case): Router.ChainConfig => ({
  targets: names.slice(0, c.targets.length),
  continueStreams: c.continueStreams,
  ...(c.mode._tag === "race" ? { race: Math.min(c.mode.race, c.targets.length) } : {}),
  ...(c.mode._tag === "hedge" ? { hedge: { delay: Duration.millis(c.mode.delay), maxHedges: c.mode.maxHedges } } : {})
})

/** A fixed seed, so every run checks the same cases; `INVARIANT_RUNS=n` explores n random cases instead. */
const runs = (numRuns: number) =>
  process.env["INVARIANT_RUNS"] === undefined ? { numRuns, seed: 20261207 } : { numRuns: Number(process.env["INVARIANT_RUNS"]) }

/** Time for one property's runs: more when exploring. */
const timeout = process.env["INVARIANT_RUNS"] === undefined ? 60_000 : 900_000

// ---------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------

interface Outcome {
  readonly index: number
  readonly stream: boolean
  readonly startedAt: number
  /** When `complete` returned, or `stream`'s head (first content, or its failure). */
  readonly headAt: number
  /** When the whole answer was in (a stream's last chunk, or its failure). */
  readonly endedAt: number
  readonly exit: Exit.Exit<unknown, { readonly _tag: string }>
  readonly target: string | undefined
  readonly streamError: { readonly _tag: string } | undefined
  /** The answer's final metadata, when one was served (a stream's once it ended). */
  readonly meta: Router.Meta | undefined
  /** Whether its caller went away (or stopped reading) before it ended. */
  readonly cancelled: boolean
}

/** Runs one request at its arrival (see `asked`), its caller going away when the arrival says. */
const request = (router: Router.Service, index: number, arrival: Arrival) =>
  Effect.gen(function* () {
    yield* Effect.sleep(Duration.millis(arrival.at))
    const startedAt = yield* Clock.currentTimeMillis
    const run = asked(router, index, arrival, startedAt)
    if (arrival.cancelAfter === undefined) return yield* run
    const ran = yield* Effect.timeoutOption(run, Duration.millis(arrival.cancelAfter))
    if (Option.isSome(ran)) return ran.value
    const at = yield* Clock.currentTimeMillis
    return {
      index,
      stream: arrival.stream,
      startedAt,
      headAt: at,
      endedAt: at,
      exit: Exit.void,
      target: undefined,
      streamError: undefined,
      meta: undefined,
      cancelled: true
    } satisfies Outcome
  })

/** Asks the request, recording when its head and its end came, and how it ended. */
const asked = (router: Router.Service, index: number, arrival: Arrival, startedAt: number) =>
  Effect.gen(function* () {
    const prompt = Chat.prompt(`question ${index}`)
    const options = { correlationId: `r${index}` }
    if (!arrival.stream) {
      const exit = yield* Effect.exit(router.complete(prompt, options))
      const at = yield* Clock.currentTimeMillis
      return {
        index,
        stream: false,
        startedAt,
        headAt: at,
        endedAt: at,
        exit,
        target: Exit.isSuccess(exit) ? exit.value.meta.target : undefined,
        streamError: undefined,
        meta: Exit.isSuccess(exit) ? exit.value.meta : undefined,
        cancelled: false
      } satisfies Outcome
    }
    return yield* Effect.scoped(Effect.gen(function* () {
      const exit = yield* Effect.exit(router.stream(prompt, options))
      const headAt = yield* Clock.currentTimeMillis
      if (Exit.isFailure(exit)) {
        return { index, stream: true, startedAt, headAt, endedAt: headAt, exit, target: undefined, streamError: undefined, meta: undefined, cancelled: false } satisfies Outcome
      }
      const chunks = arrival.readChunks === undefined ? exit.value.chunks : Stream.take(exit.value.chunks, arrival.readChunks)
      const body = yield* Effect.exit(Stream.runCollect(chunks))
      // stopped reading, maybe before the stream's end (a `Finish` read is not its end): the caller went away
      const stopped = arrival.readChunks !== undefined && Exit.isSuccess(body) && Chunk.size(body.value) === arrival.readChunks
      const endedAt = yield* Clock.currentTimeMillis
      const streamError = Exit.isFailure(body) ? Option.getOrUndefined(Cause.failureOption(body.cause)) : undefined
      assert.isTrue(Exit.isSuccess(body) || streamError !== undefined, `stream ${index} ended with ${Exit.isFailure(body) ? Cause.pretty(body.cause) : ""}`)
      if (stopped) {
        return { index, stream: true, startedAt, headAt, endedAt, exit, target: exit.value.meta.target, streamError, meta: undefined, cancelled: true } satisfies Outcome
      }
      const meta = yield* exit.value.done
      return { index, stream: true, startedAt, headAt, endedAt, exit, target: exit.value.meta.target, streamError, meta, cancelled: false } satisfies Outcome
    }))
  })

/** How long after the last arrival every request must have ended: its total, its slowest stream, and room. */
const horizon = (c: Case) => Math.max(...c.arrivals.map((a) => a.at)) + c.total + 5 * 60_000

const runCase = (c: Case) =>
  Effect.gen(function* () {
    const sims: Array<Simulated.Service> = []
    const targets: Record<string, Router.TargetConfig> = {}
    for (const [i, t] of c.targets.entries()) {
      const sim = yield* Simulated.make({
        provider: `p${i}`,
        model: `m${i}`,
        latency: Duration.millis(t.latency),
        tokenDelay: "10 millis",
        outputTokens: t.outputTokens,
        seed: t.seed,
        faults: faultsOf(t)
      })
      sims.push(sim)
      targets[names[i]!] = t.rpm === undefined ? { model: sim } : { model: sim, rpm: t.rpm }
    }
    const router = yield* Router.make({
      targets,
      chains: { default: chainOf(c) },
      policy: policyOf(c),
      cache: false
    })
    const events: Array<RouterEvent> = []
    yield* router.listen((event) => void events.push(event))
    const transitions: Array<Queue.Dequeue<CircuitBreaker.Transition>> = []
    for (const name of router.targets) transitions.push(yield* router.breaker(name)!.subscribe)
    const fibers = yield* Effect.forEach(c.arrivals, (arrival, i) => Effect.fork(request(router, i, arrival)))
    yield* TestClock.adjust(Duration.millis(horizon(c)))
    const outcomes: Array<Outcome> = []
    for (const fiber of fibers) {
      const polled = yield* Fiber.poll(fiber)
      assert.isTrue(Option.isSome(polled), "a request never ended")
      const exit = (polled as Option.Some<Exit.Exit<Outcome>>).value
      if (Exit.isFailure(exit)) assert.fail(`a request's fiber failed: ${Cause.pretty(exit.cause)}`)
      outcomes.push(exit.value)
    }
    const calls = yield* Effect.forEach(sims, (sim) => sim.calls)
    const stats = yield* Effect.forEach(sims, (sim) => sim.stats)
    const breakers = yield* Effect.forEach(router.targets, (name) => router.breaker(name)!.snapshot)
    // every bulkhead slot came back: as many requests at once as a target's bulkhead holds are all let in
    const afterwards: Array<RouterEvent> = []
    if (c.bulkhead !== false) {
      const size = c.bulkhead.maxConcurrent
      const from = events.length
      yield* Effect.forEach(
        router.targets,
        (name) => Effect.fork(Effect.exit(router.complete(Chat.prompt("afterwards"), { chain: name }))),
        { discard: true }
      ).pipe(Effect.repeatN(size - 1))
      yield* TestClock.adjust(Duration.millis(c.total + 60_000))
      afterwards.push(...events.splice(from))
    }
    const breakerLog = yield* Effect.forEach(transitions, (queue) => Effect.map(Queue.takeAll(queue), Chunk.toReadonlyArray))
    const allCalls = yield* Effect.forEach(sims, (sim) => sim.calls)
    return { events, outcomes, breakerLog, calls, stats, afterwards, allCalls, breakers }
  }).pipe(
    // the router's own draws (jitter, weights) seeded by the case too, so a case reruns as it ran
    Effect.withRandom(Random.make(c.targets.reduce((seed, t) => seed * 31 + t.seed, 17)))
  )

// ---------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------

/**
 * Virtual milliseconds a request may end after its deadline: none but a
 * float's rounding of fractional (jittered) delays summed, as in
 * 1000.000001 for a deadline of 1000.
 */
const tolerance = 0.001

const show = (c: Case) => JSON.stringify(c)

const check = (c: Case) =>
  Effect.gen(function* () {
    const { afterwards, allCalls, breakerLog, breakers, calls, events, outcomes, stats } = yield* runCase(c)
    const where = show(c)

    // 1. every request ends, with an answer or a typed error, its head no later than its total deadline
    for (const o of outcomes) {
      if (o.cancelled) continue
      if (Exit.isFailure(o.exit)) {
        const error = Option.getOrUndefined(Cause.failureOption(o.exit.cause))
        assert.isDefined(error, `request ${o.index} ended without a typed error: ${Cause.pretty(o.exit.cause)} in ${where}`)
        assert.strictEqual(error!._tag, "ChainExhausted", `request ${o.index}: ${where}`)
      }
      assert.isAtMost(o.headAt - o.startedAt, c.total + tolerance, `request ${o.index} took ${o.headAt - o.startedAt} ms in ${where}`)
      if (o.streamError !== undefined) assert.strictEqual(o.streamError._tag, "StreamInterrupted", where)
    }

    // 2. nothing left in flight upstream once every request has ended
    for (const [i, s] of stats.entries()) assert.strictEqual(s.inFlight, 0, `target ${names[i]} still has calls in flight: ${where}`)

    // 3. each attempt started ends once (a continued stream's attempts count from 1 again, on the same request:
    // an attempt's key may start again once it has ended), and each call upstream is one started attempt not refused
    const open = new Map<string, number>()
    let startedCount = 0
    let refused = 0
    for (const e of events) {
      if (e._tag === "AttemptSucceeded" && e.shadow) continue
      const key = "attempt" in e ? `${e.requestId}/${e.target}/${e.attempt}` : ""
      if (e._tag === "AttemptStarted") {
        assert.isUndefined(open.get(key), `attempt ${key} started twice: ${where}`)
        open.set(key, e.at)
        startedCount++
      }
      if (e._tag === "AttemptSucceeded" || e._tag === "AttemptFailed" || e._tag === "AttemptCancelled") {
        assert.isDefined(open.get(key), `attempt ${key} ended (${e._tag}) but was not in flight: ${where}`)
        open.delete(key)
        if (e._tag === "AttemptFailed" && e.error._tag === "Rejected") refused++
      }
    }
    assert.deepStrictEqual([...open.keys()], [], `attempts never ended: ${where}`)
    const upstream = calls.reduce((n, list) => n + list.length, 0)
    assert.isAtMost(upstream, startedCount - refused, `${upstream} calls for ${startedCount - refused} attempts not refused: ${where}`)

    // 4. no target called more often for one request than its retries allow
    for (const e of events) {
      if (e._tag === "AttemptStarted") assert.isAtMost(e.attempt, c.retry.maxAttempts, `attempt past maxAttempts: ${where}`)
    }

    // 5. one RequestFinished a request, agreeing with how it ended: its outcome, target and fallbacks, as many
    // Fallback events as the answer's meta counts, and the meta's attempts as the events told them
    const finished = events.filter((e) => e._tag === "RequestFinished")
    assert.strictEqual(finished.length, outcomes.length, `${finished.length} RequestFinished for ${outcomes.length} requests: ${where}`)
    for (const o of outcomes) {
      const id = `r${o.index}`
      const mine = finished.filter((e) => e.correlationId === id)
      assert.strictEqual(mine.length, 1, `request ${id} finished ${mine.length} times: ${where}`)
      const done = mine[0]!
      if (o.cancelled) {
        // a caller that went away after its answer was whole (or failed) finds it ended as it did
        assert.include(["cancelled", "success", "failure"], done.outcome, `request ${id}'s outcome: ${where}`)
        continue
      }
      const served = Exit.isSuccess(o.exit) && o.streamError === undefined
      assert.strictEqual(done.outcome, served ? "success" : "failure", `request ${id}'s outcome: ${where}`)
      if (!served || o.meta === undefined) continue
      const meta = o.meta
      assert.strictEqual(done.target, meta.target, `request ${id}'s target: ${where}`)
      assert.strictEqual(done.fallbacks, meta.fallbacks, `request ${id}'s fallbacks: ${where}`)
      const fallbackEvents = events.filter((e) => e._tag === "Fallback" && e.correlationId === id)
      assert.strictEqual(fallbackEvents.length, meta.fallbacks, `request ${id}: ${fallbackEvents.length} Fallback events, meta says ${meta.fallbacks}: ${where}`)
      const tally = (lines: ReadonlyArray<string>) => [...lines].sort().join(", ")
      const told = events.flatMap((e) =>
        (e._tag === "AttemptFailed" || e._tag === "AttemptSucceeded") && e.correlationId === id
          ? [`${e.target}:${e._tag === "AttemptFailed" ? e.error._tag : "ok"}`]
          : []
      )
      const kept = meta.attempts.map((a) => `${a.target}:${a.error?._tag ?? "ok"}`)
      assert.strictEqual(tally(kept), tally(told), `request ${id}'s meta attempts and events differ: ${where}`)
    }

    // 6. a stream that emitted content never switches target (without continueStreams)
    if (!c.continueStreams) {
      const servedAt = new Map<number, string>()
      for (const e of events) {
        if (e._tag === "AttemptSucceeded") servedAt.set(e.requestId, e.target)
        if (e._tag === "AttemptStarted" && servedAt.has(e.requestId)) {
          assert.fail(`request ${e.requestId} started ${e.target} after ${servedAt.get(e.requestId)} had answered: ${where}`)
        }
      }
    } else {
      // with continueStreams, a stream cut after its content resumes elsewhere: never on the target that cut it
      const cut = new Map<number, Set<string>>()
      for (const e of events) {
        if (e._tag === "StreamFailed") cut.set(e.requestId, (cut.get(e.requestId) ?? new Set()).add(e.target))
        if (e._tag === "AttemptStarted" && cut.get(e.requestId)?.has(e.target) === true) {
          assert.fail(`request ${e.requestId} resumed on ${e.target}, which cut it: ${where}`)
        }
      }
    }

    // 7. an open breaker lets no call through before its deadline, but the chain's early probes when every
    // breaker is open (`probeWhenAllOpen`): one at a time, a second apart at least, never to a breaker a
    // server's Retry-After holds open
    const early: Array<{ readonly target: string; readonly startedAt: number; readonly endedAt: number; readonly forced: boolean }> = []
    for (const [i, list] of calls.entries()) {
      const log = breakerLog[i]!
      for (const call of list) {
        let last: CircuitBreaker.Transition | undefined
        for (const t of log) if (t.at <= call.startedAt) last = t
        if (last?.to === "open" && last.at < call.startedAt && call.startedAt < last.openUntil!) {
          early.push({ target: names[i]!, startedAt: call.startedAt, endedAt: call.endedAt ?? Infinity, forced: last.reason === "forced" })
        }
      }
    }
    if (!c.breaker.probeWhenAllOpen) assert.deepStrictEqual(early, [], `calls to open breakers: ${where}`)
    early.sort((x, y) => x.startedAt - y.startedAt)
    for (const [k, probe] of early.entries()) {
      assert.isFalse(probe.forced, `${probe.target} probed at ${probe.startedAt}, held open by a Retry-After: ${where}`)
      const previous = early[k - 1]
      if (previous === undefined) continue
      assert.isAtLeast(probe.startedAt - previous.startedAt, 1_000, `early probes at ${previous.startedAt} and ${probe.startedAt}: ${where}`)
      assert.isAtMost(previous.endedAt, probe.startedAt, `early probes at once: ${where}`)
    }

    // 8. with every target down for good and a budget, retries stop once the budget is spent
    if (c.budget !== undefined && c.targets.every((t) => t.fault._tag === "down" && t.window.to === undefined && t.window.from === 0)) {
      for (const [i, list] of calls.entries()) {
        const name = names[i]!
        const retries = events.filter((e) => e._tag === "AttemptStarted" && e.target === name && e.attempt > 1).length
        const slack = Math.ceil(c.budget.maxTokens / 2) + c.arrivals.length
        assert.isAtMost(retries, slack, `${name}: ${retries} retries, ${list.length} calls: ${where}`)
      }
    }

    // 8b. no breaker holds a probe permit once every request ended
    for (const snapshot of breakers) {
      assert.strictEqual(snapshot.probesInFlight, 0, `${snapshot.name} holds ${snapshot.probesInFlight} probes: ${where}`)
    }

    // 9. every bulkhead slot came back once the requests ended (see `runCase`)
    for (const e of afterwards) {
      if (e._tag === "AttemptFailed" && e.error._tag === "Rejected") {
        assert.notStrictEqual(e.error.reason, "bulkhead-full", `${e.target}'s bulkhead kept a slot: ${where}`)
      }
    }

    // 10. no target called more often than its rpm in a minute (epoch-aligned 5 s buckets, as the limiter counts)
    for (const [i, t] of c.targets.entries()) {
      if (t.rpm === undefined) continue
      const starts = allCalls[i]!.map((call) => call.startedAt)
      for (const at of starts) {
        const from = Math.floor(at / 5_000) * 5_000 - 55_000
        const inWindow = starts.filter((s) => s >= from && s <= at).length
        assert.isAtMost(inWindow, t.rpm, `${names[i]} called ${inWindow} times in the minute to ${at}: ${where}`)
      }
      // and refused only when the minute was full of calls really made: no reservation kept for a call never made
      for (const e of [...events, ...afterwards]) {
        if (e._tag !== "AttemptFailed" || e.target !== names[i] || e.error._tag !== "Rejected" || e.error.reason !== "rate-limit") continue
        const from = Math.floor(e.at / 5_000) * 5_000 - 55_000
        const made = starts.filter((s) => s >= from && s <= e.at).length
        assert.isAtLeast(made, t.rpm, `${names[i]} refused on rate at ${e.at} after ${made} calls in its minute: ${where}`)
      }
    }
  })

describe("Router invariants (fixed seed)", () => {
  it.scoped.prop("every case keeps the router's invariants", [caseArb], ([c]) => check(c), {
    timeout,
    fastCheck: runs(30)
  })
})

// ---------------------------------------------------------------------------
// Focused properties
// ---------------------------------------------------------------------------

/** A router over `faults`, one simulated target each (`a`, `b`, ...), as the chain `default` in that order. */
const routerOver = (
  faults: ReadonlyArray<ReadonlyArray<Simulated.FaultInput>>,
  policy: Policy.Policy,
  chain: Omit<Router.ChainConfig, "targets"> = {}
) =>
  Effect.gen(function* () {
    const sims = yield* Effect.forEach(faults, (list, i) =>
      Simulated.make({ provider: `p${i}`, model: `m${i}`, latency: "100 millis", tokenDelay: "10 millis", outputTokens: 5, faults: list }))
    const targets = Object.fromEntries(sims.map((sim, i) => [names[i]!, { model: sim }]))
    const router = yield* Router.make({ targets, chains: { default: { ...chain, targets: names.slice(0, sims.length) } }, policy, cache: false })
    const events: Array<RouterEvent> = []
    yield* router.listen((event) => void events.push(event))
    return { router, sims, events }
  })

describe("Router invariants: focused (fixed seed)", () => {
  it.scoped.prop(
    "every target down with a retry budget: retries stop once it is spent, calls stay near one a request a target",
    [fc.record({
      targets: fc.integer({ min: 1, max: 3 }),
      status: fc.constantFrom(500, 503, 529),
      maxAttempts: fc.integer({ min: 2, max: 5 }),
      maxTokens: fc.integer({ min: 1, max: 10 }),
      hedge: fc.boolean(),
      requests: fc.integer({ min: 10, max: 30 }),
      spacing: fc.integer({ min: 0, max: 3 }).map((n) => n * 100),
      concurrent: fc.integer({ min: 1, max: 4 })
    })],
    ([c]) =>
      Effect.gen(function* () {
        const { events, router, sims } = yield* routerOver(
          Array.from({ length: c.targets }, () => [{ status: c.status }]),
          {
            retry: { maxAttempts: c.maxAttempts, base: "100 millis", cap: "1 second", jitter: "full" },
            // no breaker: the budget alone holds the retries back
            breaker: { consecutiveFailures: 0, slowCallRate: false },
            budget: { maxTokens: c.maxTokens, tokenRatio: 0.1 },
            timeouts: { total: "30 seconds" }
          },
          c.hedge ? { hedge: { delay: "50 millis", maxHedges: 2 } } : {}
        )
        // `concurrent` requests at once, every `spacing` ms
        const fibers = yield* Effect.forEach(Array.from({ length: c.requests }, (_, i) => i), (i) =>
          Effect.fork(Effect.zipRight(
            Effect.sleep(Duration.millis(Math.floor(i / c.concurrent) * c.spacing)),
            Effect.exit(router.complete(Chat.prompt(`q${i}`)))
          )))
        yield* TestClock.adjust("10 minutes")
        for (const fiber of fibers) assert.isTrue(Option.isSome(yield* Fiber.poll(fiber)))
        const where = JSON.stringify(c)
        // a failure takes a token, and the budget lets a retry (or hedge) through while over half is left:
        // at most half of it, plus those that checked it together before their failures were counted
        const slack = Math.floor(c.maxTokens / 2) + c.concurrent * c.maxAttempts
        for (const [i, sim] of sims.entries()) {
          const calls = (yield* sim.stats).calls
          const firsts = events.filter((e) => e._tag === "AttemptStarted" && e.target === names[i] && e.attempt === 1).length
          assert.isAtMost(calls, firsts + slack, `${names[i]}: ${calls} calls for ${firsts} first attempts: ${where}`)
          assert.isAtMost(firsts, c.requests, where)
          // after warm-up: once the budget refused a retry on a target, with no success to refill it, a request
          // that reaches the target later is never retried there (so its calls are one a request, under 1.2x)
          const spent = events.find((e) => e._tag === "BudgetExhausted" && e.target === names[i])?.at
          if (spent === undefined) continue
          const lateRequests = new Set(
            events.filter((e) => e._tag === "AttemptStarted" && e.target === names[i] && e.attempt === 1 && e.at > spent).map((e) => e.requestId)
          )
          const late = events.filter((e) => e._tag === "AttemptStarted" && e.target === names[i] && lateRequests.has(e.requestId))
          assert.isAtMost(late.length, lateRequests.size, `${names[i]}: ${late.length} calls for ${lateRequests.size} requests after warm-up: ${where}`)
        }
        const refusals = events.filter((e) => e._tag === "BudgetExhausted").length
        if (c.requests * (c.maxAttempts - 1) > slack * c.targets) assert.isAbove(refusals, 0, `the budget never refused: ${where}`)
      }),
    { timeout, fastCheck: runs(6) }
  )

  it.scoped.prop(
    "with a healthy target last and failures that come fast, every request is answered, a stream before its content too",
    [fc.record({
      faults: fc.array(
        fc.oneof(
          fc.constantFrom(500, 503, 529).map((status): Simulated.FaultInput => ({ status })),
          fc.integer({ min: 1, max: 30 }).map((s): Simulated.FaultInput => ({ status: 429, retryAfter: s * 1_000 })),
          fc.integer({ min: 1, max: 9 }).map((tenths): Simulated.FaultInput => ({ status: 500, errorRate: tenths / 10 })),
          fc.constant<Simulated.FaultInput>({ cutAfterTokens: 0 }),
          fc.constant<Simulated.FaultInput>({ reset: true })
        ),
        { minLength: 0, maxLength: 3 }
      ),
      maxAttempts: fc.integer({ min: 1, max: 3 }),
      consecutiveFailures: fc.integer({ min: 0, max: 4 }),
      probeWhenAllOpen: fc.boolean(),
      mode: fc.constantFrom("sequential", "race", "hedge"),
      arrivals: fc.array(fc.record({ at: fc.integer({ min: 0, max: 100 }).map((n) => n * 100), stream: fc.boolean() }), { minLength: 1, maxLength: 8 })
    })],
    ([c]) =>
      Effect.gen(function* () {
        const { router } = yield* routerOver(
          [...c.faults.map((fault) => [fault]), []],
          {
            retry: { maxAttempts: c.maxAttempts, base: "100 millis", cap: "1 second", jitter: "full", retryAfterCap: "2 seconds" },
            breaker: { consecutiveFailures: c.consecutiveFailures, probeWhenAllOpen: c.probeWhenAllOpen },
            timeouts: { total: "60 seconds" },
            bulkhead: false
          },
          {
            ...(c.mode === "race" ? { race: 2 } : {}),
            ...(c.mode === "hedge" ? { hedge: { delay: "200 millis" } } : {})
          }
        )
        const fibers = yield* Effect.forEach(c.arrivals, (arrival, i) =>
          Effect.fork(Effect.zipRight(
            Effect.sleep(Duration.millis(arrival.at)),
            arrival.stream
              ? Effect.scoped(Effect.flatMap(router.stream(Chat.prompt(`q${i}`)), (result) => Stream.runDrain(result.chunks)))
              : router.complete(Chat.prompt(`q${i}`))
          )))
        yield* TestClock.adjust("5 minutes")
        for (const [i, fiber] of fibers.entries()) {
          const exit = Option.getOrUndefined(yield* Fiber.poll(fiber))
          assert.isDefined(exit, `request ${i} never ended: ${JSON.stringify(c)}`)
          if (Exit.isFailure(exit!)) assert.fail(`request ${i}: ${Cause.pretty(exit.cause)} in ${JSON.stringify(c)}`)
        }
      }),
    { timeout, fastCheck: runs(12) }
  )
})
