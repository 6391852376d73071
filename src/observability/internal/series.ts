/**
 * Labelled metric series, cached so a busy consumer does not rebuild a
 * tagged metric (and its key's hash) on every event.
 *
 * Label values come only from names in the router's config (chains,
 * targets, providers, models), error tags and fixed enums; they are still
 * cleaned: control characters removed, length capped.
 *
 * @internal
 */
import { Metric, MetricLabel } from "effect"
import { globalValue } from "effect/GlobalValue"

/** The longest label value kept; the rest is cut. @internal */
export const MAX_LABEL_LENGTH = 120

// eslint-disable-next-line no-control-regex
const control = /[\u0000-\u001f\u007f]/g

/** A label value made safe: no control characters, at most {@link MAX_LABEL_LENGTH} characters. @internal */
export const clean = (value: string): string => {
  const stripped = value.replace(control, "")
  return stripped.length > MAX_LABEL_LENGTH ? stripped.slice(0, MAX_LABEL_LENGTH) : stripped
}

type AnyMetric = Metric.Metric<any, any, any>

/** A step of the cache: the series for the values so far, and the next value's steps. */
interface Step {
  series: AnyMetric | undefined
  readonly next: Map<string, Step>
}

const step = (): Step => ({ series: undefined, next: new Map() })

/** Builds and caches labelled series of metrics, with constant labels on every one. @internal */
export class Series {
  private readonly constant: ReadonlyArray<MetricLabel.MetricLabel>

  constructor(constant: Readonly<Record<string, string>> = {}) {
    this.constant = Object.entries(constant).map(([key, value]) => MetricLabel.make(key, clean(value)))
  }

  /**
   * The series of `metric` by the values of the labels `keys`, in that
   * order: `labelled(attempts, "provider", "model")("openai", "gpt-4o")`.
   * A series is found by one map lookup a value, with no object, string or
   * property enumeration a call: this runs for every router event.
   */
  labelled<M extends AnyMetric>(metric: M, ...keys: ReadonlyArray<string>): (...values: ReadonlyArray<string>) => M {
    const root = step()
    return (...values) => {
      let at = root
      for (const value of values) {
        let next = at.next.get(value)
        if (next === undefined) {
          next = step()
          at.next.set(value, next)
        }
        at = next
      }
      if (at.series === undefined) at.series = Metric.taggedWithLabels(metric, this.labels(keys, values))
      return at.series as M
    }
  }

  /** The labels of the series `labelled(metric, ...keys)(...values)`: the constant ones, then these. */
  labels(keys: ReadonlyArray<string>, values: ReadonlyArray<string>): Array<MetricLabel.MetricLabel> {
    const tags = [...this.constant]
    for (let i = 0; i < keys.length; i++) tags.push(MetricLabel.make(keys[i]!, clean(values[i] ?? "")))
    return tags
  }
}

/** One series' labels as one string, whatever their order. */
const labelKey = (entries: ReadonlyArray<readonly [string, unknown]>): string =>
  entries.map(([key, value]) => `${key}=${String(value)}`).sort().join("\u0000")

/**
 * Gauge series that no longer describe anything (a breaker whose target a
 * config reload removed), by metric name. Effect's registry cannot drop a
 * series, and a gauge keeps its last value for ever: a removed target's
 * breaker would read "open" on every dashboard until the process restarts.
 * Each recorder says which series it shows; one that no recorder shows any
 * more, after one did, is retired: the exporters leave it out. Counted, so
 * two routers of one process with a target alike keep it while either does.
 *
 * @internal
 */
const shown = globalValue(Symbol.for("effect-llm-failover/observability/shownSeries"), () => new Map<string, Map<string, number>>())

const keyOf = (labels: ReadonlyArray<MetricLabel.MetricLabel>) => labelKey(labels.map((label) => [label.key, label.value]))

/** One more recorder shows the series of gauge `name` with these labels. @internal */
export const show = (name: string, labels: ReadonlyArray<MetricLabel.MetricLabel>): void => {
  let counts = shown.get(name)
  if (counts === undefined) shown.set(name, (counts = new Map()))
  const key = keyOf(labels)
  counts.set(key, (counts.get(key) ?? 0) + 1)
}

/** One recorder no longer shows it; at none, it is retired. @internal */
export const unshow = (name: string, labels: ReadonlyArray<MetricLabel.MetricLabel>): void => {
  const counts = shown.get(name)
  const key = keyOf(labels)
  const count = counts?.get(key)
  if (counts !== undefined && count !== undefined) counts.set(key, Math.max(0, count - 1))
}

/**
 * Whether the series of metric `name` with these attributes (OpenTelemetry's
 * data point attributes: the series' labels) is retired.
 *
 * @internal
 */
export const isRetired = (name: string, attributes: Readonly<Record<string, unknown>>): boolean =>
  shown.get(name)?.get(labelKey(Object.entries(attributes))) === 0

/** Whether metric `name` has any retired series (nothing to filter otherwise). @internal */
export const hasRetired = (name: string): boolean => {
  const counts = shown.get(name)
  if (counts === undefined) return false
  for (const count of counts.values()) if (count === 0) return true
  return false
}
