/**
 * The gateway's clients: for each key, who holds it (a name for logs and
 * metrics, never the key), which chains and model aliases it may call, and
 * its limits (requests and tokens a minute, US dollars a window).
 *
 * Limits are counted by `RateLimit`'s limiters, so with shared state
 * (`RateLimit.CurrentStore` in the context) every instance counts against
 * the same figures. The spending limiter counts micro-dollars and limits
 * nothing itself: the cap is compared with its count here, so a reload that
 * changes a cap keeps what the key has spent.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as RateLimit from "../../resilience/RateLimit.js"
import type { ClientKey } from "../Gateway.js"

/** A key as `Gateway.Options.keys` takes it: bare, or a client's. @internal */
export type KeyInput = Redacted.Redacted | ClientKey

/** A spending cap, resolved. @internal */
export interface Spend {
  readonly usd: number
  readonly window: Duration.Duration
  /** Counts micro-dollars spent in the window (limits nothing: see the module). */
  readonly counter: RateLimit.RateLimiter
}

/** One key's client. @internal */
export interface Client {
  /** For logs and metrics: the key's name, or `key-N` (its place, from 1) for a bare key. */
  readonly name: string
  /** A bare key: the gateway's own, which may call everything and read the routes about the whole gateway. */
  readonly bare: boolean
  /** Its requests and tokens a minute, if limited. */
  readonly rpm: number | undefined
  readonly tpm: number | undefined
  /**
   * Degraded mode's cache partition: a client's answers are never served to
   * another. From the name of a named key; from a digest of a bare key, so a
   * reload that moves keys about never hands one client's answers to another.
   * Never logged.
   */
  readonly tenant: string
  /** The chains and model aliases it may call (absent: all). */
  readonly models: ReadonlySet<string> | undefined
  /** Its requests-and-tokens-a-minute limiter, if it has `rpm` or `tpm`. */
  readonly limiter: RateLimit.RateLimiter | undefined
  readonly spend: Spend | undefined
  /** What the limiters were made for, to keep them across a reload that leaves them alone. */
  readonly limits: string
  readonly window: string
  /** Its metrics (`llm_gateway_key_requests_total`, `llm_gateway_key_cost_usd_total`), by its name. */
  readonly metrics: ReturnType<typeof metricsOf>
}

/** Whether a key is a client's (with a name and limits) rather than a bare key. @internal */
export const isClientKey = (key: KeyInput): key is ClientKey => !Redacted.isRedacted(key)

/** Whether a name is one a bare key goes by (`key-N`), which no client's key may take. @internal */
export const isBareName = (name: string): boolean => /^key-\d+$/.test(name)

/** The secret of a key. @internal */
export const secretOf = (key: KeyInput): Redacted.Redacted => (isClientKey(key) ? key.key : key)

/** The default window of a spending cap. @internal */
export const defaultSpendWindow = Duration.days(1)

/** Buckets of a spending window: spending leaves it a 24th of the window at a time (an hour, for a day). */
const spendBuckets = 24

const micros = 1_000_000

/**
 * The clients of `keys`, in their order. Limiters of `previous` clients
 * with the same name and the same limits are kept (their counts carry
 * over); the rest are made afresh (`release` lets go of the old ones).
 *
 * @internal
 */
export const make = (
  keys: ReadonlyArray<KeyInput>,
  previous: ReadonlyArray<Client> = []
): Effect.Effect<ReadonlyArray<Client>> => {
  const before = (name: string) => previous.find((client) => client.name === name)
  return Effect.forEach(keys, (key, i) => {
    if (!isClientKey(key)) {
      const digest = createHash("sha256").update(Redacted.value(key), "utf8").digest("hex")
      return Effect.succeed<Client>({
        name: `key-${i + 1}`,
        bare: true,
        rpm: undefined,
        tpm: undefined,
        tenant: `key ${digest}`,
        models: undefined,
        limiter: undefined,
        spend: undefined,
        limits: "",
        window: "",
        metrics: before(`key-${i + 1}`)?.metrics ?? metricsOf(`key-${i + 1}`)
      })
    }
    const named = before(key.name)
    const limits = key.rpm === undefined && key.tpm === undefined ? "" : `${key.rpm ?? "-"}/${key.tpm ?? "-"}`
    const spendWindow = key.spend === undefined ? undefined : Duration.decode(key.spend.window ?? defaultSpendWindow)
    const window = spendWindow === undefined ? "" : String(Duration.toMillis(spendWindow))
    // the limiters' names, shared state's keys: the name quoted, so no client's name ("a spend") is another's count's
    const quoted = JSON.stringify(key.name)
    return Effect.gen(function* () {
      const limiter = limits === ""
        ? undefined
        : named?.limiter !== undefined && named.limits === limits
        ? named.limiter
        : yield* RateLimit.make({ name: `gateway key ${quoted}`, ...pick(key) })
      const counter = spendWindow === undefined
        ? undefined
        : named?.spend !== undefined && named.window === window
        ? named.spend.counter
        : yield* RateLimit.make({ name: `gateway key ${quoted} spend`, window: spendWindow, buckets: spendBuckets })
      return {
        name: key.name,
        bare: false,
        rpm: key.rpm,
        tpm: key.tpm,
        tenant: `client ${key.name}`,
        models: key.models === undefined ? undefined : new Set(key.models),
        limiter,
        spend: counter === undefined || spendWindow === undefined ? undefined : { usd: key.spend!.usd, window: spendWindow, counter },
        limits,
        window,
        metrics: named?.metrics ?? metricsOf(key.name)
      }
    })
  })
}

/**
 * Lets go of the limiters of `previous` clients that `next` does not keep
 * (their limits changed, or their key is gone), so that a shared store
 * stops mirroring them. Requests admitted on them still settle there.
 *
 * @internal
 */
export const release = (previous: ReadonlyArray<Client>, next: ReadonlyArray<Client>): Effect.Effect<void> => {
  const kept = new Set<RateLimit.RateLimiter>()
  for (const client of next) {
    if (client.limiter !== undefined) kept.add(client.limiter)
    if (client.spend !== undefined) kept.add(client.spend.counter)
  }
  const gone: Array<Effect.Effect<void>> = []
  for (const client of previous) {
    for (const limiter of [client.limiter, client.spend?.counter]) {
      if (limiter !== undefined && !kept.has(limiter)) gone.push(limiter.unregister)
    }
  }
  return Effect.all(gone, { discard: true })
}

const pick = (key: ClientKey): RateLimit.Limits => ({
  ...(key.rpm === undefined ? {} : { rpm: key.rpm }),
  ...(key.tpm === undefined ? {} : { tpm: key.tpm })
})

/**
 * Checks the keys of `Gateway.Options` and throws on a problem: a name
 * used twice, a key given twice, a limit that is not a positive whole
 * number, a cap that is not a positive amount, an empty `models`, a
 * name a bare key goes by (`key-N`).
 *
 * @internal
 */
export const validate = (keys: ReadonlyArray<KeyInput>): void => {
  const names = new Set<string>()
  const secrets = new Set<string>()
  keys.forEach((key, i) => {
    const secret = Redacted.value(secretOf(key))
    if (secrets.has(secret)) throw new RangeError(`Gateway: keys[${i}] is the same key as an earlier one`)
    secrets.add(secret)
    if (!isClientKey(key)) return
    const at = `keys[${i}] (${JSON.stringify(key.name)})`
    if (key.name.trim() === "") throw new RangeError(`Gateway: keys[${i}].name must not be empty`)
    if (names.has(key.name)) throw new RangeError(`Gateway: ${at}: the name is used by an earlier key`)
    if (isBareName(key.name)) {
      throw new RangeError(`Gateway: ${at}.name: key-N names a bare key (by its place) in logs and metrics; give a client's key another name`)
    }
    names.add(key.name)
    for (const field of ["rpm", "tpm"] as const) {
      const n = key[field]
      if (n !== undefined && !(Number.isInteger(n) && n > 0)) throw new RangeError(`Gateway: ${at}.${field} must be a positive integer, got ${n}`)
    }
    if (key.models !== undefined && key.models.length === 0) {
      throw new RangeError(`Gateway: ${at}.models must name at least one chain or model (leave it out for all)`)
    }
    if (key.spend !== undefined) {
      if (!(Number.isFinite(key.spend.usd) && key.spend.usd > 0)) {
        throw new RangeError(`Gateway: ${at}.spend.usd must be a positive amount of US dollars, got ${key.spend.usd}`)
      }
      const window = Duration.decodeUnknown(key.spend.window ?? defaultSpendWindow)
      if (window._tag === "None" || !Duration.isFinite(window.value)) {
        throw new RangeError(`Gateway: ${at}.spend.window must be a finite duration (e.g. "1 day"), got ${String(key.spend.window)}`)
      }
      if (Duration.toMillis(window.value) < spendBuckets) {
        throw new RangeError(
          `Gateway: ${at}.spend.window must be at least ${spendBuckets} milliseconds (what is spent leaves it a 24th at a time), got ${Duration.format(window.value)}`
        )
      }
    }
  })
}

// ---------------------------------------------------------------------------
// Metrics and spending
// ---------------------------------------------------------------------------

/** What became of a request at a client's checks. @internal */
export type Outcome = "admitted" | "model_not_allowed" | "rate_limited" | "spend_cap"

/** Requests by client key and outcome. @internal */
export const requests = Metric.counter("llm_gateway_key_requests_total", {
  description: "Gateway requests by client key (its name, never the key) and outcome: admitted, model_not_allowed, rate_limited, spend_cap",
  incremental: true
})

/** Spending by client key. @internal */
export const spent = Metric.counter("llm_gateway_key_cost_usd_total", {
  description: "US dollars of the gateway's answers, by client key (its name, never the key)",
  incremental: true
})

/** The metrics of a client named `name`, tagged once. */
const metricsOf = (name: string) => {
  const outcomes = new Map<Outcome, Effect.Effect<void>>()
  const cost = Metric.tagged(spent, "key", name)
  return {
    count: (outcome: Outcome): Effect.Effect<void> => {
      let counted = outcomes.get(outcome)
      if (counted === undefined) {
        counted = Metric.increment(Metric.tagged(Metric.tagged(requests, "key", name), "outcome", outcome))
        outcomes.set(outcome, counted)
      }
      return counted
    },
    cost: (usd: number) => Metric.incrementBy(cost, usd)
  }
}

/**
 * What a client has spent in its cap's window, in US dollars (0 without a
 * cap), and when the first of it leaves the window (epoch millis), if any.
 *
 * @internal
 */
export const spentIn = (client: Client): Effect.Effect<{ readonly usd: number; readonly leavesAt: number | undefined }> =>
  client.spend === undefined
    ? Effect.succeed({ usd: 0, leavesAt: undefined })
    : Effect.map(client.spend.counter.usage, (usage) => ({ usd: usage.tokens / micros, leavesAt: usage.leavesAt }))

/** Counts `usd` spent by `client`: against its cap, if any, and in its metric. @internal */
export const charge = (client: Client, usd: number): Effect.Effect<void> => {
  if (!(usd > 0)) return Effect.void
  const metric = client.metrics.cost(usd)
  return client.spend === undefined ? metric : Effect.zipRight(client.spend.counter.adjust(Math.round(usd * micros)), metric)
}

// ---------------------------------------------------------------------------
// GET /v1/key
// ---------------------------------------------------------------------------

/** `GET /v1/key`'s answer for a gateway without keys: no name, nothing limited. @internal */
export const keyless = { name: null, models: null, rpm: null, tpm: null, spend: null } as const

/** `GET /v1/key`'s answer: a client as it may see itself (never its key). @internal */
export const describe = (client: Client) =>
  Effect.map(spentIn(client), ({ usd: spent }) => ({
    name: client.name,
    models: client.models === undefined ? null : [...client.models],
    rpm: client.rpm ?? null,
    tpm: client.tpm ?? null,
    spend: client.spend === undefined
      ? null
      : {
        usd: client.spend.usd,
        window_seconds: Duration.toSeconds(client.spend.window),
        spent_usd: Math.round(spent * micros) / micros,
        remaining_usd: Math.max(0, Math.round((client.spend.usd - spent) * micros) / micros)
      }
  }))
