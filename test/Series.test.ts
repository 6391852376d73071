/**
 * Labelled metric series as the metrics recorder builds them: found again,
 * not rebuilt, for the same values; tagged with the constant labels, then
 * the labels in order, each value cleaned.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, MetricLabel } from "effect"
import { MAX_LABEL_LENGTH, Series } from "../src/observability/internal/series.js"

/** The tags of every series of the test's counter, each as "key=value,...", with its count. */
const counted = Effect.map(Metric.snapshot, (pairs) =>
  new Map(
    pairs
      .filter((pair) => pair.metricKey.name === "series_test_total")
      .map((pair) => [pair.metricKey.tags.map((tag) => `${tag.key}=${tag.value}`).join(","), (pair.metricState as unknown as { readonly count: number }).count])
  ))

describe("Series.labelled", () => {
  it.effect("finds the same series for the same values, tags it in order, and cleans each value", () =>
    Effect.gen(function* () {
      const counter = Metric.counter("series_test_total")
      const series = new Series({ router: "main" })
      const byTarget = series.labelled(counter, "target", "outcome")
      const first = byTarget("openai/gpt\u0007-4o", "success")
      expect(byTarget("openai/gpt\u0007-4o", "success")).toBe(first)
      expect(byTarget("openai/gpt\u0007-4o", "error")).not.toBe(first)
      first.unsafeUpdate(2, [])
      byTarget("x".repeat(MAX_LABEL_LENGTH + 10), "success").unsafeUpdate(1, [])
      const counts = yield* counted
      expect(counts.get("router=main,target=openai/gpt-4o,outcome=success")).toBe(2)
      expect(counts.get(`router=main,target=${"x".repeat(MAX_LABEL_LENGTH)},outcome=success`)).toBe(1)
      // the same metric under other label keys is another series
      const byChain = series.labelled(counter, "chain")
      byChain("default").unsafeUpdate(1, [MetricLabel.make("extra", "fiber")])
      expect((yield* counted).get("router=main,chain=default,extra=fiber")).toBe(1)
    }))
})
