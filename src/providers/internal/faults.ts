/**
 * A simulated provider's fault schedule, compiled to plain numbers so that the
 * per-call lookup is a short scan with no allocation beyond its result.
 *
 * @internal
 */
import { Cause, Duration } from "effect"
import { isNegative } from "../../resilience/internal/duration.js"
import type { Fault, FaultInput, Latency, LatencyInput } from "../Simulated.js"
import { latencySlots, standardNormal, uniform, z99 } from "./simulatedDraw.js"

/** A latency as a log-normal: its median and sigma (0 for a fixed latency), in milliseconds. */
export interface LatencyModel {
  readonly median: number
  readonly sigma: number
}

/** One fault of the schedule, ready for lookup. */
export interface CompiledFault {
  /** The fault as given, with its durations decoded. */
  readonly fault: Fault
  readonly kind: "status" | "reset" | "slow" | "cut"
  /** Window start and end in milliseconds since the epoch (`to` is `Infinity` when open). */
  readonly from: number
  readonly to: number
  /** The share of calls the fault applies to (1: all of them). */
  readonly rate: number
  /** The draw slot of its rate. */
  readonly slot: number
  /** Status faults: the HTTP status and its Retry-After. */
  readonly status: number
  readonly retryAfter: Duration.Duration | undefined
  /** Failing faults: how long the failing call takes, if not the provider's `errorDelay`. */
  readonly after: number | undefined
  /** Slow faults: the latency instead of the provider's. */
  readonly latency: LatencyModel | undefined
  /** Cut faults: the text tokens sent before the cut. */
  readonly cutAfterTokens: number
}

/** The compiled schedule, split by what each fault does, each list in the user's order. */
export interface Schedule {
  readonly all: ReadonlyArray<CompiledFault>
  readonly failing: ReadonlyArray<CompiledFault>
  readonly cuts: ReadonlyArray<CompiledFault>
  readonly slows: ReadonlyArray<CompiledFault>
}

/** What the schedule does to one call. */
export interface Decision {
  /** The status or reset fault that fails the call fast, if any. */
  readonly failing: CompiledFault | undefined
  /** The cut fault that cuts the call's answer, if any. */
  readonly cut: CompiledFault | undefined
  /** The slow fault whose latency the call takes, if any. */
  readonly slow: CompiledFault | undefined
}

const noDecision: Decision = { failing: undefined, cut: undefined, slow: undefined }

// ---------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------

/** Throws for an invalid option; `make` runs compilation in `Effect.sync`, so it becomes a defect. */
export const invalid = (message: string): never => {
  throw new Cause.IllegalArgumentException(`Simulated: ${message}`)
}

/** The milliseconds of a duration option; throws `IllegalArgumentException` naming `what` if it is not one. */
export const millisOf = (input: Duration.DurationInput, what: string): number => {
  const decoded = Duration.decodeUnknown(input)
  if (decoded._tag === "None") return invalid(`${what}: not a duration: ${String(input)}`)
  // Duration reads a negative one as zero
  if (isNegative(input)) return invalid(`${what} must not be negative, got ${String(input)}`)
  return Duration.toMillis(decoded.value)
}

const isDistribution = (
  input: LatencyInput
): input is { readonly p50: Duration.DurationInput; readonly p99: Duration.DurationInput } =>
  typeof input === "object" && input !== null && "p50" in input

/** A latency option as a log-normal model; sigma = ln(p99 / p50) / z(0.99). */
export const compileLatency = (input: LatencyInput, what: string): LatencyModel => {
  if (!isDistribution(input)) return { median: millisOf(input, what), sigma: 0 }
  const p50 = millisOf(input.p50, `${what}.p50`)
  const p99 = millisOf(input.p99, `${what}.p99`)
  if (!Number.isFinite(p99)) invalid(`${what}.p99 must be finite`)
  if (p99 < p50) invalid(`${what}: p99 (${p99} ms) is below p50 (${p50} ms)`)
  return { median: p50, sigma: p50 === 0 ? 0 : Math.log(p99 / p50) / z99 }
}

/**
 * The latency, in milliseconds, that call number `call` draws from a model;
 * a drawn latency is rounded to whole milliseconds, so virtual times add up
 * exactly.
 */
export const sampleLatency = (model: LatencyModel, seed: number, call: number): number =>
  model.sigma === 0 ? model.median : Math.round(model.median * Math.exp(model.sigma * standardNormal(seed, call)))

const kindOf = (input: FaultInput, what: string): CompiledFault["kind"] => {
  const kinds: Array<CompiledFault["kind"]> = []
  if ("status" in input) kinds.push("status")
  if ("reset" in input) kinds.push("reset")
  if ("latency" in input) kinds.push("slow")
  if ("cutAfterTokens" in input) kinds.push("cut")
  if (kinds.length !== 1) {
    invalid(`${what} must have exactly one of status, reset, latency, cutAfterTokens (has ${kinds.length})`)
  }
  return kinds[0]!
}

const checkRate = (rate: number | undefined, what: string): number => {
  if (rate === undefined) return 1
  if (!(rate >= 0 && rate <= 1)) invalid(`${what}.errorRate must be between 0 and 1, got ${rate}`)
  return rate
}

const decodeOptional = (input: Duration.DurationInput | undefined): Duration.Duration | undefined =>
  input === undefined ? undefined : Duration.decode(input)

const decodeLatency = (input: LatencyInput): Latency =>
  isDistribution(input) ? { p50: Duration.decode(input.p50), p99: Duration.decode(input.p99) } : Duration.decode(input)

/** The window fields of a fault, decoded, present only when given. */
const windowOf = (input: FaultInput): { readonly from?: Duration.Duration; readonly to?: Duration.Duration } => ({
  ...(input.from !== undefined ? { from: Duration.decode(input.from) } : {}),
  ...(input.to !== undefined ? { to: Duration.decode(input.to) } : {})
})

const optionalMillis = (input: Duration.DurationInput | undefined, what: string): number | undefined =>
  input === undefined ? undefined : millisOf(input, what)

const compileOne = (input: FaultInput, index: number): CompiledFault => {
  const what = `faults[${index}]`
  const kind = kindOf(input, what)
  const from = input.from === undefined ? 0 : millisOf(input.from, `${what}.from`)
  const to = input.to === undefined ? Infinity : millisOf(input.to, `${what}.to`)
  if (!(to > from)) invalid(`${what}: to (${to} ms) must be after from (${from} ms)`)
  const window = windowOf(input)
  const base = {
    kind,
    from,
    to,
    rate: 1,
    slot: latencySlots + index,
    status: 0,
    retryAfter: undefined,
    after: undefined,
    latency: undefined,
    cutAfterTokens: 0
  }
  if ("status" in input) {
    if (!(Number.isInteger(input.status) && input.status >= 400 && input.status <= 599)) {
      invalid(`${what}.status must be an HTTP error status (400 to 599), got ${input.status}`)
    }
    const retryAfter = decodeOptional(input.retryAfter)
    const after = decodeOptional(input.after)
    return {
      ...base,
      fault: {
        ...window,
        status: input.status,
        ...(retryAfter !== undefined ? { retryAfter } : {}),
        ...(input.errorRate !== undefined ? { errorRate: input.errorRate } : {}),
        ...(after !== undefined ? { after } : {})
      },
      rate: checkRate(input.errorRate, what),
      status: input.status,
      retryAfter,
      after: optionalMillis(input.after, `${what}.after`)
    }
  }
  if ("reset" in input) {
    const after = decodeOptional(input.after)
    return {
      ...base,
      fault: {
        ...window,
        reset: true,
        ...(input.errorRate !== undefined ? { errorRate: input.errorRate } : {}),
        ...(after !== undefined ? { after } : {})
      },
      rate: checkRate(input.errorRate, what),
      after: optionalMillis(input.after, `${what}.after`)
    }
  }
  if ("latency" in input) {
    return {
      ...base,
      fault: { ...window, latency: decodeLatency(input.latency) },
      latency: compileLatency(input.latency, `${what}.latency`)
    }
  }
  if (!(Number.isInteger(input.cutAfterTokens) && input.cutAfterTokens >= 0)) {
    invalid(`${what}.cutAfterTokens must be a non-negative integer, got ${input.cutAfterTokens}`)
  }
  return {
    ...base,
    fault: {
      ...window,
      cutAfterTokens: input.cutAfterTokens,
      ...(input.errorRate !== undefined ? { errorRate: input.errorRate } : {})
    },
    rate: checkRate(input.errorRate, what),
    cutAfterTokens: input.cutAfterTokens
  }
}

/**
 * Compiles and validates a fault list.
 *
 * @throws IllegalArgumentException when a fault is invalid
 */
export const compile = (faults: ReadonlyArray<FaultInput>): Schedule => {
  const all = faults.map(compileOne)
  return {
    all,
    failing: all.filter((f) => f.kind === "status" || f.kind === "reset"),
    cuts: all.filter((f) => f.kind === "cut"),
    slows: all.filter((f) => f.kind === "slow")
  }
}

// ---------------------------------------------------------------------------
// Lookup
// ---------------------------------------------------------------------------

const isActive = (fault: CompiledFault, elapsed: number): boolean => fault.from <= elapsed && elapsed < fault.to

const applies = (fault: CompiledFault, seed: number, call: number): boolean =>
  fault.rate >= 1 || (fault.rate > 0 && uniform(seed, call, fault.slot) < fault.rate)

const firstApplying = (
  faults: ReadonlyArray<CompiledFault>,
  elapsed: number,
  seed: number,
  call: number
): CompiledFault | undefined => {
  for (const fault of faults) if (isActive(fault, elapsed) && applies(fault, seed, call)) return fault
  return undefined
}

/**
 * What the schedule does to call number `call` arriving `elapsed` ms after the
 * epoch: the first applying failing fault fails it; otherwise the first
 * applying cut fault cuts it and the first active slow fault slows it.
 */
export const decide = (schedule: Schedule, elapsed: number, seed: number, call: number): Decision => {
  if (schedule.all.length === 0) return noDecision
  const failing = firstApplying(schedule.failing, elapsed, seed, call)
  if (failing !== undefined) return { failing, cut: undefined, slow: undefined }
  return {
    failing: undefined,
    cut: firstApplying(schedule.cuts, elapsed, seed, call),
    slow: firstApplying(schedule.slows, elapsed, seed, call)
  }
}

const certain = (faults: ReadonlyArray<CompiledFault>, elapsed: number): boolean => {
  for (const fault of faults) if (fault.rate >= 1 && isActive(fault, elapsed)) return true
  return false
}

/** Whether a call arriving `elapsed` ms after the epoch can succeed (see `Simulated.Service.canServe`). */
export const canServe = (schedule: Schedule, elapsed: number): boolean =>
  !certain(schedule.failing, elapsed) && !certain(schedule.cuts, elapsed)

/** The faults whose windows hold `elapsed`, in the user's order. */
export const activeAt = (schedule: Schedule, elapsed: number): ReadonlyArray<Fault> => {
  const out: Array<Fault> = []
  for (const fault of schedule.all) if (isActive(fault, elapsed)) out.push(fault.fault)
  return out
}

/** The first active fault in precedence order: failing, then cut, then slow. */
export const dominantAt = (schedule: Schedule, elapsed: number): Fault | undefined => {
  for (const list of [schedule.failing, schedule.cuts, schedule.slows]) {
    for (const fault of list) if (isActive(fault, elapsed)) return fault.fault
  }
  return undefined
}
