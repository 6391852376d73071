/**
 * The router's engine: runs one request through a chain.
 *
 * A chain is a list of steps (a single target, a race group or a hedge
 * group) folded with `orElse` semantics: a step that fails with `Next` hands
 * over to the following step, a fatal error (`InvalidRequest`,
 * `ContentFiltered`) ends the chain. Each target runs under its policy:
 * context-window check, circuit breaker, bulkhead, per-attempt timeout, and
 * retries with jittered backoff and Retry-After bounded by a retry budget.
 *
 * @internal
 */
import { Cause, Chunk, Clock, Context, Data, Deferred, Duration, Effect, Either, ExecutionStrategy, Exit, Option, PubSub, Queue, Random, Scope, Stream, Tracer } from "effect"
import type { ChatChunk, ChatRequest, ChatResponse, Usage } from "../../llm/Chat.js"
import * as Chat from "../../llm/Chat.js"
import * as CompleteWithin from "../../llm/internal/completeWithin.js"
import * as Defect from "../../llm/internal/defect.js"
import * as Pullable from "../../llm/internal/pullable.js"
import * as StreamWithin from "../../llm/internal/streamWithin.js"
import type { Attempt } from "../../llm/FailoverError.js"
import { ChainExhausted, Rejected, StreamInterrupted } from "../../llm/FailoverError.js"
import type { Service as LanguageModelService } from "../../llm/LanguageModel.js"
import type { ModelInfo } from "../../llm/ModelInfo.js"
import { honours, cost as priceOf } from "../../llm/ModelInfo.js"
import type { ContentFiltered, InvalidRequest, ProviderError } from "../../llm/ProviderError.js"
import { ContentFiltered as ContentFilteredError, isRetriable, MalformedResponse, isStoppedAnswer, ProviderDefect, retryAfter, shouldRetry, Timeout } from "../../llm/ProviderError.js"
import * as Tokens from "../../llm/Tokens.js"
import { type AcquireOptions, type Bulkhead, BulkheadRejected } from "../../resilience/Bulkhead.js"
import type { CircuitBreaker, CircuitOpen, Permit } from "../../resilience/CircuitBreaker.js"
import * as Hedge from "../../resilience/Hedge.js"
import { handled } from "../../resilience/internal/handled.js"
import type { HealthTracker } from "../../resilience/Health.js"
import type * as RateLimit from "../../resilience/RateLimit.js"
import * as Retry from "../../resilience/internal/retry.js"
import { monotonicMillis } from "../../resilience/internal/timeout.js"
import * as Deadlines from "../../resilience/Timeout.js"
import type { RetryBudget } from "../../resilience/RetryBudget.js"
import type * as DegradedCache from "../DegradedCache.js"
import type { BilledPart, Listener, RouterEvent } from "../Events.js"
import type * as Policy from "../Policy.js"
import type * as Strategy from "../Strategy.js"

// ---------------------------------------------------------------------------
// Runtime model
// ---------------------------------------------------------------------------

/** A target with its live resilience state. @internal */
export interface Target {
  readonly name: string
  readonly model: LanguageModelService<ProviderError>
  readonly info: ModelInfo
  readonly weight: number
  readonly breaker: CircuitBreaker
  readonly bulkhead: Bulkhead | undefined
  readonly budget: RetryBudget
  readonly policy: Policy.Resolved
  /** Its breaker's slow-call threshold in ms, if the breaker has a slow-call trip. */
  readonly slowCallMillis: number | undefined
  /** Its requests- and tokens-per-minute limit, if it has one. */
  readonly limiter: RateLimit.RateLimiter | undefined
}

/** A chain's member: a target with the policy the chain runs it under. @internal */
export interface Member {
  readonly target: Target
  readonly priority: number
  readonly policy: Policy.Resolved
  /** Its retry policy, resolved once. */
  readonly retry: MemberRetry
}

/** A member's retry policy, applied to one request's calls with the target's budget and the request's deadline. @internal */
export type MemberRetry = ReturnType<typeof Retry.makeBounded<ProviderError | Rejected | Deadline>>

/**
 * A member's retry policy: retriable errors only, honouring Retry-After up
 * to its cap; no backoff sleeps past the request's deadline.
 *
 * @internal
 */
export const memberRetry = (policy: Policy.Resolved): MemberRetry => {
  const { honourRetryAfter, retryAfterCap, ...backoff } = policy.retry
  return Retry.makeBounded<ProviderError | Rejected | Deadline>({
    ...backoff,
    ...(retryAfterCap === undefined ? {} : { retryAfterCap }),
    while: shouldRetry,
    retryAfter: (error) =>
      honourRetryAfter === false || error._tag === "Rejected" || error._tag === "Deadline" ? Option.none() : retryAfter(error)
  })
}

/** @internal */
export interface Chain {
  readonly name: string
  readonly members: ReadonlyArray<Member>
  readonly strategy: Strategy.Strategy
  readonly race: number
  readonly hedge: Policy.HedgePolicy | undefined
  readonly contentPolicy: string | undefined
  readonly fallbackResponse: string | undefined
  readonly continueStreams: boolean
  readonly total: Duration.Duration
  /**
   * Whether one of this chain's requests has an early probe in flight (see
   * `earlyProbe`): at most one at a time per chain. Shared by every copy of
   * the chain (a stream's continuation runs on a copy).
   */
  readonly probing: {
    inFlight: boolean
    /** When the latest early probe was claimed, on the monotonic clock (`monotonicMillis`). */
    lastAt: number
  }
}

/** What the router shares across requests. @internal */
export interface Shared {
  readonly chains: ReadonlyMap<string, Chain>
  readonly health: HealthTracker<string>
  readonly cache: DegradedCache.DegradedCache | undefined
  readonly events: PubSub.PubSub<RouterEvent>
  /**
   * Who reads `events`: the streams of `Router.events` running now, and
   * whether the router's scope is still open. With no reader an event is
   * not published (a `PubSub` drops it anyway: a few Effect operations an
   * event saved); once the scope closes, it is, as the `PubSub` then
   * interrupts its publisher.
   */
  readonly audience: { subscribers: number; open: boolean }
  /** The synchronous listeners (`Router.listen`); replaced, never mutated, on change. */
  listeners: ReadonlyArray<Listener>
  /** The id of the latest request (ids count from 1). */
  readonly requestIds: { last: number }
  readonly shadowRate: number
  readonly scope: Scope.Scope
}

/** The outcome metadata of a request. @internal */
export interface Meta {
  readonly chain: string
  readonly target: string
  readonly provider: string
  readonly model: string
  readonly attempts: ReadonlyArray<Attempt>
  readonly fallbacks: number
  readonly latency: Duration.Duration
  readonly usage: Usage
  readonly cost: number
  readonly costDelta: number
  readonly degraded?: "cache" | "static"
  readonly continued?: boolean
  /**
   * What other targets billed for the request before `target` answered it,
   * which `usage` and `cost` include: the part of a continued stream before
   * its cut, an answer its provider stopped on content policy before the
   * content-policy chain took the request over, a completion its provider
   * was asked and did not answer (timed out, lost its race or hedge: its
   * prompt, estimated).
   */
  readonly billed?: ReadonlyArray<BilledPart>
}


/** @internal */
export type ChainError = InvalidRequest | ContentFiltered | ChainExhausted

type Fatal = InvalidRequest | ContentFiltered

/** A target is done for this request: go to the next one. */
class Next extends Data.TaggedError("Next")<{
  readonly target: string
  readonly reason: string
  /** A race or hedge that failed whole: each member and why, each a fallback to the next step. */
  readonly members?: ReadonlyArray<{ readonly target: string; readonly reason: string }>
}> {}

/**
 * The request's total deadline passed. Everything the chain waits for is
 * bounded by it (each call, backoff, bulkhead queue and stream head), and
 * fails with it when it is the nearer deadline; the chain then stops.
 */
class Deadline extends Data.TaggedError("Deadline") {}

const deadlinePassed = () => new Deadline()

// ---------------------------------------------------------------------------
// Per-request state
// ---------------------------------------------------------------------------

interface RequestState {
  readonly id: number
  /** The caller's id of the request, copied into its events. */
  readonly correlationId: string | undefined
  /** The caller's tenant: degraded mode's cache keeps its answers apart from everyone else's. */
  readonly tenant: string | undefined
  readonly chain: Chain
  /** The chain the request was made on: `chain`'s name, unless `chain` took it over on content policy. */
  readonly requestChain: string
  readonly request: ChatRequest
  /** The estimate of the request's prompt, in tokens. */
  readonly inputTokens: number
  readonly startedAt: number
  readonly attempts: Array<Attempt>
  /** After a target reported ContextLengthExceeded: only larger windows are tried. */
  minWindow: number
  /** The calls in flight and when each started, for the deadline's record. */
  readonly inFlight: Map<Member, number>
  /**
   * When the chain's total deadline passes, on the monotonic time of the
   * fiber's clock (`monotonicMillis`); set as the chain starts.
   */
  deadlineAt: number
  /** The deadline of the request this chain took over, which its own cannot pass (a content-policy hand-over). */
  readonly deadline: InheritedDeadline | undefined
  /** The same, as a retry's deadline. */
  retryDeadline: Retry.RetryDeadline<Deadline> | undefined
  /** A continuation of another request: it reports no `RequestFinished` of its own. */
  readonly quiet: boolean
  /** Whether degraded mode may answer (not for a stream's continuation). */
  readonly degradedAllowed: boolean
  /**
   * What targets billed before this chain took the request over (see
   * `Meta.billed`), and what its calls that were asked and not answered
   * were (see `billUnanswered`).
   */
  billed: ReadonlyArray<BilledPart>
  /** The member this request probes early, every breaker of the chain being open; see `earlyProbe`. */
  earlyProbe: Member | undefined
  /** The chain's members in the order this request tries them, once ordered. */
  ordered: ReadonlyArray<Member>
  /** Those whose breakers would not admit a call when it was ordered (undefined: none); see `isLastResort`. */
  unavailable: ReadonlySet<Member> | undefined
  /** The caller's span when the request started, if it was inside one. */
  readonly parentSpan: Option.Option<Tracer.AnySpan>
  /** A member of the request's race or hedge has won: the calls interrupted from now on lost to it. */
  groupWon: boolean
  /** In a hedge: its delay, in ms; a loser that ran longer was slow. */
  hedgeDelay: number | undefined
  /** In a hedge: tells it that a member failed an attempt it may retry, so that the next starts at once. */
  attemptFailed: ((member: Member) => Effect.Effect<void>) | undefined
}

/** What a request hands to the chain that takes it over (a content-policy chain, a continuation). */
export interface Inherited {
  readonly id: number
  /** The chain the request was made on (see `RequestState.requestChain`). */
  readonly requestChain: string
  readonly correlationId: string | undefined
  readonly tenant: string | undefined
  readonly parentSpan: Option.Option<Tracer.AnySpan>
  readonly startedAt: number
  readonly attempts: Array<Attempt>
  readonly quiet: boolean
  readonly degradedAllowed: boolean
  /** What targets billed before the chain taking over (see `Meta.billed`). */
  readonly billed: ReadonlyArray<BilledPart>
  /** The request's deadline, kept by the chain taking over (not by a stream's continuation: see `stream`). */
  readonly deadline?: InheritedDeadline
}

/** A request's total deadline: when it passes (as `RequestState.deadlineAt`), and the total it came from. */
interface InheritedDeadline {
  readonly at: number
  readonly total: Duration.Duration
}

/** Who asks: the caller's id of the request and its tenant (`Router.RequestOptions`). @internal */
export interface Origin {
  readonly correlationId?: string | undefined
  readonly tenant?: string | undefined
}

/** A request's state, made in one step: its id, the caller's span and the time read from the fiber at once. */
const newState = (shared: Shared, chain: Chain, request: ChatRequest, inherited?: Inherited, origin?: Origin) =>
  Effect.withFiberRuntime<RequestState>((fiber) => {
    const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
    const id = inherited === undefined ? ++shared.requestIds.last : inherited.id
    // the caller's span, if any (`Effect.currentParentSpan` builds an exception, stack and all, when there is none)
    const parentSpan = inherited === undefined ? Context.getOption(fiber.currentContext, Tracer.ParentSpan) : inherited.parentSpan
    return Effect.succeed({
      id,
      correlationId: inherited === undefined ? origin?.correlationId : inherited.correlationId,
      tenant: inherited === undefined ? origin?.tenant : inherited.tenant,
      parentSpan,
      chain,
      requestChain: inherited?.requestChain ?? chain.name,
      request,
      inputTokens: Tokens.estimate(request),
      startedAt: inherited?.startedAt ?? now,
      attempts: inherited?.attempts ?? [],
      minWindow: 0,
      inFlight: new Map(),
      deadlineAt: Infinity,
      deadline: inherited?.deadline,
      retryDeadline: undefined,
      quiet: inherited?.quiet ?? false,
      degradedAllowed: inherited?.degradedAllowed ?? true,
      billed: inherited?.billed ?? [],
      earlyProbe: undefined,
      ordered: [],
      unavailable: undefined,
      groupWon: false,
      hedgeDelay: undefined,
      attemptFailed: undefined
    })
  })

const inherit = (state: RequestState, overrides: Partial<Pick<Inherited, "quiet" | "degradedAllowed" | "billed">> = {}): Inherited => ({
  id: state.id,
  requestChain: state.requestChain,
  correlationId: state.correlationId,
  tenant: state.tenant,
  parentSpan: state.parentSpan,
  startedAt: state.startedAt,
  attempts: state.attempts,
  quiet: overrides.quiet ?? state.quiet,
  degradedAllowed: overrides.degradedAllowed ?? state.degradedAllowed,
  billed: overrides.billed ?? state.billed
})

const listenerFailed = (cause: Cause.Cause<unknown>) => Effect.logError("router: an event listener failed", cause)

/** Hands `event` to every listener, runs what they return, then publishes it to `events`. */
const emit = (shared: Shared, event: RouterEvent): Effect.Effect<void> => Effect.suspend(() => notify(shared, event))

/** `emit`, of an event made with the time (`at`) read from the clock in the same step. */
const emitAt = (shared: Shared, event: (at: number) => RouterEvent): Effect.Effect<void> =>
  Effect.clockWith((clock) => notify(shared, event(clock.unsafeCurrentTimeMillis())))

const notify = (shared: Shared, event: RouterEvent): Effect.Effect<void> => {
  let follow: Effect.Effect<void> | undefined
  for (const listener of shared.listeners) {
    let result: Effect.Effect<void> | void
    try {
      result = listener(event)
    } catch (defect) {
      result = listenerFailed(Cause.die(defect))
    }
    if (result !== undefined) follow = follow === undefined ? result : Effect.zipRight(follow, result)
  }
  const { audience } = shared
  const publish = audience.subscribers === 0 && audience.open ? undefined : PubSub.publish(shared.events, event)
  if (follow === undefined) return publish ?? Effect.void
  const followed = Effect.catchAllCause(follow, listenerFailed)
  return publish === undefined ? followed : Effect.zipRight(followed, publish)
}

const targetFields = (state: RequestState, target: Target) => ({
  chain: state.chain.name,
  requestId: state.id,
  correlationId: state.correlationId,
  target: target.name,
  provider: target.info.provider,
  model: target.info.model
})

// ---------------------------------------------------------------------------
// Ordering
// ---------------------------------------------------------------------------

const estimatedCost = (info: ModelInfo, request: ChatRequest, inputTokens: number) =>
  priceOf(info.price, { inputTokens, outputTokens: maxTokensOn(request, info) ?? 256 })

/** The chain's members in the order its strategy picks for this request, and those whose breakers would not admit a call. @internal */
export const order = (
  shared: Shared,
  chain: Chain,
  request: ChatRequest
): Effect.Effect<{ readonly ordered: ReadonlyArray<Member>; readonly unavailable: ReadonlySet<Member> | undefined }> =>
  Effect.gen(function* () {
    const inputTokens = Tokens.estimate(request)
    const candidates: Array<Strategy.Candidate & { readonly member: Member }> = []
    for (const member of capable(chain, request)) {
      const { target } = member
      const available = yield* target.breaker.isAvailable
      const health = yield* shared.health.snapshot(target.name)
      candidates.push({
        member,
        name: target.name,
        info: target.info,
        priority: member.priority,
        weight: target.weight,
        available,
        degraded: health.degraded,
        latencyMs: Option.match(health.latency, { onNone: () => undefined, onSome: (q) => Duration.toMillis(q.p50) }),
        estimatedCost: estimatedCost(target.info, request, inputTokens)
      })
    }
    const draws: Array<number> = []
    for (let i = 0; i < candidates.length; i++) draws.push(yield* Random.next)
    let next = 0
    const ordered = chain.strategy(candidates, { request, random: () => draws[next++ % draws.length] ?? 0 })
    return {
      ordered: ordered.map((candidate) => (candidate as (typeof candidates)[number]).member),
      // made only when some breaker refuses: most requests find every one closed
      unavailable: candidates.every((candidate) => candidate.available)
        ? undefined
        : new Set(candidates.filter((candidate) => !candidate.available).map((candidate) => candidate.member))
    }
  })

/**
 * The members that can give the answer the request asks for (see
 * `ModelInfo.honours`): a JSON answer goes only to models that can be held
 * to it, and the others are left out of its order, as though not in the
 * chain. When none can, all are kept: each is then passed over as
 * `unsupported-format` (see `runMember`), and the request fails with every
 * one of them named.
 */
const capable = (chain: Chain, request: ChatRequest): ReadonlyArray<Member> => {
  if (request.responseFormat === undefined) return chain.members
  const members = chain.members.filter((member) => honours(member.target.info, request))
  return members.length > 0 ? members : chain.members
}

/**
 * Whether no member after this one, in the request's order, is available
 * and fits the request: if this one refuses the request, no other target
 * would take it. Its breaker then does not hold it back while a trial runs
 * (`acquireLastResort`).
 */
const isLastResort = (state: RequestState, member: Member): boolean => {
  const { ordered, unavailable } = state
  for (let i = ordered.indexOf(member) + 1; i < ordered.length; i++) {
    const later = ordered[i]!
    if (unavailable?.has(later) !== true && serves(state, later.target)) return false
  }
  return true
}

// ---------------------------------------------------------------------------
// One target
// ---------------------------------------------------------------------------

/** Whether the request fits the target's context window. */
const fits = (state: RequestState, target: Target) =>
  target.info.contextWindow > state.minWindow && requiredOn(state, target) <= target.info.contextWindow

/**
 * The answer's length a target is asked for: the request's `maxTokens`, at
 * most its model's `maxOutputTokens`. A chain's models take different
 * limits, and one a model refuses is a 400, the request's own fault, which
 * would end the request on every target (a `max_tokens` of 32768, fine for
 * GPT-4.1, is past GPT-4o mini's 16384 and Claude Haiku 3.5's 8192).
 */
const maxTokensOn = (request: ChatRequest, info: ModelInfo): number | undefined =>
  request.maxTokens !== undefined && info.maxOutputTokens !== undefined && request.maxTokens > info.maxOutputTokens
    ? info.maxOutputTokens
    : request.maxTokens

/** The request as a target is asked it: its `maxTokens` within the model's (see `maxTokensOn`). */
const requestOn = (state: RequestState, target: Target): ChatRequest => {
  const maxTokens = maxTokensOn(state.request, target.info)
  return maxTokens === state.request.maxTokens ? state.request : { ...state.request, maxTokens }
}

/** The tokens a request may need on a target in all: its prompt and the answer's length asked of it (see `Tokens.required`). */
const requiredOn = (state: RequestState, target: Target): number => state.inputTokens + (maxTokensOn(state.request, target.info) ?? 0)

/** Whether the target can serve the request: it fits, and the model can give the answer's format. */
const serves = (state: RequestState, target: Target) => fits(state, target) && honours(target.info, state.request)

const record = (state: RequestState, target: Target, duration: Duration.Duration, error?: ProviderError | Rejected) =>
  state.attempts.push({
    target: target.name,
    provider: target.info.provider,
    model: target.info.model,
    duration,
    ...(error === undefined ? {} : { error: recorded(error) })
  })

/**
 * An error as a request's attempts and its events keep it: a stopped
 * answer without its text and the model's refusal (the caller gets them
 * from the error it fails with, as a served answer's text reaches the
 * caller only, never an event or a record a listener may persist). Its
 * `partialText` is `""`, so that `isStoppedAnswer` still tells it from a
 * refused prompt.
 */
const recorded = <E extends ProviderError | Rejected>(error: E): E | ContentFiltered => {
  if (error._tag !== "ContentFiltered" || (!error.partialText && error.refusal === undefined)) return error
  return new ContentFilteredError({
    provider: error.provider,
    model: error.model,
    partialText: "",
    // a refusal's message quotes it
    message: error.refusal === undefined ? error.message : `${error.provider} refused`,
    ...(error.status === undefined ? {} : { status: error.status }),
    ...(error.reason === undefined ? {} : { reason: error.reason }),
    ...(error.usage === undefined ? {} : { usage: error.usage })
  })
}

/**
 * Where a provider's 400 points when it refuses a JSON request's format:
 * OpenAI's `response_format` (a schema it will not take, JSON mode asked
 * without the word "JSON", a compatible server without it), Anthropic's
 * `output_config` (`output_format` in its beta), Gemini's response schema
 * or mime type (JSON mode beside tools), Groq's failed JSON generation,
 * a model without JSON mode. Not a tool's schema, a JSON body or an image's
 * MIME type: those refuse the request itself.
 */
const formatWords =
  /response_format|output_config|output_format|response_?(?:json_?)?schema|response[ _]?mime[ _]?type|json_validate_failed|failed to generate json|json mode/i

/**
 * Whether a provider's `InvalidRequest` refused what a JSON request asks
 * for, not the request itself: the next target may give that answer. In a
 * structured-output request without tools, the format's schema is its only
 * one, so a 400 about "the schema" (Gemini's "schema produces a constraint
 * that has too many states", Anthropic's "Schema is too complex") is about
 * it too.
 */
const refusedFormat = (request: ChatRequest, error: InvalidRequest): boolean =>
  request.responseFormat !== undefined &&
  (formatWords.test(error.message) ||
    (request.responseFormat.type === "json_schema" &&
      (request.tools === undefined || request.tools.length === 0) &&
      /\bschema\b/i.test(error.message)))

/** Whether an outcome says something about the target's health (the request's own faults do not). */
const countsForHealth = (error: ProviderError | Rejected) =>
  error._tag !== "Rejected" &&
  error._tag !== "InvalidRequest" &&
  error._tag !== "ContentFiltered" &&
  error._tag !== "ContextLengthExceeded"

/**
 * The provider error a call's failure is: its first typed failure, or, for
 * a call that died (a defect, not an interruption), a `ProviderDefect` of
 * the target's, so that a bug in one provider's code skips that target as a
 * provider's failure does rather than ending the request. Read where a
 * call's exit is already looked at (the breaker's record, the attempt's),
 * which keeps it off a successful call's path.
 */
const failureOf = <E>(cause: Cause.Cause<E>, info: ModelInfo): E | ProviderDefect | undefined => {
  const failure = Option.getOrUndefined(Chunk.head(Cause.failures(cause)))
  // a defect beside an interruption is still one: a concurrent step of the provider's own code died and its
  // siblings were interrupted (the attempt's own interruption runs no handler that reads its exit)
  if (failure !== undefined || Cause.isInterruptedOnly(cause)) return failure
  const defect = Chunk.head(Cause.defects(cause))
  return defect._tag === "Some" ? ProviderDefect.fromDefect(info.provider, info.model, defect.value) : undefined
}

/** Why the router passed over a target without calling it, before it is a `Rejected`. */
type Refusal =
  | { readonly _tag: "CircuitOpen"; readonly retryAfter?: Duration.Duration; readonly serverAsked?: boolean | undefined }
  | { readonly _tag: "BulkheadRejected" }
  | TargetLimited

/** The target's own rate limit (`rpm`, `tpm`) has no room for this request. */
class TargetLimited extends Data.TaggedError("TargetLimited")<{
  readonly limit: "rpm" | "tpm"
  readonly retryAfter: Duration.Duration
}> {}

const rejectedFrom = (target: Target, error: Refusal): Rejected => {
  switch (error._tag) {
    case "CircuitOpen":
      return new Rejected({
        provider: target.info.provider,
        model: target.info.model,
        reason: "circuit-open",
        message: `circuit open for ${target.name}`,
        ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
        ...(error.serverAsked === true ? { serverAsked: true } : {})
      })
    case "BulkheadRejected":
      return new Rejected({
        provider: target.info.provider,
        model: target.info.model,
        reason: "bulkhead-full",
        message: `too many calls in flight to ${target.name}`
      })
    case "TargetLimited":
      return new Rejected({
        provider: target.info.provider,
        model: target.info.model,
        reason: "rate-limit",
        message: `${target.name} is at its ${error.limit} limit`,
        retryAfter: error.retryAfter
      })
  }
}

/**
 * Takes room for one request of about `tokens` tokens under the target's
 * rate limit, or fails with `TargetLimited`.
 */
const admitRate = (target: Target, tokens: number): Effect.Effect<void, TargetLimited> =>
  target.limiter === undefined
    ? Effect.void
    : Effect.flatMap(target.limiter.tryAcquire(tokens), (admission) =>
        admission._tag === "Admitted"
          ? Effect.void
          : Effect.fail(new TargetLimited({ limit: admission.limit, retryAfter: admission.retryAfter }))
      )

/**
 * Corrects the target's token count once the real usage of a call admitted
 * at `admittedAt` for `estimated` tokens is known (an over-estimate is taken
 * back from the bucket it was counted in).
 */
const settleTokens = (target: Target, estimated: number, usage: Usage, admittedAt: number) =>
  target.limiter === undefined
    ? Effect.void
    : target.limiter.adjust(usage.inputTokens + usage.outputTokens - estimated, admittedAt)

/**
 * Wraps one call with the bookkeeping every attempt needs: events, the
 * attempt record, health, and honouring a long Retry-After by opening the
 * breaker for it.
 */
const observed = <A, R>(
  shared: Shared,
  state: RequestState,
  member: Member,
  attempt: number,
  call: Effect.Effect<A, ProviderError | Rejected | Deadline, R>,
  onSuccess: (value: A) => { readonly usage?: Usage },
  /** A stream records its health once, when it ends; a completion when it returns. */
  healthOnSuccess = true,
  /**
   * Lets go of what a call's value holds (a stream's scope) when the
   * attempt is interrupted after the call answered, before it returned the
   * answer (it lost its race while its success was being reported).
   */
  dropped?: (value: A) => Effect.Effect<void>,
  /** A completion's: set once its provider was asked (see `billUnanswered`). */
  asked?: Asked
): Effect.Effect<A, ProviderError | Rejected | Deadline, R> => {
  const { target } = member
  // (one attempt's effect, run once: see `runMember`) the call's start, whether it was made, and its exit once it ended
  let start = 0
  let calling = false
  let ended: Exit.Exit<A, ProviderError | Rejected | Deadline> | undefined = undefined
  return Effect.gen(function* () {
    const fields = targetFields(state, target)
    yield* emitAt(shared, (at) => {
      start = at
      state.inFlight.set(member, start)
      return { _tag: "AttemptStarted", ...fields, at, attempt }
    })
    calling = true
    const exit = yield* Effect.exit(call)
    ended = exit
    const failure = exit._tag === "Failure" ? failureOf(exit.cause, target.info) : undefined
    // cut by the request's deadline: left in flight, for the chain's record of it (`runChain`)
    if (failure?._tag === "Deadline") {
      if (asked?.sent === true) billUnanswered(state, target)
      return yield* Effect.zipRight(cancelled(shared, state, member, attempt, start), Effect.fail(failure))
    }
    state.inFlight.delete(member)
    const end = yield* Clock.currentTimeMillis
    const duration = Duration.millis(end - start)
    if (exit._tag === "Success") {
      record(state, target, duration)
      const extra = onSuccess(exit.value)
      if (healthOnSuccess) yield* shared.health.record(target.name, { success: true, latency: duration })
      yield* emit(shared, {
        _tag: "AttemptSucceeded",
        ...fields,
        at: end,
        attempt,
        duration,
        shadow: false,
        ...(extra.usage === undefined ? {} : { usage: extra.usage, cost: priceOf(target.info.price, extra.usage) })
      })
      return exit.value
    }
    if (failure === undefined) return yield* Effect.failCause(exit.cause) // interrupted: nothing to record
    if (failure._tag === "Timeout" && asked?.sent === true) billUnanswered(state, target)
    record(state, target, duration, failure)
    if (countsForHealth(failure)) yield* shared.health.record(target.name, { success: false, latency: duration })
    yield* emit(shared, { _tag: "AttemptFailed", ...fields, at: end, attempt, error: recorded(failure), duration })
    const pushback = failure._tag === "Rejected" || member.policy.retry.honourRetryAfter === false ? Option.none() : retryAfter(failure)
    if (Option.isSome(pushback) && Duration.greaterThan(pushback.value, member.policy.retry.retryAfterCap ?? "10 seconds")) {
      yield* target.breaker.forceOpen(pushback.value)
    }
    return yield* Effect.fail(failure)
  }).pipe(
    // one handler for the whole attempt: the call interrupted (cancelled), or its answer dropped
    Effect.onInterrupt(() =>
      ended === undefined
        ? calling
          ? asked?.sent === true
            ? Effect.zipRight(Effect.sync(() => billUnanswered(state, target)), cancelled(shared, state, member, attempt, start))
            : cancelled(shared, state, member, attempt, start)
          : Effect.void
        : ended._tag === "Success" && dropped !== undefined
        ? dropped(ended.value)
        : Effect.void
    )
  )
}


/** Takes a token of the target's retry budget for a retry or a hedge, saying when the budget refuses it. */
const spend = (shared: Shared, state: RequestState, target: Target): Effect.Effect<boolean> =>
  Effect.tap(target.budget.tryAcquire, (allowed) =>
    allowed
      ? Effect.void
      : Effect.flatMap(Clock.currentTimeMillis, (at) =>
          emit(shared, {
            _tag: "BudgetExhausted",
            chain: state.chain.name,
            requestId: state.id,
            correlationId: state.correlationId,
            at,
            target: target.name
          })
        )
  )

/**
 * Passes over a target the request cannot go to (its context window, its
 * response formats) without calling it: recorded and reported as the
 * router's refusal, as an open breaker's is.
 */
const passOver = (shared: Shared, state: RequestState, target: Target, error: Rejected, reason: string) =>
  Effect.zipRight(
    Effect.flatMap(Clock.currentTimeMillis, (at) => {
      record(state, target, Duration.zero, error)
      return emit(shared, { _tag: "AttemptFailed", ...targetFields(state, target), at, attempt: 1, error, duration: Duration.zero })
    }),
    Effect.fail(new Next({ target: target.name, reason }))
  )

/**
 * Reports a call stopped before it ended: it lost its race or hedge, the
 * request's deadline passed, or the caller went away (see `AttemptCancelled`).
 */
const cancelled = (shared: Shared, state: RequestState, member: Member, attempt: number, start: number) =>
  Effect.clockWith((clock) => {
    const end = clock.unsafeCurrentTimeMillis()
    const reason = state.groupWon ? "lost" : monotonicMillis(clock) >= state.deadlineAt ? "deadline" : "cancelled"
    const duration = Duration.millis(end - start)
    return emit(shared, { _tag: "AttemptCancelled", ...targetFields(state, member.target), at: end, attempt, reason, duration })
  })

/** Retries one member's calls by its policy, then settles the outcome as success, `Next` or fatal. */
const runMember = <A, R>(
  shared: Shared,
  state: RequestState,
  member: Member,
  once: (attempt: number) => Effect.Effect<A, ProviderError | Rejected | Deadline, R>
): Effect.Effect<A, Next | Fatal | Deadline, R> =>
  Effect.suspend(() => {
    const { target } = member
    if (!fits(state, target)) {
      const error = new Rejected({
        provider: target.info.provider,
        model: target.info.model,
        reason: "context-too-small",
        message: `about ${requiredOn(state, target)} tokens do not fit ${target.name}'s window of ${target.info.contextWindow}`
      })
      return passOver(shared, state, target, error, "ContextLengthExceeded")
    }
    if (!honours(target.info, state.request)) {
      const error = new Rejected({
        provider: target.info.provider,
        model: target.info.model,
        reason: "unsupported-format",
        message: `${target.name} cannot answer in the response format '${state.request.responseFormat?.type}'`
      })
      return passOver(shared, state, target, error, error.reason)
    }
    let attempt = 0
    const budget: RetryBudget = { ...target.budget, tryAcquire: spend(shared, state, target) }
    // no attempt starts once the request's deadline has passed (one due then fails at once: see `Retry.makeBounded`)
    const next = Effect.clockWith((clock) =>
      monotonicMillis(clock) >= state.deadlineAt ? Effect.fail(new Deadline()) : once(++attempt)
    )
    // in a hedge, a failed attempt that may be retried starts the next member at once (a fatal one ends the hedge)
    const signal = state.attemptFailed
    const tried = signal === undefined
      ? next
      : Effect.tapError(next, (error) => (error._tag !== "Deadline" && isRetriable(error) ? signal(member) : Effect.void))
    return member.retry(tried, budget, retryDeadlineOf(state, member)).pipe(
      Effect.catchAll((error): Effect.Effect<never, Next | Fatal | Deadline> => {
        switch (error._tag) {
          case "InvalidRequest":
            // the JSON answer asked for, as this provider cannot give it (a schema keyword it refuses, JSON mode
            // beside tools, ...): another target may take it, as it may a prompt too long for this one
            if (refusedFormat(state.request, error)) return Effect.fail(new Next({ target: target.name, reason: "unsupported-format" }))
            return Effect.fail(error)
          case "ContentFiltered":
          case "Deadline":
            return Effect.fail(error)
          case "ContextLengthExceeded":
            state.minWindow = Math.max(state.minWindow, target.info.contextWindow)
            break
        }
        return Effect.fail(new Next({ target: target.name, reason: error._tag === "Rejected" ? error.reason : error._tag }))
      })
    )
  })

/**
 * Whether a call interrupted after running `elapsed` ms lost to a faster
 * member of its race or hedge and ran long enough to count as slow: longer
 * than the hedge delay (the alternative that beat it started after it had
 * run that long), or than its breaker's slow-call threshold. A call cut by
 * a deadline or by its caller lost to nobody and is not slow.
 */
const lostSlow = (state: RequestState, target: Target, elapsed: number) =>
  state.groupWon && elapsed > Math.min(state.hedgeDelay ?? Infinity, target.slowCallMillis ?? Infinity)

/**
 * Records a call that lost its race or hedge after `elapsed` ms as slow: in
 * its breaker's slow-call window, and in health. In a hedge, health gets the
 * hedge delay as its latency (still a lower bound of the loser's): a hedge
 * delay of "p95" reads the same window, and the loser's full run (delay plus
 * the winner's latency) would raise the next delay by a winner's latency
 * on every hedge of a spike, with no end.
 */
const recordLostSlow = (shared: Shared, state: RequestState, target: Target, permit: Permit, elapsed: number) =>
  Effect.zipRight(
    permit.record("slow", Duration.millis(elapsed)),
    shared.health.record(target.name, {
      success: false,
      slow: true,
      latency: Duration.millis(Math.min(elapsed, state.hedgeDelay ?? elapsed))
    })
  )

/** Gives back the chain's early-probe slot, if this request holds it. */
const releaseProbe = (state: RequestState) =>
  Effect.sync(() => {
    if (state.earlyProbe === undefined) return
    state.earlyProbe = undefined
    state.chain.probing.inFlight = false
  })

/**
 * The breaker's admission for this attempt: an early probe for the
 * request's first attempt on its probe target; for a member with no
 * available member after it, an admission a trial does not hold back.
 */
const admission = (state: RequestState, member: Member, attempt: number) =>
  attempt === 1 && state.earlyProbe === member
    ? member.target.breaker.acquireProbe
    : isLastResort(state, member)
    ? member.target.breaker.acquireLastResort
    : member.target.breaker.acquire

/**
 * Runs one call under the target's breaker, with a permit: a success or a
 * failure is recorded as the breaker's classifier would record it, an
 * interruption is ignored, except that a call that lost its race or hedge
 * after running long enough is recorded as slow (see `lostSlow`). The call
 * is made with the time it was admitted (by the breaker and the rate limit).
 */
const breakerCall = <A, R>(
  shared: Shared,
  state: RequestState,
  member: Member,
  attempt: number,
  call: (admittedAt: number) => Effect.Effect<A, ProviderError | Deadline, R>
): Effect.Effect<A, ProviderError | Deadline | CircuitOpen | TargetLimited, R> => {
  const { target } = member
  const early = attempt === 1 && state.earlyProbe === member
  /** Records how the call ended, `start` being when it began. */
  const settle = (permit: Permit, start: number) => (exit: Exit.Exit<A, ProviderError | Deadline>) => {
    if (exit._tag === "Success") return permit.record("success")
    const failure = failureOf(exit.cause, target.info)
    // a call cut by the request's deadline lost to nobody: like one interrupted by it, ignored
    if (failure !== undefined) return permit.record(failure._tag === "Deadline" ? "ignored" : classify(failure))
    return Effect.flatMap(Clock.currentTimeMillis, (end) =>
      Cause.isInterruptedOnly(exit.cause) && lostSlow(state, target, end - start)
        ? recordLostSlow(shared, state, target, permit, end - start)
        : permit.record("ignored"))
  }
  const run = Effect.uninterruptibleMask((restore) =>
    Effect.gen(function* () {
      const permit = yield* admission(state, member, attempt)
      // the breaker first: an open breaker takes no room under the rate limit; a limited call frees its permit
      if (target.limiter !== undefined) yield* Effect.tapError(admitRate(target, requiredOn(state, target)), () => permit.record("ignored"))
      const start = yield* Clock.currentTimeMillis
      return yield* Effect.onExit(restore(call(start)), settle(permit, start))
    })
  )
  return early ? Effect.ensuring(run, releaseProbe(state)) : run
}

/**
 * The bulkhead wraps the breaker, not the other way round: local load
 * shedding says nothing about the provider's health, so it must never reach
 * the breaker, and time queued must not count as a slow call.
 */
const guard = <A, R>(
  shared: Shared,
  state: RequestState,
  member: Member,
  attempt: number,
  call: (admittedAt: number) => Effect.Effect<A, ProviderError | Deadline, R>
) => {
  const { target } = member
  const { bulkhead } = target
  const protectedCall = breakerCall(shared, state, member, attempt, call)
  const entered = bulkhead === undefined
    ? protectedCall
    : bulkheadWait(state, bulkhead, (options) => bulkhead.run(protectedCall, options))
  return entered.pipe(
    Effect.catchTags({
      CircuitOpen: (error) => Effect.fail(rejectedFrom(target, error)),
      BulkheadRejected: () => Effect.fail(rejectedFrom(target, { _tag: "BulkheadRejected" })),
      TargetLimited: (error) => Effect.fail(rejectedFrom(target, error))
    })
  ) as Effect.Effect<A, ProviderError | Rejected | Deadline, R>
}

/**
 * Enters a bulkhead (`enter`), waiting in its queue no longer than what is
 * left of the request's deadline: a wait cut by that deadline fails with
 * `Deadline`. On a tie with the bulkhead's own queue timeout the request's
 * deadline wins, as its timer (armed first) did under `timeoutFail`. A
 * bulkhead without a queue never waits.
 */
const bulkheadWait = <A, E, R>(
  state: RequestState,
  bulkhead: Bulkhead,
  enter: (options: AcquireOptions | undefined) => Effect.Effect<A, E | BulkheadRejected, R>
): Effect.Effect<A, E | BulkheadRejected | Deadline, R> => {
  if (bulkhead.maxQueued === 0 || state.deadlineAt === Infinity) return enter(undefined)
  return Effect.clockWith((clock): Effect.Effect<A, E | BulkheadRejected | Deadline, R> => {
    const left = Math.max(0, state.deadlineAt - monotonicMillis(clock))
    const own = bulkhead.queueTimeout
    if (own !== undefined && Duration.toMillis(own) < left) return enter(undefined)
    return Effect.mapError(enter({ queueTimeout: Duration.millis(left) }), (error) =>
      isQueueTimeout(error) ? new Deadline() : error
    )
  })
}

const isQueueTimeout = (error: unknown): error is BulkheadRejected =>
  error instanceof BulkheadRejected && error.reason === "queue-timeout"

const attemptTimeout = (member: Member, phase: "attempt" | "first-token" | "idle", after: Duration.Duration) =>
  new Timeout({
    provider: member.target.info.provider,
    model: member.target.info.model,
    message: `no ${phase === "attempt" ? "answer" : phase === "first-token" ? "first token" : "next chunk"} from ${member.target.name} within ${Duration.format(after)}`,
    phase,
    after
  })

/** A call's deadline: its length, what the call then fails with, and whether it is the request's. */
interface CallLimit<E> {
  readonly millis: number
  readonly onTimeout: () => E | Deadline
  readonly byRequest: boolean
}

/**
 * The nearer of a call's own deadline (`millis` from now) and what is left
 * of the request's (`deadlineAt`), and what the call fails with when it
 * passes: the request's `Deadline` on a tie, else `onOwn()`.
 */
const nearerDeadline = <E>(clock: Clock.Clock, deadlineAt: number, millis: number, onOwn: () => E): CallLimit<E> => {
  const left = Math.max(0, deadlineAt - monotonicMillis(clock))
  return left <= millis
    ? { millis: left, onTimeout: deadlinePassed, byRequest: true }
    : { millis, onTimeout: onOwn, byRequest: false }
}

/**
 * Whether a call bounded by the request's deadline (`limit`) is cut by it:
 * at or after it nothing the call does counts, as when `timeoutFail` around
 * the whole chain kept it, whose timer (armed as the chain started) came
 * before anything the call set. A call due to start then does not start; one
 * that ends then, whatever its outcome, fails with `Deadline`.
 */
const cutByRequest = (limit: CallLimit<unknown>, clock: Clock.Clock, deadlineAt: number): boolean =>
  limit.byRequest && monotonicMillis(clock) >= deadlineAt

/**
 * One completion of the member's model within its attempt deadline, or
 * what is left of the request's (`deadlineAt`) when that is nearer: kept by
 * the model itself when its `complete` carries a `CompleteWithin` (the HTTP
 * adapters: on their client's timers), else by `timeoutFail`, which forks a
 * fiber for the call. Either way the call fails with the attempt's error
 * (or `Deadline`) when that deadline passes first, and with a phase's own
 * (the adapter's connect or idle deadline) when that one is nearer.
 */
const completeInTime = (
  member: Member,
  request: ChatRequest,
  deadlineAt: number,
  asked?: Asked
): Effect.Effect<ChatResponse, ProviderError | Deadline> =>
  Effect.clockWith((clock) => {
    const { model } = member.target
    const timeout = member.policy.timeouts.attempt
    const limit = nearerDeadline(clock, deadlineAt, Duration.toMillis(timeout), () => attemptTimeout(member, "attempt", timeout))
    if (cutByRequest(limit, clock, deadlineAt)) return Effect.fail(new Deadline())
    if (asked !== undefined) asked.sent = true
    const within = CompleteWithin.of(model.complete)
    const call = within !== undefined
      ? within(request, limit.millis, limit.onTimeout)
      : Deadlines.timeoutFail(model.complete(request), { duration: Duration.millis(limit.millis), onTimeout: limit.onTimeout })
    return limit.byRequest
      ? Effect.flatMap(Effect.exit(call), (exit) => (cutByRequest(limit, clock, deadlineAt) ? Effect.fail(new Deadline()) : exit))
      : call
  })

/** Whether a completion's provider was asked: set as its call is made, after the breaker, bulkhead and rate limit admitted it. */
interface Asked {
  sent: boolean
}

/**
 * Bills the request for a completion its target's provider was asked and
 * did not answer: it timed out, the request's deadline cut it, it lost its
 * race or hedge, or the caller went away. The provider has read the prompt
 * and bills it whether or not anyone reads the answer: the request is billed
 * the router's estimate of it (`Tokens.estimate`, no output), as a part of
 * its cost (`Meta.billed`, `RequestFinished.billed`), which the cost report,
 * the metrics and a key's spend cap count, as a stream cut before its count
 * is billed an estimate (nothing marks either as one).
 */
const billUnanswered = (state: RequestState, target: Target): void => {
  const usage: Usage = { inputTokens: state.inputTokens, outputTokens: 0 }
  const { info } = target
  state.billed = [...state.billed, { target: target.name, provider: info.provider, model: info.model, usage, cost: priceOf(info.price, usage) }]
}

/** One whole completion from one member. @internal */
const completeOnce = (shared: Shared, state: RequestState, member: Member) => (attempt: number) => {
  const asked: Asked = { sent: false }
  return observed(
    shared,
    state,
    member,
    attempt,
    guard(
      shared,
      state,
      member,
      attempt,
      (admittedAt) =>
        member.target.limiter === undefined
          ? completeInTime(member, requestOn(state, member.target), state.deadlineAt, asked)
          : completeInTime(member, requestOn(state, member.target), state.deadlineAt, asked).pipe(
            Effect.tap((response) => settleTokens(member.target, requiredOn(state, member.target), response.usage, admittedAt))
          )
    ),
    (response: ChatResponse) => ({ usage: response.usage }),
    true,
    undefined,
    asked
  )
}

// ---------------------------------------------------------------------------
// Streams: one member, up to its first content chunk
// ---------------------------------------------------------------------------

/** A stream that has produced its first content: the head chunks and the rest to pull. @internal */
export interface Started {
  readonly member: Member
  /** The attempt on the member that opened the stream. */
  readonly attempt: number
  readonly head: ReadonlyArray<ChatChunk>
  /** The next chunks of the provider's stream (`Right`), or its end (`Left`). */
  readonly pull: Effect.Effect<Either.Either<Chunk.Chunk<ChatChunk>, unknown>, ProviderError>
  /** Records the stream's outcome with its breaker once, then releases its resources. */
  readonly settle: (outcome: "success" | "failure" | "ignored") => Effect.Effect<void>
  readonly startedAt: number
  readonly timeToFirstToken: Duration.Duration
  /** The provider ended the stream before any content: the head is the whole answer. */
  readonly done: boolean
}

/**
 * Opens one member's stream and reads up to its first content chunk, in a
 * scope of its own: a bulkhead slot, then a breaker permit whose release is
 * registered as it is taken (an attempt cut short, by a deadline or a lost
 * race, records `ignored` and frees a half-open probe slot), then the
 * upstream stream. A failure before content records the failure and closes
 * the scope at once; a success hands the scope to the stream, which closes
 * it when it settles.
 *
 * The scope is handed to each resource explicitly rather than provided as
 * the `Scope` service (`Scope.extend`, `acquireRelease`, `Stream.toPull`):
 * this is a stream's hot path, and each of those costs a change of the
 * fiber's context or a capture of its `FiberRef`s.
 */
const streamOnce =
  (shared: Shared, state: RequestState, member: Member) =>
  (attempt: number): Effect.Effect<Started, ProviderError | Rejected | Deadline, Scope.Scope> => {
    const { target } = member
    const { bulkhead } = target
    const open = (scope: Scope.CloseableScope) => Effect.gen(function* () {
      if (bulkhead !== undefined) {
        yield* bulkheadWait(state, bulkhead, (options) => bulkhead.acquireIn(scope, options)).pipe(
          Effect.catchTag("BulkheadRejected", () => Effect.fail(rejectedFrom(target, { _tag: "BulkheadRejected" })))
        )
      }
      // the outcome is recorded once: a failure or the stream's end records it; an attempt
      // cut short records nothing itself, and its release then says ignored, or slow if it lost
      let recorded = false
      /** When the upstream call started; undefined while it has not (e.g. refused by the rate limit). */
      let start: number | undefined = undefined
      const release = (permit: Permit) =>
        Effect.suspend(() => {
          if (recorded) return Effect.void
          recorded = true
          const began = start
          return Effect.flatMap(Clock.currentTimeMillis, (now) =>
            began !== undefined && lostSlow(state, target, now - began)
              ? recordLostSlow(shared, state, target, permit, now - began)
              : permit.record("ignored")
          )
        })
      // the release is registered as the permit is taken, with no interruption between
      const permit = yield* Effect.uninterruptible(
        Effect.tap(admission(state, member, attempt), (permit) => Scope.addFinalizer(scope, release(permit)))
      ).pipe(Effect.catchTag("CircuitOpen", (error) => Effect.fail(rejectedFrom(target, error))))
      // the breaker first: an open breaker takes no room under the rate limit (a limited attempt's release frees its permit)
      yield* admitRate(target, requiredOn(state, target)).pipe(Effect.mapError((error) => rejectedFrom(target, error)))
      const began = yield* Clock.currentTimeMillis
      start = began
      // up to its first content, the stream is bounded by its first-token deadline, or the request's if nearer:
      // kept by the model when its `stream` carries a `StreamWithin` (the HTTP adapters), else by `timeoutFail`
      const firstToken = member.policy.timeouts.firstToken
      const clock = yield* Effect.clock
      const limit = nearerDeadline(clock, state.deadlineAt, Duration.toMillis(firstToken), () =>
        attemptTimeout(member, "first-token", firstToken))
      if (cutByRequest(limit, clock, state.deadlineAt)) return yield* Effect.fail(new Deadline())
      const within = StreamWithin.of(target.model.stream)
      const asked = requestOn(state, target)
      const upstream = within !== undefined ? within(asked, limit.millis, limit.onTimeout) : target.model.stream(asked)
      // the adapters' streams are read without their `Stream` (see `Pullable`), any other through it
      const pull = yield* Pullable.toPullIn(upstream, scope)
      const head: Array<ChatChunk> = []
      const readHead = Effect.gen(function* () {
        while (true) {
          const next = yield* pull
          if (next._tag === "Left") {
            // ended before any content: an empty answer, if it ended as an answer does, with a reason (a
            // terminal event alone, `[DONE]` or `message_stop` with no finish reason before it, said nothing)
            if (!head.some(isReasonedFinish)) return yield* Effect.fail(unfinished(target.info))
            return true
          }
          for (const c of next.right) head.push(c)
          if (Chunk.some(next.right, Chat.isContent)) return false
        }
      })
      const read = yield* Effect.exit(
        within !== undefined
          ? readHead
          : Deadlines.timeoutFail(readHead, { duration: Duration.millis(limit.millis), onTimeout: limit.onTimeout })
      )
      const exit = cutByRequest(limit, clock, state.deadlineAt) ? Exit.fail(new Deadline()) : read
      const elapsed = Duration.millis((yield* Clock.currentTimeMillis) - began)
      if (exit._tag === "Failure") {
        const failure = failureOf(exit.cause, target.info)
        // cut by the request's deadline: ignored, as a call interrupted by it; flagged and recorded as one step, or an
        // interruption between the two would leave the permit (a probe's slot) unrecorded by anyone
        yield* Effect.uninterruptible(Effect.suspend(() => {
          recorded = true
          return permit.record(failure === undefined || failure._tag === "Deadline" ? "ignored" : classify(failure), elapsed)
        }))
        return yield* Effect.failCause(exit.cause)
      }
      // the breaker judges a stream by its first content, not by its length: a long answer written at its
      // usual pace is not a slow provider (a stall after it is the idle timeout's failure)
      const settle = (outcome: "success" | "failure" | "ignored") =>
        Effect.uninterruptible(Effect.suspend(() => {
          recorded = true
          return Effect.zipRight(permit.record(outcome, elapsed), closeStream(scope, target))
        }))
      // a half-open probe or a trial holds a slot every other call waits for (goes elsewhere meanwhile): once its
      // first content is in, the slot is given back, its outcome still counted at its end (found by a review: a
      // reader that stopped reading kept a recovered target out of rotation for minutes)
      if (permit.holdsSlot) yield* permit.freeSlot
      // Past the first content the head's deadline no longer applies: a `StreamWithin` stream applies it until
      // the first chunk that `Chat.isContent` says is content, the chunk `readHead` stops at (`decodeSse`'s
      // `sawContent`), and then keeps its own idle deadline; without one, `timeoutFail` ended here, and each
      // gap is bounded by the policy's idle deadline, so a model of one's own that stalls cannot hold a stream for ever.
      const rest = (within !== undefined ? pull : idleBounded(pull, member)) as Started["pull"]
      // it answered: if its answer is dropped before the stream is handed on (the request cancelled while its
      // group's fallback events go out, say), its release records it ignored, not as a slow loser
      start = undefined
      return { member, attempt, head, pull: rest, settle, startedAt: began, timeToFirstToken: elapsed, done: exit.value } satisfies Started
    })
    const opened = Effect.flatMap(Scope.Scope, (parent) =>
      Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (scope) =>
        Effect.onExit(open(scope), (exit) => (Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit)))
      )
    )
    // an attempt that lost its race while its first content was being reported lets its stream go at once
    return observed(shared, state, member, attempt, opened, () => ({}), false, dropStream)
  }

/** A stream's pulls after its first content, each failing with `Timeout` (`idle`) past the member's idle deadline. */
const idleBounded = <A, E>(pull: Effect.Effect<A, E>, member: Member): Effect.Effect<A, E | Timeout> => {
  const idle = member.policy.timeouts.idle
  return Deadlines.timeoutFail(pull, { duration: idle, onTimeout: () => attemptTimeout(member, "idle", idle) })
}

/** Lets go of a stream opened for an answer that was dropped: ignored by its breaker, its resources released. */
const dropStream = (started: Started): Effect.Effect<void> => started.settle("ignored")

/**
 * Closes a stream's scope once the stream has settled: a provider's
 * finalizer that dies then (its body's release, say) is logged, by its class
 * and place, and the stream ends as it had, its answer whole.
 */
const closeStream = (scope: Scope.CloseableScope, target: Target): Effect.Effect<void> =>
  Effect.catchAllDefect(Scope.close(scope, Exit.void), (defect) =>
    Effect.logWarning(`router: ${target.name}'s stream died as it was closed: ${Defect.describe(defect)}`))

const isFinish = (chunk: ChatChunk): boolean => chunk._tag === "Finish"

/** A finish that says why the answer ended (not one a wire's terminal event made up: see `unfinished`). */
const isReasonedFinish = (chunk: ChatChunk): boolean => chunk._tag === "Finish" && chunk.reason !== "unknown"

/**
 * A stream that ended without its `Finish` chunk: cut short, whatever ended
 * it. The HTTP adapters fail such a stream themselves (at the body's end
 * before the wire's terminal event); this catches any other model's, and
 * one that ended before any content with no finish reason (a wire's
 * terminal event alone: nothing was answered).
 */
const unfinished = (info: ModelInfo) =>
  new MalformedResponse({
    provider: info.provider,
    model: info.model,
    message: `${info.provider}/${info.model}'s stream ended without its Finish chunk`
  })

/** How a provider error counts for the breaker: the request's own faults are ignored. @internal */
export const classify = (error: ProviderError): "failure" | "ignored" =>
  error._tag === "InvalidRequest" || error._tag === "ContentFiltered" || error._tag === "ContextLengthExceeded"
    ? "ignored"
    : "failure"

// ---------------------------------------------------------------------------
// Steps and the chain
// ---------------------------------------------------------------------------

type Runner<A, R> = (member: Member) => Effect.Effect<A, Next | Fatal | Deadline, R>

interface Step<A, R> {
  readonly first: Member
  readonly run: Effect.Effect<A, Next | Fatal | Deadline, R>
}

/**
 * Runs a group of members together (a race or a hedge). A fatal error from
 * any of them ends the whole group at once, as it would end a sequential
 * chain: the request itself is at fault, so no other target may answer it.
 * So does the request's deadline: the calls it cut short, and any other
 * still running, are then in flight for its record. A member that answers
 * after others failed is a fallback from each of them, and says so
 * (`Fallback`), as the steps of a sequential chain do; one that only
 * answered first, none having failed, is not. The events go out once the
 * group has ended (the losers interrupted): a listener's effect must not
 * hold the losers running, where one could still end the group.
 */
/** The member of a race or hedge that answered, its answer, and the failures it answered after. */
interface Won<A> {
  readonly value: A
  readonly member: Member
  readonly after: ReadonlyArray<{ readonly target: string; readonly reason: string }>
}

const group = <A, R>(
  shared: Shared,
  state: RequestState,
  members: ReadonlyArray<Member>,
  run: Runner<A, R>,
  together: <W>(alternatives: ReadonlyArray<Effect.Effect<W, Next, R>>) => Effect.Effect<W, unknown, R>
): Effect.Effect<A, Next | Fatal | Deadline, R> =>
  Effect.gen(function* () {
    const fatal = yield* Deferred.make<never, Fatal | Deadline>()
    const failed: Array<{ readonly target: string; readonly reason: string }> = []
    // the group's attempts are those recorded from here on
    const firstAttempt = state.attempts.length
    const alternatives = members.map((member) =>
      run(member).pipe(
        Effect.map((value): Won<A> => {
          // set before the losers are interrupted, so each can tell it lost (see `lostSlow`)
          state.groupWon = true
          // the failures it answered after, as they stand now: their events go out once the group has ended
          return { value, member, after: [...failed, ...retrying(state, firstAttempt, member, failed)] }
        }),
        Effect.catchAll((error) =>
          error._tag === "Next"
            ? Effect.zipRight(Effect.sync(() => failed.push({ target: member.target.name, reason: error.reason })), Effect.fail(error))
            : Effect.zipRight(Deferred.fail(fatal, error), Effect.never)
        )
      )
    )
    // the group's fibers fail as it handles them: no "unhandled error" line for each (see `handled`). The
    // first of the group and a fatal error to end wins; `raceAll`, not `raceFirst`: a request interrupted
    // meanwhile (its caller gone) interrupts and awaits the group before its scope closes, where
    // `raceFirst` left the members running until the request's fiber ended, a stream one was opening
    // then opened in a closed scope and never closed
    const won = yield* handled((asCaller) => {
      const ends: ReadonlyArray<Effect.Effect<Exit.Exit<Won<A>, Next | Fatal | Deadline>, never, R>> = [
        Effect.exit(
          together(alternatives.map(asCaller)).pipe(
            Effect.mapError(
              () =>
                new Next({
                  target: members.map((m) => m.target.name).join("+"),
                  reason: failed.at(-1)?.reason ?? "failed",
                  members: failed.slice()
                })
            )
          )
        ),
        Effect.exit(Deferred.await(fatal))
      ]
      return Effect.flatMap(Effect.raceAll(ends), (ended) => ended)
    })
    for (const { target, reason } of won.after) yield* fallbackEvent(shared, state, target, won.member.target.name, reason)
    return won.value
  })

/**
 * The group's members that had failed an attempt but were still retrying
 * when `winner` answered, each with its last failure's reason: the
 * request's meta counts them as fallbacks (it counts every target tried
 * but the one that served), so they are fallbacks to the winner as well.
 */
const retrying = (
  state: RequestState,
  firstAttempt: number,
  winner: Member,
  failed: ReadonlyArray<{ readonly target: string }>
): Array<{ readonly target: string; readonly reason: string }> => {
  if (state.attempts.length === firstAttempt) return []
  const last = new Map<string, string>()
  for (let i = firstAttempt; i < state.attempts.length; i++) {
    const { target, error } = state.attempts[i]!
    if (error !== undefined && target !== winner.target.name) last.set(target, error._tag === "Rejected" ? error.reason : error._tag)
  }
  for (const { target } of failed) last.delete(target)
  return Array.from(last, ([target, reason]) => ({ target, reason }))
}

/** Races the members at once: the first success wins and the losers are interrupted. */
const raceStep = <A, R>(shared: Shared, state: RequestState, members: ReadonlyArray<Member>, run: Runner<A, R>): Step<A, R> => ({
  first: members[0]!,
  run: group(shared, state, members, run, (alternatives) => Effect.raceAll(alternatives))
})

/** Hedges the members: the next starts after the delay (if its budget allows), or at once when one fails. */
const hedgeStep = <A, R>(
  shared: Shared,
  state: RequestState,
  members: ReadonlyArray<Member>,
  hedge: Policy.HedgePolicy,
  run: Runner<A, R>
): Step<A, R> => ({
  first: members[0]!,
  run: Effect.gen(function* () {
    const delay = hedge.delay === "p95" ? yield* p95Delay(shared, members[0]!) : Duration.decode(hedge.delay)
    state.hedgeDelay = Duration.toMillis(delay)
    let started = 0
    // a delay-triggered hedge spends the budget of the target it would start
    const allow = Effect.suspend(() => spend(shared, state, members[Math.min(started, members.length - 1)]!.target))
    // a member's failed attempt starts the next at once, without waiting for its backoff
    const failedAttempts = yield* Queue.unbounded<number>()
    state.attemptFailed = (member) => {
      const index = members.indexOf(member)
      return index < 0 ? Effect.void : Queue.offer(failedAttempts, index)
    }
    return yield* group(shared, state, members, (member) => Effect.suspend(() => (started++, run(member))), (alternatives) =>
      Hedge.run(alternatives as [(typeof alternatives)[number], ...typeof alternatives], {
        delay,
        allow,
        failedAttempts: Queue.take(failedAttempts)
      })
    ).pipe(Effect.ensuring(Effect.sync(() => (state.attemptFailed = undefined))))
  })
})

/** The primary's observed p95 latency; 2 seconds while it has no successful call in its window. */
const p95Delay = (shared: Shared, member: Member) =>
  Effect.map(shared.health.snapshot(member.target.name), (snapshot) =>
    Option.match(snapshot.latency, { onNone: () => Duration.seconds(2), onSome: (q) => q.p95 })
  )

/** Splits the ordered members into steps by the chain's race and hedge settings. */
const steps = <A, R>(shared: Shared, state: RequestState, ordered: ReadonlyArray<Member>, run: Runner<A, R>): Array<Step<A, R>> => {
  const { chain } = state
  const result: Array<Step<A, R>> = []
  let rest = ordered
  if (chain.race > 1 && ordered.length > 1) {
    result.push(raceStep(shared, state, ordered.slice(0, chain.race), run))
    rest = ordered.slice(chain.race)
  } else if (chain.hedge !== undefined && ordered.length > 1) {
    const size = 1 + (chain.hedge.maxHedges ?? 1)
    result.push(hedgeStep(shared, state, ordered.slice(0, size), chain.hedge, run))
    rest = ordered.slice(size)
  }
  for (const member of rest) result.push({ first: member, run: run(member) })
  return result
}

const fallbackEvent = (shared: Shared, state: RequestState, from: string, to: string, reason: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (at) =>
    emit(shared, { _tag: "Fallback", chain: state.chain.name, requestId: state.id, correlationId: state.correlationId, at, from, to, reason })
  )

/** Folds the steps with `orElse` semantics: `Next` moves on (and says so), fatal errors end the chain. */
const fold = <A, R>(
  shared: Shared,
  state: RequestState,
  all: ReadonlyArray<Step<A, R>>
): Effect.Effect<A, Next | Fatal | Deadline, R> =>
  all.reduce<Effect.Effect<A, Next | Fatal | Deadline, R> | undefined>(
    (chain, step) =>
      chain === undefined
        ? step.run
        : Effect.catchTag(chain, "Next", (previous) =>
            Effect.zipRight(
              previous.members === undefined
                ? fallbackEvent(shared, state, previous.target, step.first.target.name, previous.reason)
                : Effect.forEach(previous.members, (m) => fallbackEvent(shared, state, m.target, step.first.target.name, m.reason), {
                  discard: true
                }),
              step.run
            )
          ),
    undefined
  ) ?? Effect.fail(new Next({ target: state.chain.name, reason: "empty chain" }))

/**
 * When no member of the chain would admit a call (every breaker open or
 * isolated, none half-open with a probe running) nobody would probe until
 * the nearest deadline passes, and every request would fail meanwhile. So
 * one request at a time per chain probes early: the member whose open
 * deadline is nearest goes first, and its first attempt takes an early
 * probe (`acquireProbe`). Its retries, and every other member, are refused
 * by their breakers as before, so such a request makes at most one upstream
 * call, and the chain at most one at a time, and at most one a second
 * (`earlyProbeSpacing`): a recovery is found within a second, and a chain
 * whose providers are all down sends them one call a second, whatever the
 * traffic. A breaker held open by a server's Retry-After (`forceOpen`) is
 * never probed early: the server said when to come back; nor is a member
 * whose policy says `probeWhenAllOpen: false`.
 */
/** The least time between two early probes of one chain, in ms. */
const earlyProbeSpacing = 1_000

const earlyProbe = (state: RequestState, ordered: ReadonlyArray<Member>): Effect.Effect<ReadonlyArray<Member>> =>
  Effect.gen(function* () {
    const { chain } = state
    if (chain.probing.inFlight) return ordered
    // on the monotonic clock: a wall clock put back (NTP, a resumed VM) would hold every early probe back until it caught up
    const now = monotonicMillis(yield* Effect.clock)
    if (now - chain.probing.lastAt < earlyProbeSpacing) return ordered
    let nearest: { readonly member: Member; readonly openUntil: number } | undefined = undefined
    for (const member of ordered) {
      if (!serves(state, member.target)) continue
      const snapshot = yield* member.target.breaker.snapshot
      switch (snapshot.state) {
        case "closed":
        case "half-open":
          // a call would be admitted, or a probe is already running
          return ordered
        case "open":
          // held open by a server's Retry-After: it said when to come back; or kept out by its policy
          if (snapshot.forcedUntil !== undefined || member.policy.breaker.probeWhenAllOpen === false) break
          if (nearest === undefined || snapshot.openUntil! < nearest.openUntil) {
            nearest = { member, openUntil: snapshot.openUntil! }
          }
          break
        case "isolated":
          break
      }
    }
    // the check and the claim are one synchronous step: no other request can claim in between
    if (nearest === undefined || chain.probing.inFlight || now - chain.probing.lastAt < earlyProbeSpacing) return ordered
    chain.probing.inFlight = true
    chain.probing.lastAt = now
    state.earlyProbe = nearest.member
    return [nearest.member, ...ordered.filter((member) => member !== nearest.member)]
  })

/**
 * The room a retry after `error` needs before the request's deadline: after
 * an attempt (or a stream's first token) that timed out, as long again, so
 * that a target that hangs is not called again to be cut by the deadline
 * when the chain's next target could use that time.
 */
const timedOutRoom = (error: unknown): number =>
  error instanceof Timeout && (error.phase === "attempt" || error.phase === "first-token") && error.after !== undefined
    ? Duration.toMillis(error.after)
    : 0

/**
 * The retry deadline of a member's attempts: the request's, without the
 * room a timed-out attempt keeps for the next target (`timedOutRoom`) when
 * no target that could take the request comes after the member's step,
 * which then uses the time left itself.
 */
const retryDeadlineOf = (state: RequestState, member: Member): Retry.RetryDeadline<Deadline> | undefined => {
  const deadline = state.retryDeadline
  if (deadline === undefined || !lastStep(state, member)) return deadline
  return { at: deadline.at, onDeadline: deadline.onDeadline }
}

/**
 * Whether no target that could take the request comes after the member's
 * step in the request's order (see `steps`: a race or hedge is one step),
 * as `isLastResort` says of a member alone.
 */
const lastStep = (state: RequestState, member: Member): boolean => {
  const { ordered, chain, unavailable } = state
  const at = ordered.indexOf(member)
  const group = chain.race > 1 ? chain.race : chain.hedge !== undefined ? 1 + (chain.hedge.maxHedges ?? 1) : 1
  for (let i = group > 1 && ordered.length > 1 && at < group ? group : at + 1; i < ordered.length; i++) {
    const later = ordered[i]!
    if (unavailable?.has(later) !== true && serves(state, later.target)) return false
  }
  return true
}

/**
 * Runs the chain under its total deadline; calls in flight when it passes
 * are recorded as `Timeout(total)`.
 *
 * The deadline is kept by what the chain waits for, not by a fiber forked
 * to run the chain (a fork and a join of every request): each call is
 * given what is left of it when that is nearer than its own deadline, and
 * a call bounded by it that ends as it passes is cut by it, whatever its
 * outcome (see `completeInTime`, `streamOnce`, `cutByRequest`); a retry
 * due past it is not made, and the request moves on to its next target at
 * once (`Retry.makeBounded`); a bulkhead's queue waits no
 * longer than it (`bulkheadWait`); no attempt and no call starts after it
 * (`runMember`, `cutByRequest`). Whatever reaches it first fails with
 * `Deadline`, which ends the chain. The rest of the chain's steps do not
 * wait: the breakers, budgets, limiters and health keep their state in the
 * process (a shared store mirrors it in the background). An effect
 * returned by a synchronous event listener (`Router.listen`) runs to its
 * end: a slow one holds the request past its deadline (no call starts
 * after it), where the forked chain was cut in the listener's effect.
 */
const runChain = <A, R>(shared: Shared, state: RequestState, run: Runner<A, R>): Effect.Effect<A, Next | Fatal, R> =>
  Effect.gen(function* () {
    // a chain that took a request over ends by the request's deadline, if that is nearer than its own
    state.deadlineAt = Math.min(
      monotonicMillis(yield* Effect.clock) + Duration.toMillis(state.chain.total),
      state.deadline?.at ?? Infinity
    )
    state.retryDeadline = { at: state.deadlineAt, onDeadline: deadlinePassed, room: timedOutRoom }
    const { ordered: byStrategy, unavailable } = yield* order(shared, state.chain, state.request)
    state.unavailable = unavailable
    if (unavailable === undefined) {
      // every breaker admitting a call, no member is open: nothing to probe early, no early probe to release
      state.ordered = byStrategy
      return yield* fold(shared, state, steps(shared, state, byStrategy, run))
    }
    // the probe this request may claim is released however it ends (the release set up before the claim)
    return yield* Effect.ensuring(
      Effect.flatMap(earlyProbe(state, byStrategy), (ordered) => {
        state.ordered = ordered
        return fold(shared, state, steps(shared, state, ordered, run))
      }),
      releaseProbe(state)
    )
  }).pipe(
    Effect.catchTag("Deadline", () =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        for (const [member, start] of state.inFlight) {
          record(
            state,
            member.target,
            Duration.millis(now - start),
            new Timeout({
              provider: member.target.info.provider,
              model: member.target.info.model,
              message: `the request's deadline of ${Duration.format(state.chain.total)} passed`,
              phase: "total",
              after: state.chain.total
            })
          )
        }
        state.inFlight.clear()
        return Effect.fail(new Next({ target: state.chain.name, reason: "deadline" }))
      })
    )
  )

const distinctTargets = (attempts: ReadonlyArray<Attempt>, except?: string) => {
  const seen = new Set<string>()
  for (const attempt of attempts) if (attempt.target !== except) seen.add(attempt.target)
  return seen.size
}

/** Fallbacks of a request nobody served: every target it moved on from, so one less than it tried. */
const failedFallbacks = (attempts: ReadonlyArray<Attempt>) => Math.max(0, distinctTargets(attempts) - 1)

const metaFor = (state: RequestState, member: Member, usage: Usage, now: number): Meta => {
  const first = state.chain.members[0]!.target
  const cost = priceOf(member.target.info.price, usage)
  const meta: Meta = {
    chain: state.chain.name,
    target: member.target.name,
    provider: member.target.info.provider,
    model: member.target.info.model,
    attempts: state.attempts,
    fallbacks: distinctTargets(state.attempts, member.target.name),
    latency: Duration.millis(now - state.startedAt),
    usage,
    cost,
    costDelta: cost - priceOf(first.info.price, usage)
  }
  return state.billed.length === 0 ? meta : withBilled(meta, state.billed)
}

/** A meta with what other targets billed before (see `Meta.billed`) in its usage, cost and parts. */
const withBilled = (meta: Meta, parts: ReadonlyArray<BilledPart>): Meta => ({
  ...meta,
  usage: parts.reduce((usage, part) => Chat.addUsage(usage, part.usage), meta.usage),
  cost: parts.reduce((cost, part) => cost + part.cost, meta.cost),
  billed: [...(meta.billed ?? []), ...parts]
})

/** The share of the request the meta's target billed, as a part of another's answer. */
const partOf = (meta: Meta): BilledPart => ({ target: meta.target, provider: meta.provider, model: meta.model, usage: meta.usage, cost: meta.cost })

/**
 * The metadata of a request that ends with a provider's stop of its own
 * answer, when the provider said what it billed: who stopped it, its usage
 * and cost, as a stream cut after content reports them, so that the cost
 * report counts what the provider charged. Otherwise none.
 */
const stoppedMeta = (state: RequestState, failure: Fatal): Effect.Effect<Meta | undefined> => {
  if (!isStoppedAnswer(failure) || failure.usage === undefined) return Effect.succeed(undefined)
  const usage = failure.usage
  // the attempt that stopped is the request's last
  const last = state.attempts[state.attempts.length - 1]
  const member = last === undefined ? undefined : state.chain.members.find((m) => m.target.name === last.target)
  return member === undefined ? Effect.succeed(undefined) : Effect.map(Clock.currentTimeMillis, (now) => metaFor(state, member, usage, now))
}

/** What a request hands its content-policy chain: with the answer its provider stopped, if it said what it billed. */
const handedOver = (state: RequestState, failure: Fatal | Next | Deadline): Effect.Effect<Inherited> => {
  // the request's total deadline goes with it: "across all attempts and targets", its chain's and the next
  const deadline = state.deadline ?? { at: state.deadlineAt, total: state.chain.total }
  return failure._tag === "Next" || failure._tag === "Deadline"
    ? Effect.succeed({ ...inherit(state), deadline })
    : Effect.map(stoppedMeta(state, failure), (stopped) => ({
        ...inherit(state, stopped === undefined ? {} : { billed: [...state.billed, partOf(stopped)] }),
        deadline
      }))
}

const exhausted = (state: RequestState, deadline: boolean) =>
  new ChainExhausted({
    chain: state.chain.name,
    message: `every target of chain "${state.chain.name}" failed: ${summary(state.attempts)}${
      deadline ? `; the request's deadline of ${Duration.format(totalInForce(state))} passed` : ""
    }`,
    attempts: state.attempts,
    ...(deadline ? { deadlinePassed: true } : {})
  })

/** The total whose deadline the chain keeps: its own, or the one of the request it took over when that ends first. */
const totalInForce = (state: RequestState): Duration.Duration =>
  state.deadline !== undefined && state.deadlineAt === state.deadline.at ? state.deadline.total : state.chain.total

const summary = (attempts: ReadonlyArray<Attempt>) => {
  const last = new Map<string, string>()
  for (const attempt of attempts) {
    if (attempt.error !== undefined) {
      last.set(attempt.target, attempt.error._tag === "Rejected" ? attempt.error.reason : attempt.error._tag)
    }
  }
  return [...last].map(([target, reason]) => `${target} (${reason})`).join(", ") || "no target was tried"
}

/** Degraded mode: the last good answer to this request, or the chain's static answer. */
/**
 * The part of degraded mode's cache a request reads and fills: its chain's,
 * and its tenant's within it (the chain's name framed by its length, so
 * that no two pairs read the same).
 */
const cachePartition = (state: RequestState): string =>
  state.tenant === undefined ? state.chain.name : `${state.chain.name.length}:${state.chain.name}${state.tenant}`

const degraded = (shared: Shared, state: RequestState) =>
  Effect.gen(function* () {
    if (!state.degradedAllowed) return Option.none<{ response: ChatResponse; meta: Meta }>()
    const cached = shared.cache === undefined ? undefined : yield* shared.cache.get(state.request, cachePartition(state))
    // the static answer is prose: never the answer to a request for JSON
    const staticAnswer = state.request.responseFormat === undefined ? state.chain.fallbackResponse : undefined
    const source = cached !== undefined ? "cache" : staticAnswer !== undefined ? "static" : undefined
    if (source === undefined) return Option.none<{ response: ChatResponse; meta: Meta }>()
    const now = yield* Clock.currentTimeMillis
    const response: ChatResponse = cached ?? {
      id: `degraded-${state.id}`,
      provider: "degraded",
      model: "static",
      text: staticAnswer!,
      toolCalls: [],
      finishReason: "stop",
      usage: { inputTokens: 0, outputTokens: 0 }
    }
    yield* emit(shared, { _tag: "DegradedResponse", chain: state.chain.name, requestId: state.id, correlationId: state.correlationId, at: now, source })
    const meta: Meta = {
      chain: state.chain.name,
      target: source,
      provider: response.provider,
      model: response.model,
      attempts: state.attempts,
      // degraded mode answered: every target tried was moved on from
      fallbacks: distinctTargets(state.attempts),
      latency: Duration.millis(now - state.startedAt),
      usage: { inputTokens: 0, outputTokens: 0 },
      cost: 0,
      costDelta: 0,
      degraded: source
    }
    // what an answer stopped on content policy billed before this chain took over is still the request's cost
    return Option.some({ response, meta: state.billed.length === 0 ? meta : withBilled(meta, state.billed) })
  })

type Outcome = "success" | "degraded" | "failure" | "cancelled"

const finished = (shared: Shared, state: RequestState, outcome: Outcome, meta?: Meta) =>
  state.quiet
    ? Effect.void
    : emitAt(shared, (at) => ({
          _tag: "RequestFinished",
          // the chain the request was made on, as the caller (and a metric or alert per chain) knows it
          chain: state.requestChain,
          ...(state.requestChain === state.chain.name ? {} : { servingChain: state.chain.name }),
          requestId: state.id,
          correlationId: state.correlationId,
          at,
          outcome,
          ...(meta === undefined || meta.degraded !== undefined ? {} : { target: meta.target, provider: meta.provider, model: meta.model, usage: meta.usage }),
          // what targets billed before this chain took over, when none of its own answered
          ...(meta?.billed !== undefined ? { billed: meta.billed } : state.billed.length > 0 && meta === undefined ? { billed: state.billed } : {}),
          fallbacks: meta?.fallbacks ?? failedFallbacks(state.attempts),
          latency: Duration.millis(at - state.startedAt),
          cost: meta !== undefined ? meta.cost : state.billed.reduce((cost, part) => cost + part.cost, 0),
          costDelta: meta?.costDelta ?? 0,
          ...(Option.isSome(state.parentSpan) ? { parentSpan: state.parentSpan.value } : {})
        }))

/**
 * Sends a sampled copy of a served request to the chain's next target, in
 * the background, to keep its health data fresh. Only to a target whose
 * breaker is closed, whose bulkhead has a free slot and whose rate limit
 * has room (which it takes, as a request does); bounded by its attempt
 * timeout; its outcome feeds health, never the breaker.
 */
const shadow = (shared: Shared, state: RequestState, served: Member) =>
  Effect.gen(function* () {
    if (shared.shadowRate <= 0) return
    if ((yield* Random.next) >= shared.shadowRate) return
    const member = state.chain.members.find((m) => m !== served && serves(state, m.target))
    if (member === undefined) return
    const { target } = member
    // closed, and no trial running (a closed breaker with a probe in flight holds its other calls back)
    const breaker = yield* target.breaker.snapshot
    if (breaker.state !== "closed" || breaker.probesInFlight > 0) return
    if (target.bulkhead !== undefined && (yield* target.bulkhead.stats).available === 0) return
    // bounded by its attempt deadline only: the request it copies has been served
    const asked = completeInTime(member, requestOn(state, target), Infinity)
    // the target's provider counts it against its quota as any other request: room under its rate limit, or no call
    const call = target.limiter === undefined ? asked : limitedCall(target, requiredOn(state, target), asked)
    const measured = Effect.gen(function* () {
      const start = yield* Clock.currentTimeMillis
      // a free slot or none: never a place in its queue, which a request of the target's own may need
      const exit = yield* Effect.exit(target.bulkhead === undefined ? call : target.bulkhead.run(call, noWait))
      const end = yield* Clock.currentTimeMillis
      const latency = Duration.millis(end - start)
      if (exit._tag === "Success") {
        yield* shared.health.record(target.name, { success: true, latency })
        yield* emit(shared, {
          _tag: "AttemptSucceeded",
          ...targetFields(state, target),
          at: end,
          attempt: 1,
          duration: latency,
          usage: exit.value.usage,
          cost: priceOf(target.info.price, exit.value.usage),
          shadow: true
        })
        return
      }
      const failure = failureOf(exit.cause, target.info)
      // (no `Deadline`: a shadow call has none but its attempt's)
      const counts = failure !== undefined && failure._tag !== "BulkheadRejected" && failure._tag !== "Deadline" &&
        failure._tag !== "TargetLimited"
      if (counts && countsForHealth(failure)) {
        yield* shared.health.record(target.name, { success: false, latency })
      }
    })
    yield* Effect.forkIn(measured, shared.scope)
  })

/** `call` with room for about `tokens` tokens under the target's rate limit, its real usage counted once it answers. */
const limitedCall = <E>(target: Target, tokens: number, call: Effect.Effect<ChatResponse, E>) =>
  Effect.flatMap(Clock.currentTimeMillis, (admittedAt) =>
    Effect.zipRight(
      admitRate(target, tokens),
      Effect.tap(call, (response) => settleTokens(target, tokens, response.usage, admittedAt))
    ))

/** A bulkhead's admission that takes a free slot or is refused at once (see `AcquireOptions.queueTimeout`). */
const noWait = { queueTimeout: Duration.zero } as const

/** Hands a request refused on content policy to the chain's content-policy chain, as one request. */
const contentPolicyChain = (shared: Shared, state: RequestState, failure: Fatal | Next, depth: number) => {
  if (failure._tag !== "ContentFiltered" || state.chain.contentPolicy === undefined || depth > 0) return undefined
  const next = shared.chains.get(state.chain.contentPolicy)
  if (next === undefined) return undefined
  const from = state.attempts.at(-1)?.target ?? state.chain.name
  return { next, announce: fallbackEvent(shared, state, from, next.members[0]!.target.name, "ContentFiltered") }
}

/** One completion through a chain. @internal */
export const complete = (
  shared: Shared,
  chain: Chain,
  request: ChatRequest,
  depth = 0,
  inherited?: Inherited,
  origin?: Origin
): Effect.Effect<{ readonly response: ChatResponse; readonly meta: Meta }, ChainError> =>
  Effect.gen(function* () {
    const state = yield* newState(shared, chain, request, inherited, origin)
    const exit = yield* Effect.exit(
      runChain(shared, state, (member) =>
        runMember(shared, state, member, completeOnce(shared, state, member)).pipe(Effect.map((response) => ({ response, member })))
      ).pipe(Effect.onInterrupt(() => finished(shared, state, "cancelled")))
    )
    if (exit._tag === "Success") {
      const { response, member } = exit.value
      const meta = metaFor(state, member, response.usage, yield* Clock.currentTimeMillis)
      if (shared.cache !== undefined) yield* shared.cache.set(request, response, cachePartition(state))
      yield* finished(shared, state, "success", meta)
      if (shared.shadowRate > 0) yield* shadow(shared, state, member)
      return { response, meta }
    }
    const failure = Option.getOrUndefined(Chunk.head(Cause.failures(exit.cause)))
    if (failure === undefined) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
    const handOver = contentPolicyChain(shared, state, failure, depth)
    if (handOver !== undefined) {
      yield* handOver.announce
      return yield* complete(shared, handOver.next, request, depth + 1, yield* handedOver(state, failure))
    }
    if (failure._tag !== "Next") {
      yield* finished(shared, state, "failure", yield* stoppedMeta(state, failure))
      return yield* Effect.fail(failure)
    }
    const fallback = yield* degraded(shared, state)
    if (Option.isSome(fallback)) {
      yield* finished(shared, state, "degraded", fallback.value.meta)
      return fallback.value
    }
    yield* finished(shared, state, "failure")
    return yield* Effect.fail(exhausted(state, failure.reason === "deadline"))
  })

// ---------------------------------------------------------------------------
// Streaming through a chain
// ---------------------------------------------------------------------------

/** A started stream: its metadata so far, the chunks, and the final metadata once it ends. @internal */
export interface StreamStart {
  readonly meta: Meta
  readonly chunks: Stream.Stream<ChatChunk, StreamInterrupted>
  readonly done: Effect.Effect<Meta>
}

/** Starts a stream through a chain, falling back freely until the first content chunk. @internal */
export const stream = (
  shared: Shared,
  chain: Chain,
  request: ChatRequest,
  depth = 0,
  inherited?: Inherited,
  origin?: Origin
): Effect.Effect<StreamStart, ChainError, Scope.Scope> =>
  Effect.gen(function* () {
    const state = yield* newState(shared, chain, request, inherited, origin)
    const exit = yield* Effect.exit(
      runChain(shared, state, (member) => runMember(shared, state, member, streamOnce(shared, state, member))).pipe(
        Effect.onInterrupt(() => finished(shared, state, "cancelled"))
      )
    )
    if (exit._tag === "Success") return yield* streamFrom(shared, state, exit.value, depth)
    const failure = Option.getOrUndefined(Chunk.head(Cause.failures(exit.cause)))
    if (failure === undefined) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
    const handOver = contentPolicyChain(shared, state, failure, depth)
    if (handOver !== undefined) {
      yield* handOver.announce
      return yield* stream(shared, handOver.next, request, depth + 1, yield* handedOver(state, failure))
    }
    if (failure._tag !== "Next") {
      yield* finished(shared, state, "failure", yield* stoppedMeta(state, failure))
      return yield* Effect.fail(failure)
    }
    const fallback = yield* degraded(shared, state)
    if (Option.isSome(fallback)) {
      const { response, meta } = fallback.value
      yield* finished(shared, state, "degraded", meta)
      return {
        meta,
        chunks: Stream.make<Array<ChatChunk>>({ _tag: "TextDelta", text: response.text }, { _tag: "Finish", reason: "stop" }),
        done: Effect.succeed(meta)
      } satisfies StreamStart
    }
    yield* finished(shared, state, "failure")
    return yield* Effect.fail(exhausted(state, failure.reason === "deadline"))
  })

/**
 * The usage of a stream: what the provider reported; for a stream cut (or
 * left) before it reported a count, an estimate in its place: the prompt's
 * (`Tokens.estimate`), and the output's from the text and the tool calls'
 * names and arguments sent, four characters a token. A count the provider
 * sent is its own, exact as far as it goes (a prompt counted at the start,
 * Gemini's running counts, the final count of an answer stopped on policy),
 * and kept with its cache counts.
 */
const usageOf = (request: ChatRequest, acc: ReturnType<typeof Chat.accumulator>, ended: boolean): Usage => {
  const response = acc.response()
  const reported = response.usage
  if (ended || (reported.inputTokens > 0 && reported.outputTokens > 0)) return reported
  let chars = response.text.length
  for (const call of response.toolCalls) chars += call.name.length + call.arguments.length
  return {
    ...reported,
    inputTokens: reported.inputTokens > 0 ? reported.inputTokens : Tokens.estimate(request),
    outputTokens: reported.outputTokens > 0 ? reported.outputTokens : Math.ceil(chars / 4)
  }
}

/**
 * The metadata of a stream that resumed on another target: both parts, as
 * one request, the cut part billed by its own target (`cut`, beside what
 * others billed before, `first.billed`: an answer stopped on content policy
 * before the chain took the request over), the rest's
 * extra cost over the chain's first target (`chainFirst`: the continuation
 * runs on the chain without the cut target, whose first may be itself).
 */
const joined = (first: Meta, cut: BilledPart, resumed: Meta, chainFirst: Target): Meta => ({
  ...resumed,
  chain: first.chain,
  attempts: resumed.attempts,
  fallbacks: distinctTargets(resumed.attempts, resumed.target),
  latency: resumed.latency,
  usage: Chat.addUsage(first.usage, resumed.usage),
  cost: first.cost + resumed.cost,
  costDelta: first.costDelta + resumed.cost - priceOf(chainFirst.info.price, resumed.usage),
  billed: [...(resumed.billed ?? []), ...(first.billed ?? []), cut],
  continued: true
})

const continuation = (request: ChatRequest, partial: string): ChatRequest => ({
  ...request,
  messages: [
    ...request.messages,
    { role: "assistant", content: partial },
    { role: "user", content: "Continue exactly where your previous message stopped. Do not repeat any of it." }
  ]
})

const streamFrom = (shared: Shared, state: RequestState, started: Started, depth: number) =>
  Effect.gen(function* () {
    const { member } = started
    const acc = Chat.accumulator({ id: `${state.chain.name}-${state.id}`, provider: member.target.info.provider, model: member.target.info.model })
    for (const chunk of started.head) acc.add(chunk)
    const initial = metaFor(state, member, { inputTokens: 0, outputTokens: 0 }, yield* Clock.currentTimeMillis)
    const scope = yield* Scope.Scope
    // A stream that fails mid-way may resume on the next target (opt-in), as its chain says, whether the
    // request named it or was handed to it on content policy, but not a continuation's (`quiet`); the
    // request then finishes when the continuation does. Not a JSON answer: a
    // model held to JSON starts a whole document, and the two halves would not parse.
    const mayContinue = state.chain.continueStreams && !state.quiet && state.request.responseFormat === undefined
    // a provider that stopped its answer on policy, or refused the request, is not overruled by another model
    const continues = (error: ProviderError | undefined) =>
      mayContinue && error !== undefined && error._tag !== "ContentFiltered" && error._tag !== "InvalidRequest"
    let final: Meta = initial
    let ended = started.done
    let settled = false
    /** Whether the request's `RequestFinished` went out (a continuation's end sends it, after this stream settled). */
    let reported = false
    /** The continuation's meta so far, once the stream was handed to one. */
    let resumedSoFar: Effect.Effect<Meta> | undefined = undefined
    /** The cut target's part, once the stream was handed to a continuation. */
    let cut: BilledPart | undefined = undefined
    const finish = (outcome: Outcome, meta: Meta) =>
      Effect.suspend(() => {
        if (reported) return Effect.void
        reported = true
        return finished(shared, state, outcome, meta)
      })

    /**
     * Settles the stream once, however it ends: the provider finished it
     * (success), failed it (failure), or the consumer stopped reading or was
     * interrupted (cancelled: ignored by the breaker and health).
     */
    const settle = (error: ProviderError | undefined) =>
      Effect.suspend(() => {
        if (settled) return Effect.void
        settled = true
        const outcome: Outcome = error !== undefined ? "failure" : ended ? "success" : "cancelled"
        // all of it or none: once `settled` is set, nothing else would finish it
        return Effect.uninterruptible(Effect.gen(function* () {
          yield* started.settle(outcome === "success" ? "success" : outcome === "failure" ? classify(error!) : "ignored")
          const end = yield* Clock.currentTimeMillis
          if (error !== undefined) {
            const duration = Duration.millis(end - started.startedAt)
            const fields = targetFields(state, member.target)
            yield* emit(shared, { _tag: "StreamFailed", ...fields, at: end, attempt: started.attempt, error: recorded(error), duration })
          }
          const usage = usageOf(state.request, acc, ended)
          final = metaFor(state, member, usage, end)
          yield* settleTokens(member.target, requiredOn(state, member.target), usage, started.startedAt)
          if (outcome !== "cancelled" && (error === undefined || countsForHealth(error))) {
            // a stream's latency is its wait for the first content, as for its breaker: the rest is the model
            // writing at its pace, and a long answer would read as a slow target (a p95 hedge's delay, the
            // latency strategy, `degradedLatency`)
            yield* shared.health.record(member.target.name, {
              success: outcome === "success",
              latency: started.timeToFirstToken,
              timeToFirstToken: started.timeToFirstToken
            })
          }
          if (outcome !== "failure" || !continues(error)) yield* finish(outcome, final)
        }))
      })

    const onFailure = (error: ProviderError): Stream.Stream<ChatChunk, StreamInterrupted> => {
      const partial = acc.text()
      const interrupted = (cause: ProviderError, text: string, at: Member) =>
        new StreamInterrupted({
          chain: state.chain.name,
          provider: at.target.info.provider,
          model: at.target.info.model,
          message: `${at.target.name} failed after content was sent: ${cause.message}`,
          partialText: text,
          cause
        })
      if (!continues(error)) return Stream.fail(interrupted(error, partial, member))
      // the continuation's attempts join this request's: count its fallbacks over both
      const failedMeta = (): Meta => ({ ...final, fallbacks: failedFallbacks(state.attempts) })
      // what the cut target billed (`final` holds what others billed before too, which the continuation does not repeat)
      const cutUsage = usageOf(state.request, acc, ended)
      const { info } = member.target
      cut = { target: member.target.name, provider: info.provider, model: info.model, usage: cutUsage, cost: priceOf(info.price, cutUsage) }
      const others: Chain = { ...state.chain, members: state.chain.members.filter((m) => m !== member) }
      const resumed = stream(shared, others, continuation(state.request, partial), depth + 1, inherit(state, { quiet: true, degradedAllowed: false, billed: [] }))
      return Stream.unwrap(
        resumed.pipe(
          Scope.extend(scope),
          // the cut target's fallback, to the target that resumed the stream (those between go out from the continuation)
          Effect.tap((next) => fallbackEvent(shared, state, member.target.name, next.meta.target, error._tag)),
          Effect.tap((next) => Effect.sync(() => (resumedSoFar = next.done))),
          Effect.map((next) =>
            next.chunks.pipe(
              // the caller saw both parts: its partial text is all of it
              Stream.mapError(
                (inner) =>
                  new StreamInterrupted({
                    chain: inner.chain,
                    provider: inner.provider,
                    model: inner.model,
                    message: inner.message,
                    partialText: partial + inner.partialText,
                    cause: inner.cause
                  })
              ),
              Stream.concat(
                Stream.execute(
                  Effect.flatMap(next.done, (resumedMeta) =>
                    Effect.suspend(() => {
                      final = joined(final, cut!, resumedMeta, state.chain.members[0]!.target)
                      return finish("success", final)
                    })
                  )
                )
              ),
              // the continuation failed too: the request's meta covers both parts all the same (its target, attempts, tokens)
              Stream.tapError(() =>
                Effect.flatMap(next.done, (resumedMeta) =>
                  Effect.suspend(() => {
                    final = joined(final, cut!, resumedMeta, state.chain.members[0]!.target)
                    return finish("failure", failedMeta())
                  })
                )
              )
            )
          ),
          Effect.catchAll(() => Effect.as(finish("failure", failedMeta()), Stream.fail(interrupted(error, partial, member))))
        )
      )
    }

    /**
     * A consumer that stopped reading the stream once a continuation had
     * taken it over: the request finishes cancelled, with both parts' meta
     * (the continuation reports no `RequestFinished` of its own).
     */
    const abandoned = Effect.suspend(() => {
      if (reported) return Effect.void
      const resumed = resumedSoFar
      return resumed === undefined
        ? finish("cancelled", final)
        : Effect.flatMap(resumed, (resumedMeta) => finish("cancelled", joined(final, cut!, resumedMeta, state.chain.members[0]!.target)))
    })

    /**
     * The stream after the head, one pull of the provider's stream a read,
     * as one pull (`Pullable`: the gateway reads it without its `Stream`):
     * each read accumulates what it pulled; the end settles the stream
     * (success), as does a failure, which then fails the stream or hands it
     * to its continuation; the stream's scope settles a stream whose
     * consumer stopped reading (cancelled, unless it settled already).
     */
    // A stream its consumer left is settled when its scope closes, as the one that opened it would (its
    // clock, services, span): in the opener's runtime, kept for that. The scope's own finalizer, not
    // `Effect.addFinalizer`, which diffs and patches every `FiberRef` around any stream's finalizer; a
    // stream read to its end has settled and finished already, so its finalizer does nothing; one left while
    // a continuation ran it finishes the request. The same finalizer closes the caller's scope: a consumer
    // that never reads the chunks (never runs their stream) leaves the request there, to finish cancelled.
    const opener = yield* Effect.runtime<never>()
    const left = Effect.suspend(() => (reported ? Effect.void : Effect.provide(settled ? abandoned : settle(undefined), opener)))
    yield* Scope.addFinalizer(scope, left)
    const chunks = Pullable.make((streamScope) =>
      Effect.gen(function* () {
        yield* Scope.addFinalizer(streamScope, left)
        let head = started.head.length === 0 ? undefined : Chunk.unsafeFromArray(started.head.slice())
        /** The continuation's pull, once the provider's stream has failed. */
        let rest: Pullable.Pull<ChatChunk, StreamInterrupted> | undefined = undefined
        let finishSeen = started.head.some(isFinish)
        // once the provider's stream has ended (`ended`), every read is the end
        const end = Effect.zipRight(settle(undefined), Effect.fail(Option.none()))
        // the provider's stream failed: settled as a failure, then failed or handed to its continuation
        const failed = (error: ProviderError) =>
          Effect.zipRight(
            settle(error),
            Effect.flatMap(Scope.extend(Pullable.toPull(onFailure(error)), streamScope), (pull) => {
              rest = pull
              return pull
            })
          )
        const read: Pullable.Pull<ChatChunk, StreamInterrupted> = Effect.suspend(() => {
          if (head !== undefined) {
            const first = head
            head = undefined
            return Effect.succeed(first)
          }
          if (rest !== undefined) return rest
          if (ended) return end
          return Effect.matchCauseEffect(started.pull, {
            onSuccess: (pulled) => {
              if (pulled._tag === "Left") {
                // cut short, unless it ended as an answer does
                if (!finishSeen) return failed(unfinished(member.target.info))
                ended = true
                return end
              }
              for (const chunk of pulled.right) {
                acc.add(chunk)
                if (chunk._tag === "Finish") finishSeen = true
              }
              return Effect.succeed(pulled.right)
            },
            onFailure: (cause) => {
              // a defect is the provider's failure (`failureOf`), as before the first content
              const failure = failureOf(cause, member.target.info)
              // interrupted: the stream's finalizer settles it (cancelled)
              if (failure === undefined) return Effect.failCause(cause as Cause.Cause<never>)
              return failed(failure)
            }
          })
        })
        return read
      })
    )
    return {
      meta: initial,
      chunks,
      done: Effect.sync(() => final)
    } satisfies StreamStart
  })
