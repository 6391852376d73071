/**
 * Checks of the observability options that would otherwise make broken
 * output: a Prometheus prefix or constant label the text format cannot
 * carry (an illegal name, a histogram's `le` twice, a series' own label
 * overwritten).
 *
 * @internal
 */
import { Duration, Effect } from "effect"
import { ObservabilityOptionsError } from "../OptionsError.js"

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** Every label key the recorder's own series carry: a constant label of that name would collide. @internal */
export const recorderKeys = [
  "provider",
  "model",
  "outcome",
  "reason",
  "direction",
  "kind",
  "target",
  "chain",
  "from",
  "to",
  "source",
  "alert"
] as const

/** A label key of the recorder's own series. @internal */
export type RecorderKey = typeof recorderKeys[number]

const taken: ReadonlySet<string> = new Set<string>(recorderKeys)

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** `base.key`, or `base["key"]` for a key that is no identifier. @internal */
export const pathOf = (base: string, key: string): string => {
  const step = identifier.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
  return base === "" ? (step.startsWith(".") ? step.slice(1) : step) : `${base}${step}`
}

/** The problem of a Prometheus prefix, at `path`, if any. @internal */
export const prefixProblem = (prefix: string | undefined, path: string): ObservabilityOptionsError | undefined =>
  prefix === undefined || prefix === "" || metricName.test(prefix)
    ? undefined
    : new ObservabilityOptionsError({
      path,
      problem: `${JSON.stringify(prefix)} is no Prometheus metric name prefix: letters, digits, _ and :, not starting with a digit`
    })

/** The problem of the first constant label that cannot be, under `base` (`labels`), if any. @internal */
export const labelsProblem = (
  labels: Readonly<Record<string, string>> | undefined,
  base: string
): ObservabilityOptionsError | undefined => {
  for (const key of Object.keys(labels ?? {})) {
    const path = pathOf(base, key)
    if (!labelName.test(key)) {
      return new ObservabilityOptionsError({
        path,
        problem: "a Prometheus label name is letters, digits and _, not starting with a digit"
      })
    }
    if (key.startsWith("__")) {
      return new ObservabilityOptionsError({ path, problem: "label names starting with __ are Prometheus's own" })
    }
    if (key === "le" || key === "quantile") {
      return new ObservabilityOptionsError({ path, problem: `${key} is the label of a histogram's or a summary's buckets` })
    }
    if (taken.has(key)) {
      return new ObservabilityOptionsError({ path, problem: `${key} is a label of the router's own series; name yours otherwise` })
    }
  }
  return undefined
}

/** The most buckets a cost ledger keeps: 100,000 (about 70 days of minutes). @internal */
export const maxLedgerBuckets = 100_000

/**
 * The problem of a ledger's bucket and retention, in milliseconds, under
 * `base` (`cost`), if any; `bucketGiven` says which one the caller chose,
 * to name when there are too many buckets.
 */
const ledgerProblem = (
  bucketMillis: number,
  retentionMillis: number,
  bucketGiven: boolean,
  base: string
): ObservabilityOptionsError | undefined => {
  if (!(bucketMillis >= 1 && Number.isFinite(bucketMillis))) {
    return new ObservabilityOptionsError({ path: pathOf(base, "bucket"), problem: "must be a finite duration of 1 millisecond or more" })
  }
  if (!(retentionMillis > 0 && Number.isFinite(retentionMillis))) {
    return new ObservabilityOptionsError({ path: pathOf(base, "retention"), problem: "must be a positive finite duration" })
  }
  const buckets = Math.ceil(retentionMillis / bucketMillis)
  if (buckets > maxLedgerBuckets) {
    return new ObservabilityOptionsError({
      path: pathOf(base, bucketGiven ? "bucket" : "retention"),
      problem: `retention over bucket is ${buckets} buckets, more than ${maxLedgerBuckets}: make the bucket longer or the retention shorter`
    })
  }
  return undefined
}

/**
 * A ledger's bucket and retention in milliseconds (default one minute over
 * 24 hours), or the option under `base` that cannot be.
 *
 * @internal
 */
export const ledgerPeriods = (
  options: { readonly bucket?: Duration.DurationInput | undefined; readonly retention?: Duration.DurationInput | undefined },
  base: string
): Effect.Effect<{ readonly bucketMillis: number; readonly retentionMillis: number }, ObservabilityOptionsError> =>
  Effect.suspend(() => {
    const bucketMillis = Duration.toMillis(options.bucket ?? Duration.minutes(1))
    const retentionMillis = Duration.toMillis(options.retention ?? Duration.hours(24))
    const problem = ledgerProblem(bucketMillis, retentionMillis, options.bucket !== undefined, base)
    return problem === undefined ? Effect.succeed({ bucketMillis, retentionMillis }) : Effect.fail(problem)
  })
