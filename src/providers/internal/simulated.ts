/**
 * The simulated provider's engine: per-call plans, virtual-time pacing and
 * records. See `../Simulated.ts` for the semantics.
 *
 * @internal
 */
import { Cause, Clock, Effect, Exit, Option, Stream } from "effect"
import type { ChatChunk, ChatRequest, ChatResponse, FinishReason, Usage } from "../../llm/Chat.js"
import type { ModelInfo } from "../../llm/ModelInfo.js"
import type { ProviderError } from "../../llm/ProviderError.js"
import { ContextLengthExceeded, fromStatus, InvalidRequest, TransportError } from "../../llm/ProviderError.js"
import * as Tokens from "../../llm/Tokens.js"
import { formatRefusal } from "./formats.js"
import type { Call, Fault, Options, Outcome, Service, Stats } from "../Simulated.js"
import * as Faults from "./faults.js"
import { normalizeSeed, seedOf } from "./simulatedDraw.js"
import * as Reply from "./simulatedReply.js"

const defaults = {
  latency: "100 millis",
  tokensPerSecond: 100,
  errorDelay: "50 millis",
  contextWindow: 128_000,
  history: 1_000,
  responseFormats: ["json_object", "json_schema"]
} as const

// ---------------------------------------------------------------------------
// Settings: the options, validated and compiled once
// ---------------------------------------------------------------------------

interface Settings {
  readonly info: ModelInfo
  readonly latency: Faults.LatencyModel
  /** Milliseconds between stream tokens. */
  readonly tokenDelay: number
  /** Milliseconds a call failed fast takes. */
  readonly errorDelay: number
  readonly reply: (request: ChatRequest) => ReadonlyArray<string>
  readonly outputTokens: number | undefined
  readonly seed: number
  readonly schedule: Faults.Schedule
  readonly epoch: number
  readonly history: number
}

const nonNegativeInt = (value: number | undefined, what: string): number | undefined => {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
    Faults.invalid(`${what} must be a non-negative integer, got ${value}`)
  }
  return value
}

const tokenDelayOf = (options: Options): number => {
  if (options.tokenDelay !== undefined) return Faults.millisOf(options.tokenDelay, "tokenDelay")
  const rate = options.tokensPerSecond ?? defaults.tokensPerSecond
  if (!(rate > 0 && Number.isFinite(rate))) Faults.invalid(`tokensPerSecond must be positive, got ${rate}`)
  return 1000 / rate
}

const replyOf = (options: Options): ((request: ChatRequest) => ReadonlyArray<string>) => {
  const reply = options.reply
  if (typeof reply === "string") {
    const tokens = Reply.tokenize(reply)
    return () => tokens
  }
  if (reply !== undefined) return (request) => Reply.tokenize(reply(request))
  const text = Reply.defaultReply(options.provider, options.model)
  return (request) => Reply.tokenize(Reply.formatted(request, text(request)))
}

const infoOf = (options: Options): ModelInfo => {
  const info = options.info
  const contextWindow = info?.contextWindow ?? defaults.contextWindow
  if (!(Number.isInteger(contextWindow) && contextWindow > 0)) {
    Faults.invalid(`info.contextWindow must be a positive integer, got ${contextWindow}`)
  }
  return {
    provider: options.provider,
    model: options.model,
    contextWindow,
    ...(info?.maxOutputTokens !== undefined ? { maxOutputTokens: info.maxOutputTokens } : {}),
    price: info?.price ?? { input: 0, output: 0 },
    responseFormats: info?.responseFormats ?? defaults.responseFormats
  }
}

/** Validates and compiles the options; throws `IllegalArgumentException` on an invalid one. */
const compileSettings = (options: Options, now: number): Settings => ({
  info: infoOf(options),
  latency: Faults.compileLatency(options.latency ?? defaults.latency, "latency"),
  tokenDelay: tokenDelayOf(options),
  errorDelay: Faults.millisOf(options.errorDelay ?? defaults.errorDelay, "errorDelay"),
  reply: replyOf(options),
  outputTokens: nonNegativeInt(options.outputTokens, "outputTokens"),
  seed: options.seed === undefined ? seedOf(`${options.provider}/${options.model}`) : normalizeSeed(options.seed),
  schedule: Faults.compile(options.faults ?? []),
  epoch: options.epoch ?? now,
  history: nonNegativeInt(options.history, "history") ?? defaults.history
})

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

/** The mutable record of one call; `Service.calls` hands out snapshots. */
class CallRecord {
  endedAt: number | undefined = undefined
  outcome: Outcome = "pending"
  error: ProviderError | undefined = undefined
  latency = 0
  tokens = 0
  fault: Fault | undefined = undefined
  constructor(
    readonly index: number,
    readonly method: "complete" | "stream",
    readonly startedAt: number
  ) {}

  snapshot(): Call {
    return {
      index: this.index,
      method: this.method,
      startedAt: this.startedAt,
      ...(this.endedAt !== undefined ? { endedAt: this.endedAt } : {}),
      outcome: this.outcome,
      ...(this.error !== undefined ? { error: this.error } : {}),
      latency: this.latency,
      tokens: this.tokens,
      ...(this.fault !== undefined ? { fault: this.fault } : {})
    }
  }
}

/** Everything a call will do, decided when it starts. */
interface Plan {
  readonly record: CallRecord
  /** Set when the call fails fast (after `delay`). */
  readonly failure: ProviderError | undefined
  /** Milliseconds to the failure, or to the answer / first token. */
  readonly delay: number
  /** The text tokens sent before a cut, or -1 when the answer is not cut. */
  readonly cutAfter: number
  readonly tokens: ReadonlyArray<string>
  readonly finishReason: FinishReason
  readonly usage: Usage
}

const emptyTokens: ReadonlyArray<string> = []
const noUsage: Usage = { inputTokens: 0, outputTokens: 0 }

/** The reply's tokens, or the error for a schema too large to build a value of. */
const replyTo = (settings: Settings, request: ChatRequest): ReadonlyArray<string> | InvalidRequest => {
  try {
    return settings.reply(request)
  } catch (error) {
    if (!(error instanceof Reply.SchemaTooLarge)) throw error
    const { provider, model } = settings.info
    return new InvalidRequest({ provider, model, message: `simulated: ${error.message}`, status: 400 })
  }
}

/** The state of one simulated provider: its call counter and its records. */
class Simulator {
  private next = 0
  private inFlight = 0
  private succeeded = 0
  private failed = 0
  private interrupted = 0
  private readonly failures: Partial<Record<ProviderError["_tag"], number>> = {}
  private readonly ring: Array<CallRecord> = []

  constructor(readonly settings: Settings) {}

  /** Starts call number `next` at `now`: records it and decides its plan. */
  begin(method: "complete" | "stream", request: ChatRequest, now: number): Plan {
    const { settings } = this
    const record = new CallRecord(this.next++, method, now)
    this.inFlight++
    if (settings.history > 0) this.ring[record.index % settings.history] = record
    const decision = Faults.decide(settings.schedule, now - settings.epoch, settings.seed, record.index)
    if (decision.failing !== undefined) return this.failFast(record, decision.failing)
    const inputTokens = Tokens.estimate(request)
    const required = inputTokens + (request.maxTokens ?? 0) // Tokens.required
    if (required > settings.info.contextWindow) return this.tooLong(record, required)
    const refused = formatRefusal(settings.info, request)
    if (refused !== undefined) return this.failing(record, refused, settings.errorDelay)
    const latency = Faults.sampleLatency(
      decision.slow?.latency ?? settings.latency,
      settings.seed,
      record.index
    )
    const reply = replyTo(settings, request)
    if (reply instanceof InvalidRequest) return this.failing(record, reply, settings.errorDelay)
    // a JSON answer keeps its length: resized, it would no longer parse
    const outputTokens = request.responseFormat === undefined ? settings.outputTokens : undefined
    const answer = Reply.answer(reply, outputTokens, request.maxTokens)
    record.latency = latency
    record.fault = decision.cut?.fault ?? decision.slow?.fault
    return {
      record,
      failure: undefined,
      delay: latency,
      cutAfter: decision.cut === undefined ? -1 : decision.cut.cutAfterTokens,
      tokens: answer.tokens,
      finishReason: answer.finishReason,
      usage: { inputTokens, outputTokens: answer.tokens.length }
    }
  }

  private failFast(record: CallRecord, fault: Faults.CompiledFault): Plan {
    const { provider, model } = this.settings.info
    const failure =
      fault.kind === "status"
        ? fromStatus(fault.status, {
            provider,
            model,
            message: `simulated HTTP ${fault.status}`,
            retryAfter: fault.retryAfter
          })
        : new TransportError({ provider, model, message: "simulated connection reset", code: "ECONNRESET" })
    record.fault = fault.fault
    return this.failing(record, failure, fault.after ?? this.settings.errorDelay)
  }

  private tooLong(record: CallRecord, required: number): Plan {
    const { provider, model, contextWindow } = this.settings.info
    const failure = new ContextLengthExceeded({
      provider,
      model,
      message: `simulated: the request needs ${required} tokens, the context window is ${contextWindow}`,
      status: 400,
      contextWindow,
      requestedTokens: required
    })
    return this.failing(record, failure, this.settings.errorDelay)
  }

  private failing(record: CallRecord, failure: ProviderError, delay: number): Plan {
    record.latency = delay
    return {
      record,
      failure,
      delay,
      cutAfter: -1,
      tokens: emptyTokens,
      finishReason: "error",
      usage: noUsage
    }
  }

  /** The error that ends a cut answer after `sent` tokens. */
  cutError(sent: number): TransportError {
    const { provider, model } = this.settings.info
    return new TransportError({
      provider,
      model,
      message: `simulated connection reset after ${sent} tokens`,
      code: "ECONNRESET"
    })
  }

  /** Ends a pending call; later calls for the same record are ignored. */
  settle(record: CallRecord, outcome: Exclude<Outcome, "pending">, now: number, error?: ProviderError): void {
    if (record.outcome !== "pending") return
    record.outcome = outcome
    record.endedAt = now
    this.inFlight--
    if (outcome === "succeeded") this.succeeded++
    else if (outcome === "interrupted") this.interrupted++
    else {
      this.failed++
      if (error !== undefined) {
        record.error = error
        this.failures[error._tag] = (this.failures[error._tag] ?? 0) + 1
      }
    }
  }

  stats(): Stats {
    return {
      calls: this.next,
      inFlight: this.inFlight,
      succeeded: this.succeeded,
      failed: this.failed,
      interrupted: this.interrupted,
      failures: { ...this.failures }
    }
  }

  calls(): ReadonlyArray<Call> {
    const capacity = this.settings.history
    const out: Array<Call> = []
    for (let i = Math.max(0, this.next - capacity); i < this.next; i++) out.push(this.ring[i % capacity]!.snapshot())
    return out
  }
}

// ---------------------------------------------------------------------------
// complete and stream
// ---------------------------------------------------------------------------

/** `effect` after `millis` of the fiber's clock (at once when 0). */
const after = <A, E>(millis: number, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  millis > 0 ? Effect.zipRight(Effect.sleep(millis), effect) : effect

const begin = (sim: Simulator, method: "complete" | "stream", request: ChatRequest): Effect.Effect<Plan> =>
  Effect.clockWith((clock) => Effect.sync(() => sim.begin(method, request, clock.unsafeCurrentTimeMillis())))

const settleNow = (
  sim: Simulator,
  record: CallRecord,
  outcome: Exclude<Outcome, "pending">,
  error?: ProviderError
): Effect.Effect<void> =>
  Effect.clockWith((clock) => Effect.sync(() => sim.settle(record, outcome, clock.unsafeCurrentTimeMillis(), error)))

const response = (sim: Simulator, plan: Plan): ChatResponse => {
  plan.record.tokens = plan.tokens.length
  return {
    id: `sim-${sim.settings.info.provider}-${plan.record.index}`,
    provider: sim.settings.info.provider,
    model: sim.settings.info.model,
    text: plan.tokens.join(""),
    toolCalls: [],
    finishReason: plan.finishReason,
    usage: plan.usage
  }
}

const answerOf = (sim: Simulator, plan: Plan): Effect.Effect<ChatResponse, ProviderError> => {
  if (plan.failure !== undefined) return after(plan.delay, Effect.fail(plan.failure))
  if (plan.cutAfter >= 0) {
    return after(plan.delay, Effect.fail(sim.cutError(Math.min(plan.cutAfter, plan.tokens.length))))
  }
  return after(
    plan.delay,
    Effect.sync(() => response(sim, plan))
  )
}

const settleExit = (sim: Simulator, record: CallRecord, exit: Exit.Exit<ChatResponse, ProviderError>) => {
  if (Exit.isSuccess(exit)) return settleNow(sim, record, "succeeded")
  const error = Cause.failureOption(exit.cause)
  return Option.isSome(error) ? settleNow(sim, record, "failed", error.value) : settleNow(sim, record, "interrupted")
}

const complete =
  (sim: Simulator) =>
  (request: ChatRequest): Effect.Effect<ChatResponse, ProviderError> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(begin(sim, "complete", request), (plan) =>
        Effect.onExit(restore(answerOf(sim, plan)), (exit) => settleExit(sim, plan.record, exit))
      )
    )

type Step = Option.Option<readonly [ChatChunk, number]>

const failStep = (sim: Simulator, plan: Plan, error: ProviderError): Effect.Effect<Step, ProviderError> =>
  Effect.zipRight(settleNow(sim, plan.record, "failed", error), Effect.fail(error))

/**
 * Chunk `step` of a planned stream: tokens `0 .. n-1` (the first after the
 * latency, each next after the token delay), then `Finish`, then `Usage`. A
 * cut replaces the first chunk not sent with the failure, at its due time.
 */
const streamStep = (sim: Simulator, plan: Plan, step: number): Effect.Effect<Step, ProviderError> => {
  if (plan.failure !== undefined) {
    return step === 0 ? after(plan.delay, failStep(sim, plan, plan.failure)) : Effect.succeed(Option.none())
  }
  const n = plan.tokens.length
  const stop = plan.cutAfter >= 0 ? Math.min(plan.cutAfter, n) : n
  const due = step === 0 ? plan.delay : step < n ? sim.settings.tokenDelay : 0
  if (step < stop) {
    return after(
      due,
      Effect.sync(() => {
        plan.record.tokens++
        return Option.some([{ _tag: "TextDelta", text: plan.tokens[step]! }, step + 1] as const)
      })
    )
  }
  if (plan.cutAfter >= 0) return after(due, failStep(sim, plan, sim.cutError(stop)))
  if (step === n) {
    return after(
      due,
      Effect.as(
        settleNow(sim, plan.record, "succeeded"),
        Option.some([{ _tag: "Finish", reason: plan.finishReason }, step + 1] as const)
      )
    )
  }
  if (step === n + 1) return Effect.succeed(Option.some([{ _tag: "Usage", usage: plan.usage }, step + 1] as const))
  return Effect.succeed(Option.none())
}

const stream =
  (sim: Simulator) =>
  (request: ChatRequest): Stream.Stream<ChatChunk, ProviderError> =>
    Stream.unwrapScoped(
      Effect.map(
        Effect.acquireRelease(begin(sim, "stream", request), (plan) =>
          settleNow(sim, plan.record, "interrupted")
        ),
        (plan) => Stream.unfoldEffect(0, (step: number) => streamStep(sim, plan, step))
      )
    )

// ---------------------------------------------------------------------------
// make
// ---------------------------------------------------------------------------

/** See `Simulated.make`. */
export const make = (options: Options): Effect.Effect<Service> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.sync(() => {
      const sim = new Simulator(compileSettings(options, now))
      const { schedule, epoch } = sim.settings
      return {
        info: sim.settings.info,
        complete: complete(sim),
        stream: stream(sim),
        epoch,
        faults: schedule.all.map((fault) => fault.fault),
        canServe: (at: number) => Faults.canServe(schedule, at - epoch),
        faultAt: (at: number) => Option.fromNullable(Faults.dominantAt(schedule, at - epoch)),
        faultsAt: (at: number) => Faults.activeAt(schedule, at - epoch),
        stats: Effect.sync(() => sim.stats()),
        calls: Effect.sync(() => sim.calls())
      }
    })
  )
