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

/** Builds and caches labelled series of metrics, with constant labels on every one. @internal */
export class Series {
  private readonly cache = new Map<AnyMetric, Map<string, AnyMetric>>()
  private readonly constant: ReadonlyArray<MetricLabel.MetricLabel>

  constructor(constant: Readonly<Record<string, string>> = {}) {
    this.constant = Object.entries(constant).map(([key, value]) => MetricLabel.make(key, clean(value)))
  }

  /** The series of `metric` with these labels (keys in a fixed order per metric). */
  of<M extends AnyMetric>(metric: M, labels: Readonly<Record<string, string>>): M {
    let byLabels = this.cache.get(metric)
    if (byLabels === undefined) {
      byLabels = new Map()
      this.cache.set(metric, byLabels)
    }
    let id = ""
    for (const key in labels) id += `${key}\u0000${labels[key]}\u0001`
    const cached = byLabels.get(id)
    if (cached !== undefined) return cached as M
    const tags = [...this.constant]
    for (const key in labels) tags.push(MetricLabel.make(key, clean(labels[key]!)))
    const series = Metric.taggedWithLabels(metric, tags) as M
    byLabels.set(id, series)
    return series
  }
}
