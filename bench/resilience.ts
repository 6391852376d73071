/**
 * The success-path cost of one call through retry + circuit breaker +
 * bulkhead + timeout, ours against cockatiel 3.x's `wrap` of the same
 * policies around the same async function, measured in one run and printed
 * as a ratio (ours / cockatiel: below 1 means ours is faster); then each
 * primitive alone, the floors both sides stand on, and heap per instance.
 *
 * Both sides get the same function, `async () => 42`, and the same settings:
 * 3 attempts in all (cockatiel counts retries, so `maxAttempts: 2` there)
 * with exponential backoff from 128 ms, factor 2, cap 30 s, decorrelated
 * jitter (cockatiel's default generator); a breaker that opens after 5
 * consecutive failures for 30 s; a bulkhead of 100 with a queue of 1000; a
 * 1 s timeout that fails the call at the deadline whatever the function does
 * (our `Timeout.timeoutFail`; cockatiel's `Aggressive` strategy, with
 * `Cooperative` shown beside it). Policies nest as the router nests them:
 * retry(breaker(bulkhead(timeout(call)))). As on cockatiel's side, each
 * policy is built once (`Retry.make`, `Timeout.timeoutFail(options)`) and
 * applied to every call.
 *
 * Ours is measured the two ways Effect code calls it:
 *
 * - (a) in a program: a loop of 100 calls inside one `Effect.runPromise`,
 *   reported per call. This is the headline: an Effect app (the router, the
 *   gateway's request fibers) makes its calls inside a running program.
 * - (b) across the Promise boundary: one `Effect.runPromise` per call, what a
 *   non-Effect caller pays.
 *
 * In both, the policies are applied to a fresh effect of the call on every
 * call (`retry(breaker.protect(bulkhead.run(timeout(...))))`), the analogue
 * of `policy.execute(fn)` and what the router does per request; the
 * composition is also measured prebuilt once and rerun, as a lower bound,
 * and as it was built before `Retry.make` and `Timeout` existed
 * (`Retry.retry` with options decoded per call around `Effect.timeoutFail`),
 * for comparison.
 * Calls are sequential: one in flight, so the bulkhead never queues.
 *
 * Our modules are loaded compiled (see `lib/compiled.ts`), as they ship.
 */
import {
  bulkhead as cockatielBulkhead,
  circuitBreaker as cockatielBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  type IPolicy,
  noop as cockatielNoop,
  retry as cockatielRetry,
  timeout as cockatielTimeout,
  TimeoutStrategy,
  wrap
} from "cockatiel"
import { Data, Duration, Effect } from "effect"
import type { Bulkhead, CircuitBreaker } from "../src/resilience/index.js"
import type { RetryOptions } from "../src/resilience/Retry.js"
import { importCompiled } from "./lib/compiled.js"
import * as format from "./lib/format.js"
import { retainedBytes } from "./lib/gc.js"
import type { Case, Clock, Measured, Ratio } from "./lib/measure.js"
import { measure, ratio } from "./lib/measure.js"
import type { Suite, SuiteContext, SuiteResult, Table } from "./lib/suite.js"

type Resilience = typeof import("../src/resilience/index.js")
type TimeoutModule = typeof import("../src/resilience/Timeout.js")

// ---- the call and the settings ---------------------------------------------

/** The function both sides protect. */
const call = async (): Promise<number> => 42

const settings = {
  attempts: 3,
  backoff: { initialMillis: 128, factor: 2, capMillis: 30_000 },
  breaker: { consecutiveFailures: 5, openMillis: 30_000 },
  bulkhead: { maxConcurrent: 100, maxQueued: 1_000 },
  timeoutMillis: 1_000
} as const

const measureOptions = { warmupMs: 200, budgetMs: 30_000, batchMs: 2, minRounds: 20 } as const

/** The clock of the tables; the headline is also given on the other. */
const clock: Clock = "cpu"

// ---- our side ---------------------------------------------------------------

class AttemptTimeout extends Data.TaggedError("AttemptTimeout") {}

/** Retry options as the router writes them (strings: `Retry.make` decodes them once). */
const retryOptions: RetryOptions<unknown> = {
  base: `${settings.backoff.initialMillis} millis`,
  factor: settings.backoff.factor,
  cap: `${settings.backoff.capMillis} millis`,
  jitter: "decorrelated",
  maxAttempts: settings.attempts
}

/** Decoded once, as the router's policy resolution does. */
const timeoutDuration = Duration.millis(settings.timeoutMillis)

const onTimeout = () => new AttemptTimeout()

type Policy = <A, E>(self: Effect.Effect<A, E>) => Effect.Effect<A, unknown>

/** A fresh effect of the call, as a caller builds one per request. */
const callEffect = () => Effect.tryPromise(call)

/** The timeout as it was before `Timeout` existed: Effect's own. */
const effectTimeout: Policy = (self) => Effect.timeoutFail(self, { duration: timeoutDuration, onTimeout })

const makeBreaker = (lib: Resilience) =>
  lib.CircuitBreaker.make({
    name: "bench",
    trip: lib.CircuitBreaker.consecutiveFailures(settings.breaker.consecutiveFailures),
    openDuration: { base: Duration.millis(settings.breaker.openMillis) }
  })

const makeBulkhead = (lib: Resilience) => lib.Bulkhead.make(settings.bulkhead)

interface Ours {
  /** The compositions' breakers and bulkheads, checked after the run. */
  readonly breakers: ReadonlyArray<CircuitBreaker.CircuitBreaker>
  readonly bulkheads: ReadonlyArray<Bulkhead.Bulkhead>
  readonly composed: Policy
  /** The composition as built before `Retry.make` and `Timeout`. */
  readonly composedBefore: Policy
  readonly composedNoTimeout: Policy
  readonly retry: Policy
  /** `Retry.retry` with the options written out, resolved at every call. */
  readonly retryPerCall: Policy
  readonly breakerOnly: Policy
  readonly bulkheadOnly: Policy
  readonly timeout: Policy
  readonly effectTimeout: Policy
}

/** Our policies; every case gets its own breaker and bulkhead, as on cockatiel's side. */
const ours = (lib: Resilience, T: TimeoutModule): Ours => {
  const [breaker, bulkhead, breaker2, bulkhead2, breaker3, bulkhead3, breaker4, bulkhead4] = Effect.runSync(
    Effect.all([
      makeBreaker(lib),
      makeBulkhead(lib),
      makeBreaker(lib),
      makeBulkhead(lib),
      makeBreaker(lib),
      makeBulkhead(lib),
      makeBreaker(lib),
      makeBulkhead(lib)
    ])
  )
  const retry = lib.Retry.make(retryOptions)
  const timeout: Policy = T.timeoutFail({ duration: timeoutDuration, onTimeout })
  return {
    breakers: [breaker, breaker2, breaker3, breaker4],
    bulkheads: [bulkhead, bulkhead2, bulkhead3, bulkhead4],
    composed: (self) => retry(breaker.protect(bulkhead.run(timeout(self)))),
    composedBefore: (self) => lib.Retry.retry(breaker4.protect(bulkhead4.run(effectTimeout(self))), retryOptions),
    composedNoTimeout: (self) => retry(breaker2.protect(bulkhead2.run(self))),
    retry,
    retryPerCall: (self) => lib.Retry.retry(self, retryOptions),
    breakerOnly: (self) => breaker3.protect(self),
    bulkheadOnly: (self) => bulkhead3.run(self),
    timeout,
    effectTimeout
  }
}

/** Calls per program in (a): a program's per-call cost depends on how long it runs, so it is fixed. */
const callsPerProgram = 100

/**
 * (a): programs of `callsPerProgram` calls in a loop, each program one
 * `Effect.runPromise`; `next` gives each call's effect.
 */
const inProgram = (id: string, next: () => Effect.Effect<unknown, unknown>): Case => {
  const program = Effect.suspend(() => {
    let i = 0
    return Effect.whileLoop({
      while: () => i < callsPerProgram,
      body: next,
      step: () => {
        i++
      }
    })
  })
  return {
    id,
    unit: callsPerProgram,
    batch: async (calls) => {
      for (let done = 0; done < calls; done += callsPerProgram) await Effect.runPromise(program)
    }
  }
}

/** (b): each call its own `Effect.runPromise`. */
const perPromise = (id: string, next: () => Effect.Effect<unknown, unknown>): Case => ({
  id,
  batch: async (calls) => {
    for (let i = 0; i < calls; i++) await Effect.runPromise(next())
  }
})

// ---- cockatiel's side -------------------------------------------------------

const theirRetry = () =>
  cockatielRetry(handleAll, {
    maxAttempts: settings.attempts - 1,
    backoff: new ExponentialBackoff({
      initialDelay: settings.backoff.initialMillis,
      exponent: settings.backoff.factor,
      maxDelay: settings.backoff.capMillis
    })
  })

const theirBreaker = () =>
  cockatielBreaker(handleAll, {
    halfOpenAfter: settings.breaker.openMillis,
    breaker: new ConsecutiveBreaker(settings.breaker.consecutiveFailures)
  })

const theirBulkhead = () => cockatielBulkhead(settings.bulkhead.maxConcurrent, settings.bulkhead.maxQueued)

const theirTimeout = (strategy: TimeoutStrategy) => cockatielTimeout(settings.timeoutMillis, strategy)

const theirs = () => {
  const breaker = theirBreaker()
  return {
    breaker,
    composed: wrap(theirRetry(), breaker, theirBulkhead(), theirTimeout(TimeoutStrategy.Aggressive)),
    composedNoTimeout: wrap(theirRetry(), theirBreaker(), theirBulkhead()),
    retry: theirRetry(),
    breakerOnly: theirBreaker(),
    bulkheadOnly: theirBulkhead(),
    timeout: theirTimeout(TimeoutStrategy.Aggressive),
    timeoutCooperative: theirTimeout(TimeoutStrategy.Cooperative),
    noop: cockatielNoop
  }
}

type Theirs = ReturnType<typeof theirs>

const via = (id: string, policy: IPolicy): Case => ({
  id,
  batch: async (calls) => {
    for (let i = 0; i < calls; i++) await policy.execute(call)
  }
})

// ---- cases ------------------------------------------------------------------

/** The primitives measured alone, by their names on both sides. */
const primitives = ["retry", "breakerOnly", "bulkheadOnly", "timeout"] as const

/** The cases, in groups whose members are compared with one another (see `lib/measure.ts`). */
const groups = (o: Ours, t: Theirs): ReadonlyArray<ReadonlyArray<Case>> => {
  const prebuilt = o.composed(callEffect())
  return [
    [
      inProgram("composed/ours-a", () => o.composed(callEffect())),
      inProgram("composed/ours-a-prebuilt", () => prebuilt),
      perPromise("composed/ours-b", () => o.composed(callEffect())),
      perPromise("composed/ours-b-prebuilt", () => prebuilt),
      inProgram("composed/ours-a-before", () => o.composedBefore(callEffect())),
      via("composed/cockatiel", t.composed)
    ],
    [
      inProgram("composedNoTimeout/ours-a", () => o.composedNoTimeout(callEffect())),
      perPromise("composedNoTimeout/ours-b", () => o.composedNoTimeout(callEffect())),
      via("composedNoTimeout/cockatiel", t.composedNoTimeout)
    ],
    ...primitives.map((name) => [
      inProgram(`${name}/ours-a`, () => o[name](callEffect())),
      perPromise(`${name}/ours-b`, () => o[name](callEffect())),
      via(`${name}/cockatiel`, t[name]),
      ...(name === "retry" ? [inProgram("retry/ours-a-per-call", () => o.retryPerCall(callEffect()))] : []),
      ...(name === "timeout"
        ? [
          via("timeout/cockatiel-cooperative", t.timeoutCooperative),
          inProgram("timeout/effect-a", () => o.effectTimeout(callEffect()))
        ]
        : [])
    ]),
    [
      {
        id: "floor/await",
        batch: async (calls: number) => {
          for (let i = 0; i < calls; i++) await call()
        }
      },
      via("floor/cockatiel-noop", t.noop),
      inProgram("floor/effect-a", callEffect),
      perPromise("floor/effect-b", callEffect)
    ]
  ]
}

// ---- checks -----------------------------------------------------------------

/** Both compositions really return the call's value. */
const checkBefore = async (o: Ours, t: Theirs): Promise<void> => {
  const ourValue = await Effect.runPromise(o.composed(callEffect()))
  const theirValue = await t.composed.execute(call)
  if (ourValue !== 42 || theirValue !== 42) {
    throw new Error(`the call returned ${String(ourValue)} (ours) / ${String(theirValue)} (cockatiel)`)
  }
}

/** Every call stayed on the success path: breakers closed, bulkheads empty. */
const checkAfter = async (o: Ours, t: Theirs): Promise<void> => {
  for (const breaker of o.breakers) {
    const snapshot = await Effect.runPromise(breaker.snapshot)
    if (snapshot.state !== "closed" || snapshot.consecutiveFailures !== 0) {
      throw new Error(`our breaker left the success path: ${JSON.stringify(snapshot)}`)
    }
  }
  for (const bulkhead of o.bulkheads) {
    const stats = await Effect.runPromise(bulkhead.stats)
    if (stats.active !== 0 || stats.queued !== 0) {
      throw new Error(`our bulkhead left the success path: ${JSON.stringify(stats)}`)
    }
  }
  if (t.breaker.state !== 0 /* CircuitState.Closed */) throw new Error("cockatiel's breaker left the closed state")
}

// ---- memory -----------------------------------------------------------------

interface Memory {
  readonly breaker: { readonly ours: number; readonly cockatiel: number }
  readonly bulkhead: { readonly ours: number; readonly cockatiel: number }
}

const instances = 2_000

const memory = async (lib: Resilience): Promise<Memory> => ({
  breaker: {
    ours: await retainedBytes(instances, () => Effect.runSync(makeBreaker(lib))),
    cockatiel: await retainedBytes(instances, theirBreaker)
  },
  bulkhead: {
    ours: await retainedBytes(instances, () => Effect.runSync(makeBulkhead(lib))),
    cockatiel: await retainedBytes(instances, theirBulkhead)
  }
})

// ---- tables -----------------------------------------------------------------

/** The target is a ratio of 1.00 or lower, on the median of paired rounds and on the means. */
const verdict = (r: Ratio): string =>
  r.median <= 1 && r.ofMeans <= 1 ? "met" : r.median > 1 && r.ofMeans > 1 ? "MISSED" : "borderline (met on one measure only)"

const describeHeadline = (r: Ratio): string =>
  `${r.median.toFixed(2)}x median of paired rounds (IQR ${r.p25.toFixed(2)}-${r.p75.toFixed(2)}), ` +
  `${r.ofMeans.toFixed(2)}x ratio of means; target <= 1.00: ${verdict(r)}`

const note = "Per call: process CPU time, the median over rounds (each round times one batch of every case of a group, interleaved). " +
  "Ratio: the median of the per-round ratios, interquartile range in brackets; below 1 means ours is faster. " +
  "Ratio of means: mean over mean, every slow round (a collection, a pause) included. Wall clock: the median ratio on elapsed time."

const tables = (m: ReadonlyMap<string, Measured>, mem: Memory): { readonly tables: ReadonlyArray<Table>; readonly headline: Ratio } => {
  const get = (id: string) => m.get(id)!
  const ns = (id: string) => format.duration(get(id)[clock].median)
  const vs = (id: string, theirId: string, on: Clock = clock) => format.ratio(ratio(get(id), get(theirId), on))
  const headline = ratio(get("composed/ours-a"), get("composed/cockatiel"), clock)
  const ofMeans = (id: string, theirId: string) => format.times(ratio(get(id), get(theirId), clock).ofMeans)
  const composedRow = (label: string, id: string) => [
    label,
    ns(id),
    ns("composed/cockatiel"),
    vs(id, "composed/cockatiel"),
    ofMeans(id, "composed/cockatiel"),
    vs(id, "composed/cockatiel", "wall")
  ]
  const composed: Table = {
    title: "retry + breaker + bulkhead + timeout, success path, per call",
    columns: ["ours, called", "ours", "cockatiel wrap", "ours / cockatiel", "ratio of means", "wall clock"],
    rows: [
      composedRow("(a) in a program, policies applied per call [headline]", "composed/ours-a"),
      composedRow("(a) in a program, composition prebuilt once", "composed/ours-a-prebuilt"),
      composedRow("(b) Effect.runPromise per call, applied per call", "composed/ours-b"),
      composedRow("(b) Effect.runPromise per call, prebuilt once", "composed/ours-b-prebuilt"),
      composedRow("(a) as built before: Retry.retry per call, Effect.timeoutFail", "composed/ours-a-before")
    ],
    note: `${note} Headline: ${describeHeadline(headline)}.`
  }
  const noTimeoutRow = (label: string, id: string) => [
    label,
    ns(id),
    ns("composedNoTimeout/cockatiel"),
    vs(id, "composedNoTimeout/cockatiel"),
    ofMeans(id, "composedNoTimeout/cockatiel")
  ]
  const noTimeout: Table = {
    title: "the same without the timeout: retry + breaker + bulkhead",
    columns: ["ours, called", "ours", "cockatiel wrap", "ours / cockatiel", "ratio of means"],
    rows: [
      noTimeoutRow("(a) in a program", "composedNoTimeout/ours-a"),
      noTimeoutRow("(b) Effect.runPromise per call", "composedNoTimeout/ours-b")
    ]
  }
  const primitiveRow = (label: string, name: string, theirId: string) => [
    label,
    ns(`${name}/ours-a`),
    ns(`${name}/ours-b`),
    ns(theirId),
    vs(`${name}/ours-a`, theirId),
    vs(`${name}/ours-b`, theirId)
  ]
  const alone: Table = {
    title: "each primitive alone, success path, per call",
    columns: ["primitive", "ours (a)", "ours (b)", "cockatiel", "(a) / cockatiel", "(b) / cockatiel"],
    rows: [
      primitiveRow("retry (3 attempts, exponential)", "retry", "retry/cockatiel"),
      primitiveRow("breaker (5 consecutive failures)", "breakerOnly", "breakerOnly/cockatiel"),
      primitiveRow("bulkhead (100, queue 1000)", "bulkheadOnly", "bulkheadOnly/cockatiel"),
      primitiveRow("timeout 1 s, vs Aggressive", "timeout", "timeout/cockatiel"),
      primitiveRow("timeout 1 s, vs Cooperative", "timeout", "timeout/cockatiel-cooperative")
    ],
    note: "(a): in a program; (b): one Effect.runPromise per call. Every figure includes the call itself: see the floors."
  }
  const before: Table = {
    title: "the primitives replaced, against their replacements, (a) in a program",
    columns: ["before", "per call", "now", "per call", "before / now"],
    rows: [
      [
        "Retry.retry(call, options): options resolved per call",
        ns("retry/ours-a-per-call"),
        "Retry.make(options), applied per call",
        ns("retry/ours-a"),
        vs("retry/ours-a-per-call", "retry/ours-a")
      ],
      [
        "Effect.timeoutFail",
        ns("timeout/effect-a"),
        "Timeout.timeoutFail",
        ns("timeout/ours-a"),
        vs("timeout/effect-a", "timeout/ours-a")
      ]
    ],
    note: "Each pair measured in the same rounds; above 1 means the replacement is cheaper."
  }
  const floors: Table = {
    title: "floors: the call with no policy",
    columns: ["how", "per call"],
    rows: [
      ["await call()", ns("floor/await")],
      ["cockatiel noop.execute(call)", ns("floor/cockatiel-noop")],
      ["(a) Effect.tryPromise(call) in a program", ns("floor/effect-a")],
      ["(b) Effect.runPromise(Effect.tryPromise(call))", ns("floor/effect-b")]
    ]
  }
  const above = (id: string, floor: string) => format.duration(get(id)[clock].median - get(floor)[clock].median)
  const added: Table = {
    title: "what the policies add above each side's floor",
    columns: ["side", "4 policies", "without timeout", "retry", "breaker", "bulkhead", "timeout"],
    rows: [
      ["ours (a)", ...["composed", "composedNoTimeout", ...primitives].map((n) => above(`${n}/ours-a`, "floor/effect-a"))],
      ["ours (b)", ...["composed", "composedNoTimeout", ...primitives].map((n) => above(`${n}/ours-b`, "floor/effect-b"))],
      ["cockatiel", ...["composed", "composedNoTimeout", ...primitives].map((n) => above(`${n}/cockatiel`, "floor/await"))]
    ],
    note: "Median of the case minus median of its side's floor: ours against the Effect floor of the same mode, " +
      "cockatiel against a bare await. Groups run at different times, so these differences are rougher than the ratios."
  }
  const memoryTable: Table = {
    title: "heap retained per instance",
    columns: ["instance", "ours", "cockatiel"],
    rows: [
      ["circuit breaker (consecutive failures)", format.bytes(mem.breaker.ours), format.bytes(mem.breaker.cockatiel)],
      ["bulkhead (100, queue 1000)", format.bytes(mem.bulkhead.ours), format.bytes(mem.bulkhead.cockatiel)]
    ],
    note: `Heap growth after making and keeping ${instances} instances, divided by ${instances}.`
  }
  return { tables: [composed, noTimeout, alone, before, floors, added, memoryTable], headline }
}

// ---- the suite --------------------------------------------------------------

const rounded = (m: Measured) => ({
  ...m,
  cpu: { ...m.cpu, samples: m.cpu.samples.map(Math.round) },
  wall: { ...m.wall, samples: m.wall.samples.map(Math.round) }
})

const run = async (context: SuiteContext): Promise<SuiteResult> => {
  context.log("  compiling src/ for the benchmark")
  const lib = await importCompiled<Resilience>("src/resilience/index.ts")
  const timeoutModule = await importCompiled<TimeoutModule>("src/resilience/Timeout.ts")
  const o = ours(lib, timeoutModule)
  const t = theirs()
  await checkBefore(o, t)
  const measured = await measure(groups(o, t), { ...measureOptions, log: context.log })
  await checkAfter(o, t)
  context.log("  heap per instance")
  const mem = await memory(lib)
  const { headline, tables: ts } = tables(measured, mem)
  return {
    tables: ts,
    summary: [`Headline, (a) ours / cockatiel: ${describeHeadline(headline)}.`],
    data: {
      settings,
      measure: measureOptions,
      headline: {
        case: "composed/ours-a vs composed/cockatiel",
        clock,
        ...headline,
        wallRatio: ratio(measured.get("composed/ours-a")!, measured.get("composed/cockatiel")!, "wall").median,
        target: 1,
        verdict: verdict(headline)
      },
      clock,
      cases: Object.fromEntries([...measured.values()].map((m) => [m.id, rounded(m)])),
      memoryBytesPerInstance: mem
    }
  }
}

/** The resilience suite. */
export const suite: Suite = {
  name: "resilience",
  description: "retry + breaker + bulkhead + timeout vs cockatiel 3 wrap, per call on the success path",
  packages: ["cockatiel"],
  run
}
