/**
 * Observability for the router: Effect metrics with Prometheus exposition,
 * logs and spans, a health snapshot and its status page, the fallback-rate
 * alert (and a webhook to post it to) and the cost report. Start with
 * `Observability.attach`.
 *
 * @since 0.1.0
 */
export * as Alerts from "./Alerts.js"
export * as CostReport from "./CostReport.js"
export * as HealthSnapshot from "./HealthSnapshot.js"
export * as Metrics from "./Metrics.js"
export * as Observability from "./Observability.js"
export * from "./OptionsError.js"
export * as Prometheus from "./Prometheus.js"
export * as StatusPage from "./StatusPage.js"
export * as Telemetry from "./Telemetry.js"
export * as Webhook from "./Webhook.js"
