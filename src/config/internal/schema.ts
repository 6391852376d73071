/**
 * The config file's schema, piece by piece. The public module
 * (`../Config.ts`) documents the format; this file only defines it.
 *
 * @internal
 */
import { Duration, Option, ParseResult, Redacted, Schema } from "effect"
import { withRules } from "../../llm/internal/withRules.js"
import * as ModelInfo from "../../llm/ModelInfo.js"
import * as Simulated from "../../providers/Simulated.js"
import * as Backoff from "../../resilience/Backoff.js"
import { maxBuckets } from "../../resilience/Health.js"
import { maxWindowCalls } from "../../resilience/internal/window.js"
import type * as Strategy from "../../router/Strategy.js"
import * as RedisUrl from "../../state/internal/url.js"
import { originProblem } from "./origin.js"
import type { RawProblem } from "./problems.js"
import { embeddedReference, HeaderValue, Secret } from "./secret.js"
import { byShape, isRecord, optional, show, struct } from "./shape.js"

// ---------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------

/**
 * The longest duration a file may write. Past a timer's range (24.8 days)
 * a timeout is none already; far past it a duration overflows what reads
 * it (1e308 milliseconds is an infinite number of nanoseconds, which
 * `Duration.format` could not print, nor Node's server take as its
 * `requestTimeout`). A config built by hand may still say "never" with an
 * infinite duration.
 */
const maxDuration = Duration.days(365)

const ConfigDuration = Simulated.ConfigDuration.pipe(
  Schema.filter((d) => !Duration.isFinite(d) || Duration.lessThanOrEqualTo(d, maxDuration) || "must be at most 365 days")
)

const PositiveDuration = ConfigDuration.pipe(
  Schema.filter((d) => Duration.greaterThan(d, Duration.zero) || "must be longer than zero")
)

// A file cannot write an infinite duration; a config built by hand can, and
// the router refuses one where it needs a number (a backoff's or an open
// duration's base, a time window). These filters catch it in `Config.check`.
const finite = (d: Duration.Duration) => Duration.isFinite(d) || "must be finite"

const FiniteDuration = ConfigDuration.pipe(Schema.filter(finite))

const PositiveFiniteDuration = PositiveDuration.pipe(Schema.filter(finite))

const PositiveInt = Schema.Int.pipe(Schema.positive())

const NonNegativeInt = Schema.NonNegativeInt

/** A share between 0 and 1. */
const Share = Schema.Number.pipe(Schema.between(0, 1))

const Name = Schema.String.pipe(Schema.filter((s) => s.length > 0 || "must not be empty"))

/** An address to bind: Node binds every interface for "" (the gateway refuses a blank one at serve, too late). */
const Host = Schema.String.pipe(Schema.filter((s) => s.trim().length > 0 || "must name an address, not be empty"))

const HttpUrl = Schema.String.pipe(
  Schema.filter((s) => {
    if (embeddedReference.test(s)) return "a shell's variable is not read from the file: write the URL itself"
    try {
      const url = new URL(s)
      if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http:// or https:// URL"
      // said without quoting the URL: its password is a secret
      return (url.username === "" && url.password === "") ||
        "a URL's user and password are not sent: give the credentials as apiKey or in headers"
    } catch {
      return "must be an http:// or https:// URL"
    }
  })
)

const nonEmptyRecord = <V extends Schema.Schema.AnyNoContext>(value: V, what: string) =>
  Schema.Record({ key: Schema.String, value }).pipe(
    Schema.filter((record) => Object.keys(record).length > 0 || `at least one ${what} is needed`)
  )

// ---------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------

const Retry = struct("a retry policy (maxAttempts, base, factor, cap, jitter, retryAfterCap, honourRetryAfter)", {
  maxAttempts: optional(PositiveInt),
  base: optional(FiniteDuration),
  factor: optional(Schema.Number.pipe(Schema.finite(), Schema.positive())),
  cap: optional(ConfigDuration),
  jitter: optional(Schema.Literal(...Backoff.jitters)),
  retryAfterCap: optional(ConfigDuration),
  honourRetryAfter: optional(Schema.Boolean)
})

const Timeouts = struct("timeouts (attempt, firstToken, idle, total)", {
  attempt: optional(PositiveDuration),
  firstToken: optional(PositiveDuration),
  idle: optional(PositiveDuration),
  total: optional(PositiveDuration)
})

// a window of calls is kept for every target, a byte a call
const CallCount = PositiveInt.pipe(
  Schema.filter((n) => n <= maxWindowCalls || `a window of calls holds at most ${maxWindowCalls}`)
)
const Window = byShape([CallCount, PositiveFiniteDuration], (input) =>
  typeof input === "number"
    ? CallCount
    : typeof input === "string"
    ? PositiveFiniteDuration
    : `Expected a number of calls (e.g. 20) or a duration (e.g. "1 minute"), actual ${show(input)}`
)

const Threshold = Schema.Number.pipe(
  Schema.filter((n) => (n > 0 && n <= 1) || "must be more than 0 and at most 1")
)

const minimumWithinWindow = {
  reads: ["window", "minimumCalls"],
  check: (rate: { readonly window: number | Duration.Duration; readonly minimumCalls?: number }) =>
    typeof rate.window !== "number" || rate.minimumCalls === undefined || rate.minimumCalls <= rate.window ||
    `minimumCalls (${rate.minimumCalls}) exceeds the window of ${rate.window} calls`
} as const

const FailureRate = withRules(
  struct("a failure-rate trip (threshold, window, minimumCalls)", {
    threshold: Threshold,
    window: Window,
    minimumCalls: optional(PositiveInt)
  }),
  [minimumWithinWindow]
)

const Off = Schema.Literal(false)

/** `false`, or the options of something that can be turned off. */
const orOff = <S extends Schema.Schema.AnyNoContext>(schema: S, what: string) =>
  byShape([Off, schema], (input) =>
    input === false ? Off : isRecord(input) ? schema : `Expected false (off) or ${what}, actual ${show(input)}`
  )

const SlowCallRate = withRules(
  struct("a slow-call-rate trip (threshold, slowCall, window, minimumCalls)", {
    threshold: Threshold,
    slowCall: PositiveDuration,
    window: Window,
    minimumCalls: optional(PositiveInt)
  }),
  [minimumWithinWindow]
)

const OpenDuration = struct("open durations (base, factor, cap)", {
  base: optional(FiniteDuration),
  factor: optional(Schema.Number.pipe(Schema.finite(), Schema.greaterThanOrEqualTo(1))),
  cap: optional(ConfigDuration)
})

const Breaker = struct(
  "a breaker policy (consecutiveFailures, consecutiveSlowCalls, failureRate, slowCallRate, openDuration, halfOpenProbes, probeBeforeTrip, probeWhenAllOpen)",
  {
    consecutiveFailures: optional(NonNegativeInt),
    consecutiveSlowCalls: optional(NonNegativeInt),
    failureRate: optional(FailureRate),
    slowCallRate: optional(orOff(SlowCallRate, "{ threshold, slowCall, window, minimumCalls }")),
    openDuration: optional(OpenDuration),
    halfOpenProbes: optional(PositiveInt),
    probeBeforeTrip: optional(Schema.Boolean),
    probeWhenAllOpen: optional(Schema.Boolean)
  }
)

const BulkheadOptions = struct("a bulkhead (maxConcurrent, maxQueued, queueTimeout)", {
  maxConcurrent: PositiveInt,
  maxQueued: optional(NonNegativeInt),
  queueTimeout: optional(PositiveDuration)
})

const Bulkhead = orOff(BulkheadOptions, "{ maxConcurrent, maxQueued, queueTimeout }")

const Budget = struct("a retry budget (maxTokens, tokenRatio)", {
  maxTokens: optional(Schema.Number.pipe(Schema.finite(), Schema.greaterThanOrEqualTo(0.001))),
  tokenRatio: optional(Schema.Number.pipe(Schema.finite(), Schema.greaterThanOrEqualTo(0.001)))
})

const P95 = Schema.Literal("p95")

const HedgeDelay = byShape([P95, ConfigDuration], (input) =>
  input === "p95"
    ? P95
    : typeof input === "string" || typeof input === "number"
    ? ConfigDuration
    : `Expected "p95" or a duration, actual ${show(input)}`
)

/** @internal */
export const Hedge = struct("a hedge (delay, maxHedges)", {
  delay: optional(HedgeDelay),
  maxHedges: optional(PositiveInt)
})

const policyFields = {
  retry: optional(Retry),
  timeouts: optional(Timeouts),
  breaker: optional(Breaker),
  bulkhead: optional(Bulkhead),
  budget: optional(Budget)
}

const ModelPolicy = struct("a policy (retry, timeouts, breaker, bulkhead, budget)", policyFields)

const DefaultPolicy = struct("a policy (retry, timeouts, breaker, bulkhead, budget, hedge)", {
  ...policyFields,
  hedge: optional(orOff(Hedge, "{ delay, maxHedges }"))
})

const ChainPolicy = struct("a chain policy (retry, timeouts)", {
  retry: optional(Retry),
  timeouts: optional(Timeouts)
})

// ---------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------

/** A header's value: no line break or NUL, which no HTTP client sends (said without quoting it: it may be a key). */
const SafeHeaderValue = HeaderValue.pipe(
  Schema.filter((value) => !/[\r\n\0]/.test(Redacted.value(value)) || "a header's value cannot hold a line break or NUL")
)

/** A provider's headers; each name is checked on the raw file (see `headerNames`), so it is reported beside any value's problem. */
const Headers = Schema.Record({ key: Schema.String, value: SafeHeaderValue }).annotations({
  message: (issue) => ({
    message: `Expected a mapping of header names to values ("env:NAME" or the value itself), actual ${show(issue.actual)}`,
    override: false
  })
})

const httpFields = {
  apiKey: optional(Secret),
  baseUrl: optional(HttpUrl),
  name: optional(Name),
  headers: optional(Headers),
  timeouts: optional(
    struct("transport timeouts (connect, firstToken, idle)", {
      connect: optional(PositiveDuration),
      firstToken: optional(PositiveDuration),
      idle: optional(PositiveDuration)
    })
  )
}

const OpenAiProvider = struct("an openai provider", {
  type: Schema.Literal("openai"),
  ...httpFields,
  maxTokensField: optional(Schema.Literal("max_tokens", "max_completion_tokens")),
  thoughtSignatures: optional(Schema.Boolean)
})

const AnthropicProvider = struct("an anthropic provider", {
  type: Schema.Literal("anthropic"),
  ...httpFields,
  maxTokens: optional(PositiveInt),
  version: optional(Name)
})

const GeminiProvider = struct("a gemini provider", {
  type: Schema.Literal("gemini"),
  ...httpFields
})

const Latency = byShape([Simulated.LatencyDistribution, ConfigDuration], (input) =>
  isRecord(input) ? Simulated.LatencyDistribution : ConfigDuration
)

const faultKinds = {
  status: Simulated.StatusFault,
  latency: Simulated.SlowFault,
  reset: Simulated.ResetFault,
  cutAfterTokens: Simulated.CutFault
} as const

const faultKindNames = Object.keys(faultKinds) as ReadonlyArray<keyof typeof faultKinds>

const oneKind = "one of status, latency, reset or cutAfterTokens"

/** A fault, its kind told by which of its kind keys it has (exactly one). */
const Fault = byShape(Object.values(faultKinds), (input) => {
  if (!isRecord(input)) return `Expected a fault ({ from, to, and ${oneKind} }), actual ${show(input)}`
  const kinds = faultKindNames.filter((kind) => kind in input)
  if (kinds.length === 1) return faultKinds[kinds[0]!]
  return `a fault needs exactly ${oneKind}${kinds.length > 1 ? `, not ${kinds.join(" and ")}` : ""}`
})

/** A repeated fault is expanded into at most this many windows. */
const maxWindows = 10_000

const Repeat = struct("a repetition (every, until)", {
  every: PositiveDuration,
  until: optional(PositiveDuration)
})

const defaultUntil = Duration.hours(24)

/** The windows of a repeated fault: `[from + k * every, to + k * every)` while the start is before `until`. */
const windowCount = (fault: { readonly from?: Duration.Duration }, repeat: typeof Repeat.Type) => {
  const from = Duration.toMillis(fault.from ?? Duration.zero)
  const until = Duration.toMillis(repeat.until ?? defaultUntil)
  return Math.max(0, Math.ceil((until - from) / Duration.toMillis(repeat.every)))
}

const RepeatedFault = withRules(
  struct("a repeated fault ({ repeat: { every, until }, fault })", { repeat: Repeat, fault: Fault }),
  [
    { reads: ["fault"], check: ({ fault }) => fault.to !== undefined || "a repeated fault needs an end (`to`)" },
    {
      reads: ["fault", "repeat"],
      check: ({ fault, repeat }) => {
        if (fault.to === undefined) return true // said by the rule above
        const count = windowCount(fault, repeat)
        if (count === 0) return "the fault starts after `until`: it would never happen"
        return count <= maxWindows || `repeats ${count} times; at most ${maxWindows} windows are allowed`
      }
    }
  ]
)

const shift = (fault: Simulated.Fault, by: number): Simulated.Fault => ({
  ...fault,
  from: Duration.sum(fault.from ?? Duration.zero, Duration.millis(by)),
  ...(fault.to === undefined ? {} : { to: Duration.sum(fault.to, Duration.millis(by)) })
})

/**
 * The windows a repeated fault expanded into: each a checked fault moved
 * in time, so not checked again (10,000 of them were checked twice as they
 * were made, and again by each `Config.check`). One built by hand is not
 * among them.
 */
const expanded = new WeakSet<object>()

const FaultType = Schema.typeSchema(Fault)

const validateFault = ParseResult.validateEither(FaultType)

// checked as the file's faults are: each as the kind its keys say (Config.check's messages are then the same)
const CheckedFault = Schema.declare([], {
  decode: () => (input, options) => typeof input === "object" && input !== null && expanded.has(input) ? ParseResult.succeed(input as typeof FaultType.Type) : validateFault(input, options),
  encode: () => (input, options) => validateFault(input, options)
}) as unknown as typeof FaultType

const FaultArray = Schema.Array(CheckedFault)

const RepeatedFaults = Schema.transformOrFail(RepeatedFault, FaultArray, {
  strict: true,
  decode: ({ fault, repeat }) => {
    const every = Duration.toMillis(repeat.every)
    return ParseResult.succeed(Array.from({ length: windowCount(fault, repeat) }, (_, k) => {
      const window = shift(fault, k * every)
      expanded.add(window)
      return window
    }))
  },
  encode: (faults, _, ast) =>
    ParseResult.fail(new ParseResult.Forbidden(ast, faults, "expanded fault windows have no repeated form"))
})

/** What a repeated fault's count of windows reads (its fault's kind and the rest left alone), to count them without expanding. */
const RepeatCount = Schema.Struct({
  repeat: Repeat,
  fault: Schema.Struct({ from: optional(ConfigDuration), to: ConfigDuration }).annotations({ parseOptions: { onExcessProperty: "ignore" } })
}).annotations({ parseOptions: { onExcessProperty: "ignore" } })

const decodeCount = Schema.decodeUnknownOption(RepeatCount)

/** A repeated fault's windows and first start in milliseconds, counted without expanding it, if its repetition decodes. */
const repetitionOf = (entry: unknown): { readonly windows: number; readonly from: number } | undefined =>
  Option.match(decodeCount(entry), {
    onNone: () => undefined,
    onSome: ({ fault, repeat }) => ({ windows: windowCount(fault, repeat), from: Duration.toMillis(fault.from ?? Duration.zero) })
  })

/** How many windows a repeated fault of a file expands into (0 for one whose repetition does not decode), counted without expanding it. @internal */
export const repeatedWindows = (entry: unknown): number => repetitionOf(entry)?.windows ?? 0

/** The windows a file's repeated faults expand into in all, at most. @internal */
export const maxFileWindows = 10_000

/**
 * The repeated faults of a raw config that take its windows past
 * {@link maxFileWindows} (counted in file order, without expanding any;
 * one over {@link maxWindows} alone is its own problem): a problem at
 * each, and the config with each cut to its first window, so that
 * decoding it reports the file's other problems (the cut faults' own too)
 * without expanding what is refused.
 *
 * @internal
 */
export const windowBudget = (raw: unknown): { readonly problems: ReadonlyArray<RawProblem>; readonly value: unknown } => {
  const providers = isRecord(raw) && isRecord(raw["providers"]) ? raw["providers"] : undefined
  if (!isRecord(raw) || providers === undefined) return { problems: [], value: raw }
  const counted: Array<{ readonly name: string; readonly index: number; readonly windows: number; readonly from: number; readonly past: boolean }> = []
  let total = 0
  for (const [name, provider] of Object.entries(providers)) {
    const faults = isRecord(provider) ? provider["faults"] : undefined
    if (!Array.isArray(faults)) continue
    faults.forEach((entry, index) => {
      const repetition = isRecord(entry) && "repeat" in entry ? repetitionOf(entry) : undefined
      if (repetition === undefined || repetition.windows > maxWindows) return
      total += repetition.windows
      counted.push({ name, index, ...repetition, past: total > maxFileWindows })
    })
  }
  const past = counted.filter((entry) => entry.past)
  if (past.length === 0) return { problems: [], value: raw }
  const cut: Record<string, unknown> = { ...providers }
  for (const { name, index, from } of past) {
    const provider = cut[name] as Readonly<Record<string, unknown>>
    const faults = [...(provider["faults"] as ReadonlyArray<Readonly<Record<string, unknown>>>)]
    const entry = faults[index]!
    faults[index] = { ...entry, repeat: { ...(entry["repeat"] as object), until: from + 1 } }
    cut[name] = { ...provider, faults }
  }
  return {
    problems: past.map(({ name, index, windows }) => ({
      path: ["providers", name, "faults", index],
      message: `repeats ${windows} times, and the file's repeated faults would come to ${total} windows: at most ${maxFileWindows} in all`
    })),
    value: { ...raw, providers: cut }
  }
}

const FaultEntry = byShape([RepeatedFaults, Fault], (input) =>
  isRecord(input) && "repeat" in input ? RepeatedFaults : Fault
)

/** Faults in the file: single faults and repeated ones; decoded as one flat schedule. */
const Faults = Schema.transform(Schema.Array(FaultEntry), FaultArray, {
  strict: false,
  decode: (entries) => entries.flatMap((entry) => (Array.isArray(entry) ? entry : [entry])),
  encode: (faults) => faults
})

const simulatedFields = Simulated.Config.omit("provider", "model", "info", "latency", "faults").fields

const SimulatedProvider = struct("a simulated provider", {
  type: Schema.Literal("simulated"),
  name: optional(Name),
  latency: optional(Latency),
  faults: optional(Faults),
  ...simulatedFields
})

const providerTypes = {
  openai: OpenAiProvider,
  anthropic: AnthropicProvider,
  gemini: GeminiProvider,
  simulated: SimulatedProvider
} as const

/** @internal */
export const providerTypeNames = Object.keys(providerTypes) as ReadonlyArray<keyof typeof providerTypes>

/** Only checks `type`, to report an unknown one at its own path and nothing else. */
const UnknownType = Schema.Struct({
  type: Schema.Unknown.pipe(
    Schema.filter((type) =>
      type === undefined
        ? `is required: one of ${providerTypeNames.join(", ")}`
        : `unknown provider type ${show(type)} (expected one of: ${providerTypeNames.join(", ")})`
    )
  )
}).annotations({ parseOptions: { onExcessProperty: "ignore" } })

const Provider = byShape([OpenAiProvider, AnthropicProvider, GeminiProvider, SimulatedProvider], (input) => {
  if (!isRecord(input)) return `Expected a provider ({ type: ${providerTypeNames.join(" | ")}, ... }), actual ${show(input)}`
  const type = input["type"]
  return typeof type === "string" && type in providerTypes
    ? providerTypes[type as keyof typeof providerTypes]
    : (UnknownType as unknown as typeof OpenAiProvider)
})

// ---------------------------------------------------------------------------
// Models and chains
// ---------------------------------------------------------------------------

const Price = struct(
  "a price in US dollars per million tokens ({ input, output, cachedInput, cacheWrite, longCacheWrite })",
  ModelInfo.Price.fields
)

/** @internal */
export const Model = struct("a model (provider, model, contextWindow, maxOutputTokens, price, responseFormats, weight, rpm, tpm, policy)", {
  provider: Name,
  model: optional(Name),
  contextWindow: optional(PositiveInt),
  maxOutputTokens: optional(PositiveInt),
  price: optional(Price),
  responseFormats: optional(Schema.Array(ModelInfo.ResponseFormatType)),
  weight: optional(Schema.Number.pipe(Schema.finite(), Schema.nonNegative())),
  rpm: optional(PositiveInt),
  tpm: optional(PositiveInt),
  policy: optional(ModelPolicy)
})

const strategyNames = ["priority", "weighted", "health", "latency", "cost"] as const satisfies ReadonlyArray<Strategy.Name>

const Targets = Schema.Array(Name).pipe(Schema.filter((targets) => targets.length > 0 || "a chain needs at least one model"))

const ChainOptions = withRules(
  struct("a chain (targets, strategy, policy, race, hedge, contentPolicy, fallbackResponse, continueStreams)", {
    targets: Targets,
    strategy: optional(Schema.Literal(...strategyNames)),
    policy: optional(ChainPolicy),
    race: optional(PositiveInt),
    hedge: optional(orOff(Hedge, "{ delay, maxHedges }")),
    contentPolicy: optional(Name),
    fallbackResponse: optional(Schema.String),
    continueStreams: optional(Schema.Boolean)
  }),
  [
    {
      reads: ["race", "hedge"],
      check: (chain) =>
        !((chain.race ?? 1) > 1 && chain.hedge !== undefined && chain.hedge !== false) ||
        "race and hedge cannot both be set"
    }
  ]
)

const Chain = byShape([Targets, ChainOptions], (input) =>
  Array.isArray(input)
    ? Targets
    : isRecord(input)
    ? ChainOptions
    : `Expected a list of model names, or { targets, strategy, ... }, actual ${show(input)}`
)

/** Chains by name. Absent means one chain `default` of every model; present, it must name one. */
const Chains = Schema.Record({ key: Schema.String, value: Chain }).pipe(
  Schema.filter(
    (chains) =>
      Object.keys(chains).length > 0 || "at least one chain is needed (leave chains out for one chain `default` of every model)"
  )
)

// ---------------------------------------------------------------------------
// The rest
// ---------------------------------------------------------------------------

const Tiers = struct("tiers ({ simple, moderate, complex }: a chain for each)", {
  simple: Name,
  moderate: Name,
  complex: Name
})

const Health = struct("health windows (window, buckets, degradedBelow, minimumCalls, degradedLatency)", {
  window: optional(PositiveFiniteDuration),
  buckets: optional(PositiveInt.pipe(Schema.filter((n) => n <= maxBuckets || `must be at most ${maxBuckets}`))),
  degradedBelow: optional(Share),
  minimumCalls: optional(NonNegativeInt),
  degradedLatency: optional(PositiveDuration)
})

const Cache = orOff(
  struct("a cache (ttl, maxEntries)", { ttl: optional(PositiveDuration), maxEntries: optional(PositiveInt) }),
  "{ ttl, maxEntries }"
)

const Origin = Schema.String.pipe(Schema.filter((origin) => originProblem(origin) ?? true))

const CorsSettings = struct("cross-origin requests (origins, maxAge)", {
  origins: Schema.Array(Origin),
  maxAge: optional(FiniteDuration)
})

const Port = Schema.Int.pipe(Schema.between(0, 65_535))

/** The largest request body a gateway takes unless its config says otherwise (`Config.gatewayDefaults`). @internal */
export const defaultMaxBodyBytes = 1_048_576

const Admin = struct("the admin listener (host, port)", { host: optional(Host), port: Port })

const Spend = struct("a spending cap (usd, window)", {
  usd: Schema.Number.pipe(Schema.filter((n) => (Number.isFinite(n) && n > 0) || "must be a positive amount of US dollars")),
  // as Gateway.make asks: spending leaves the window a 24th at a time, in whole milliseconds
  window: optional(PositiveFiniteDuration.pipe(
    Schema.filter((window) => Duration.toMillis(window) >= 24 || "must be at least 24 milliseconds (what is spent leaves it a 24th at a time)")
  ))
})

/** @internal */
export const ClientKey = struct("a client's key (key, name, models, rpm, tpm, spend)", {
  key: Secret,
  // shown in logs and metrics: not read from the environment (said so, as for any value that is no secret)
  name: Name.pipe(
    Schema.filter((name) => !name.startsWith("env:") || "a name is written as it is"),
    // a bare key's name (`Clients.isBareName`): a client so named would share its log lines and metrics
    Schema.filter((name) => !/^key-\d+$/.test(name) || "key-N names a bare key (by its place) in logs and metrics: give a client's key another name")
  ),
  models: optional(Schema.Array(Name).pipe(
    Schema.filter((models) => models.length > 0 || "must name at least one chain or model (leave it out for all)")
  )),
  rpm: optional(PositiveInt),
  tpm: optional(PositiveInt),
  spend: optional(Spend)
})

const GatewayKey = byShape([Secret, ClientKey], (input) =>
  // a string in a file; decoded (a config built by hand, checked), a Redacted
  typeof input === "string" || Redacted.isRedacted(input)
    ? Secret
    : isRecord(input)
    ? ClientKey
    : `Expected a key ("env:NAME", or the key itself) or a client's key ({ key, name, models, rpm, tpm, spend }), actual ${show(input)}`
)

/** Names used twice among the keys, and keys given twice: each at the later one's path. */
const distinctKeys = {
  reads: ["keys"],
  check: (gateway: { readonly keys?: ReadonlyArray<Redacted.Redacted<string> | { readonly key: Redacted.Redacted<string>; readonly name: string }> }) => {
    const names = new Map<string, number>()
    const secrets = new Map<string, number>()
    for (const [i, entry] of (gateway.keys ?? []).entries()) {
      const secret = Redacted.isRedacted(entry) ? entry : entry.key
      const earlier = secrets.get(Redacted.value(secret))
      // said by place, never by value
      if (earlier !== undefined) return { path: ["keys", i], message: `the same key as keys[${earlier}]: give each key once` }
      secrets.set(Redacted.value(secret), i)
      if (Redacted.isRedacted(entry)) continue
      const named = names.get(entry.name)
      if (named !== undefined) return { path: ["keys", i, "name"], message: `"${entry.name}" is the name of keys[${named}] too: names are unique` }
      names.set(entry.name, i)
    }
    return true
  }
} as const

/** The gateway's address and port unless its config says otherwise (`Config.gatewayDefaults`); the admin listener's address too. @internal */
export const defaultHost = "127.0.0.1"

/** @internal */
export const defaultPort = 8787

/** An address that binds every interface, and so every port of theirs. */
const everyInterface = (host: string): boolean => host === "0.0.0.0" || host === "::" || host === "[::]"

/**
 * The admin listener on the gateway's own port, on its address or on every
 * interface on either side: the second to listen would fail (EADDRINUSE).
 * Port 0 is a free port each, never the same.
 */
const adminPortOfItsOwn = {
  reads: ["host", "port", "admin"],
  check: (gateway: { readonly host?: string; readonly port?: number; readonly admin?: { readonly host?: string; readonly port: number } }) => {
    if (gateway.admin === undefined || gateway.admin.port === 0) return true
    const port = gateway.port ?? defaultPort
    const host = gateway.host ?? defaultHost
    const adminHost = gateway.admin.host ?? defaultHost
    if (gateway.admin.port !== port) return true
    const shared = everyInterface(host) ? host : everyInterface(adminHost) ? adminHost : host === adminHost ? host : undefined
    return shared === undefined || {
      path: ["admin", "port"],
      message: `${port} is gateway.port too, on ${shared}: the admin listener needs a port of its own`
    }
  }
} as const

/** @internal */
export const Gateway = withRules(struct(
  "the gateway's settings (keys, host, port, maxBodyBytes, maxBufferedBytes, bodyTimeout, maxConnections, allowPrivateImageUrls, maxConcurrent, maxQueued, requestTimeout, sendTimeout, drainTimeout, shutdownDelay, cors, admin)",
  {
    keys: optional(Schema.Array(GatewayKey).annotations({
      message: (issue) => ({ message: `Expected a list of keys (["env:GATEWAY_KEY", ...]), actual ${show(issue.actual)}`, override: false })
    })),
    host: optional(Host),
    port: optional(Port),
    maxBodyBytes: optional(PositiveInt),
    maxBufferedBytes: optional(PositiveInt),
    bodyTimeout: optional(PositiveDuration),
    maxConnections: optional(PositiveInt),
    allowPrivateImageUrls: optional(Schema.Boolean),
    maxConcurrent: optional(PositiveInt),
    maxQueued: optional(NonNegativeInt),
    requestTimeout: optional(PositiveDuration),
    sendTimeout: optional(PositiveDuration),
    drainTimeout: optional(ConfigDuration),
    shutdownDelay: optional(ConfigDuration),
    cors: optional(CorsSettings),
    admin: optional(Admin)
  }
), [{
  reads: ["maxBodyBytes", "maxBufferedBytes"],
  check: (gateway: { readonly maxBodyBytes?: number; readonly maxBufferedBytes?: number }) => {
    const body = gateway.maxBodyBytes ?? defaultMaxBodyBytes
    return gateway.maxBufferedBytes === undefined || gateway.maxBufferedBytes >= body ||
      { path: ["maxBufferedBytes"], message: `must be at least maxBodyBytes (${body}): no body that large could be read` }
  }
}, distinctKeys, adminPortOfItsOwn])

/** @internal */
export const State = withRules(
  struct("shared state (redis, cluster, namespace, syncInterval)", {
    redis: Secret.pipe(
      Schema.filter((redis) => {
        // the message names what is wrong, never the URL: it may hold a password
        const problem = RedisUrl.problem(Redacted.value(redis))
        return problem === undefined || `redis ${problem}`
      })
    ),
    cluster: optional(Schema.Boolean),
    namespace: optional(Name),
    syncInterval: optional(PositiveDuration)
  }),
  [{
    reads: ["redis", "cluster"],
    check: (state: { readonly redis: Redacted.Redacted<string>; readonly cluster?: boolean }) => {
      const problem = state.cluster === true ? RedisUrl.problem(Redacted.value(state.redis), true) : undefined
      return problem === undefined || { path: ["redis"], message: `redis ${problem}` }
    }
  }]
)

/** The fallback-rate alert's threshold unless the config sets one (`Alerts.fallbackRate`'s). */
const defaultAlertThreshold = 0.05

const FallbackRateAlert = withRules(
  struct("the fallback-rate alert (threshold, resolveBelow, window, minimumRequests, chain)", {
    threshold: optional(Schema.Number.pipe(Schema.filter((n) => (n > 0 && n <= 1) || "must be more than 0 and at most 1"))),
    resolveBelow: optional(Share),
    window: optional(PositiveDuration),
    minimumRequests: optional(PositiveInt),
    chain: optional(Name)
  }),
  [{
    reads: ["threshold", "resolveBelow"],
    check: (alert: { readonly threshold?: number; readonly resolveBelow?: number }) => {
      const threshold = alert.threshold ?? defaultAlertThreshold
      return alert.resolveBelow === undefined || alert.resolveBelow <= threshold ||
        { path: ["resolveBelow"], message: `must be at most the threshold (${threshold}), or the alert would never resolve` }
    }
  }]
)

/** A webhook's URL: a secret, as a Slack webhook's holds its token; its problem never quotes it. */
const WebhookUrl = Secret.pipe(
  Schema.filter((url) => {
    try {
      const parsed = new URL(Redacted.value(url))
      return parsed.protocol === "http:" || parsed.protocol === "https:" || "must be an http:// or https:// URL"
    } catch {
      return "must be an http:// or https:// URL"
    }
  })
)

const Webhook = struct("a webhook (url, format, headers, on, source)", {
  url: WebhookUrl,
  format: optional(Schema.Literal("json", "slack")),
  headers: optional(Headers),
  on: optional(Schema.Array(Schema.Literal("alerts", "breakers"))),
  source: optional(Name)
})

/** @internal */
export const Alerts = struct("alerts (fallbackRate, webhook)", {
  fallbackRate: optional(orOff(FallbackRateAlert, "the fallback-rate alert's settings { threshold, window, ... }")),
  webhook: optional(Webhook)
})

/** @internal */
export const File = struct("a config: a mapping of providers, models, chains, policy, ...", {
  providers: nonEmptyRecord(Provider, "provider"),
  models: nonEmptyRecord(Model, "model"),
  chains: optional(Chains),
  defaultChain: optional(Name),
  tiers: optional(Tiers),
  policy: optional(DefaultPolicy),
  health: optional(Health),
  cache: optional(Cache),
  shadowRate: optional(Share),
  gateway: optional(Gateway),
  state: optional(State),
  alerts: optional(Alerts)
})

/** The top-level keys, for messages. @internal */
export const topLevelKeys: ReadonlyArray<string> = Object.keys(File.fields)
