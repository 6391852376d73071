/**
 * The error of an observability option that cannot work: a Prometheus
 * prefix or constant label the text format cannot carry, a cost ledger
 * whose buckets would not fit in memory. `Observability.attach` checks its
 * options before it attaches anything.
 *
 * @since 0.1.0
 */
import { Data } from "effect"

/**
 * An option of `Observability.attach` (or of `Prometheus.make`,
 * `CostReport.ledger`, `Metrics.recorder`) was refused; `path` names it as
 * it was written (`prometheus.prefix`, `labels["0bad"]`, `cost.bucket`).
 *
 * @example
 * import { Effect } from "effect"
 * import { Observability } from "effect-llm-failover/observability"
 * import { Router } from "effect-llm-failover/router"
 *
 * const program = Effect.flatMap(Router.Router, (router) =>
 *   Observability.attach(router, { labels: { region: "eu" } }).pipe(
 *     Effect.catchTag("ObservabilityOptionsError", (error) => Effect.dieMessage(`fix ${error.path}: ${error.problem}`))
 *   )
 * )
 *
 * @since 0.1.0
 * @category errors
 */
export class ObservabilityOptionsError extends Data.TaggedError("ObservabilityOptionsError")<{
  /** The option, as written: `prometheus.prefix`, `labels["0bad"]`, `cost.bucket`. */
  readonly path: string
  /** What is wrong with it. */
  readonly problem: string
}> {
  override get message() {
    return `invalid observability option ${this.path}: ${this.problem}`
  }
}
