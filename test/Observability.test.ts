/**
 * Observability over routers of simulated providers, in virtual time:
 * Prometheus text parsed strictly and checked against the router's own
 * results, the fallback-rate alert's crossing, recovery and hysteresis, the
 * cost report against each request's `meta.cost`, the health snapshot,
 * spans, the HTTP handlers over real HTTP on 127.0.0.1, and that no label,
 * log line, span or page ever holds a key or a prompt's text.
 */
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import type { Tracer } from "effect"
import {
  Chunk,
  Context,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Option,
  Queue,
  Redacted,
  Stream,
  TestClock,
  Tracer as EffectTracer
} from "effect"
import { createServer } from "node:http"
import { type AddressInfo, createServer as createNetServer } from "node:net"
import { Chat, TransportError } from "../src/llm/index.js"
import * as Alerts from "../src/observability/Alerts.js"
import * as CostReport from "../src/observability/CostReport.js"
import * as HealthSnapshot from "../src/observability/HealthSnapshot.js"
import * as Html from "../src/observability/internal/html.js"
import * as LogSink from "../src/observability/internal/logSink.js"
import * as Metrics from "../src/observability/Metrics.js"
import * as Observability from "../src/observability/Observability.js"
import { ObservabilityOptionsError } from "../src/observability/OptionsError.js"
import * as Prometheus from "../src/observability/Prometheus.js"
import * as StatusPage from "../src/observability/StatusPage.js"
import * as Telemetry from "../src/observability/Telemetry.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import type { RouterEvent } from "../src/router/Events.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"
import { listen } from "./support/servers.js"
import { settler, sim, succeeded } from "./support/virtual.js"

// ---------------------------------------------------------------------------
// A strict parser of the Prometheus text format 0.0.4
// ---------------------------------------------------------------------------

interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

interface Family {
  readonly name: string
  type: string | undefined
  help: string | undefined
  readonly samples: Array<Sample>
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*/
const floatValue = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$/
const types = new Set(["counter", "gauge", "histogram", "summary", "untyped"])

class ParseFailure extends Error {}

const parseValue = (text: string, where: string): number => {
  if (!floatValue.test(text)) throw new ParseFailure(`${where}: bad value ${JSON.stringify(text)}`)
  return text.endsWith("Inf") ? (text.startsWith("-") ? -Infinity : Infinity) : Number(text)
}

/** Parses `{a="x",b="y\"z"}` from `at` (the `{`); returns the labels and the index after `}`. */
const parseLabels = (line: string, at: number, where: string): [Record<string, string>, number] => {
  const labels: Record<string, string> = {}
  let i = at + 1
  while (line[i] !== "}") {
    const name = labelName.exec(line.slice(i))?.[0]
    if (name === undefined) throw new ParseFailure(`${where}: bad label name at ${i}`)
    if (name in labels) throw new ParseFailure(`${where}: duplicate label ${name}`)
    i += name.length
    if (line.slice(i, i + 2) !== '="') throw new ParseFailure(`${where}: expected =" after ${name}`)
    i += 2
    let value = ""
    for (;;) {
      const c = line[i]
      if (c === undefined) throw new ParseFailure(`${where}: unterminated label value`)
      i++
      if (c === '"') break
      if (c !== "\\") {
        value += c
        continue
      }
      const escaped = line[i++]
      if (escaped === "\\") value += "\\"
      else if (escaped === '"') value += '"'
      else if (escaped === "n") value += "\n"
      else throw new ParseFailure(`${where}: bad escape \\${escaped}`)
    }
    labels[name] = value
    if (line[i] === ",") i++
    else if (line[i] !== "}") throw new ParseFailure(`${where}: expected , or } at ${i}`)
  }
  return [labels, i + 1]
}

const seriesKey = (name: string, labels: Readonly<Record<string, string>>) =>
  `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)))}`

/** Checks a histogram's buckets: cumulative, ending with +Inf, which equals `_count`. */
const checkHistogram = (family: Family) => {
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number; sum?: number }>()
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels
    const key = seriesKey("", rest)
    const group = groups.get(key) ?? { buckets: [] }
    groups.set(key, group)
    if (sample.name === `${family.name}_bucket`) {
      if (le === undefined) throw new ParseFailure(`${family.name}: bucket without le`)
      group.buckets.push([parseValue(le, family.name), sample.value])
    } else if (sample.name === `${family.name}_count`) group.count = sample.value
    else if (sample.name === `${family.name}_sum`) group.sum = sample.value
    else throw new ParseFailure(`${family.name}: unexpected sample ${sample.name}`)
  }
  for (const group of groups.values()) {
    const sorted = [...group.buckets].sort((a, b) => a[0] - b[0])
    sorted.forEach(([, n], i) => {
      if (i > 0 && n < sorted[i - 1]![1]) throw new ParseFailure(`${family.name}: buckets not cumulative`)
    })
    const last = sorted.at(-1)
    if (last === undefined || last[0] !== Infinity) throw new ParseFailure(`${family.name}: no +Inf bucket`)
    if (group.count !== last[1]) throw new ParseFailure(`${family.name}: +Inf bucket ${last[1]} != count ${group.count}`)
    if (group.sum === undefined) throw new ParseFailure(`${family.name}: no _sum`)
  }
}

const familyOf = (families: Map<string, Family>, sample: string): string => {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!sample.endsWith(suffix)) continue
    const base = sample.slice(0, -suffix.length)
    const type = families.get(base)?.type
    if (type === "histogram" || type === "summary") return base
  }
  return sample
}

/** Parses Prometheus text strictly: any deviation from format 0.0.4 throws. */
const parsePrometheus = (text: string) => {
  const families = new Map<string, Family>()
  const series = new Set<string>()
  const finished = new Set<string>()
  let current: string | undefined
  const enter = (name: string, where: string) => {
    if (current === name) return
    if (finished.has(name)) throw new ParseFailure(`${where}: family ${name} is not contiguous`)
    if (current !== undefined) finished.add(current)
    current = name
  }
  const familyNamed = (name: string) => {
    let family = families.get(name)
    if (family === undefined) {
      family = { name, type: undefined, help: undefined, samples: [] }
      families.set(name, family)
    }
    return family
  }
  text.split("\n").forEach((line, index) => {
    const where = `line ${index + 1}`
    if (line.trim() === "") return
    if (line.startsWith("#")) {
      const directive = /^#\s*(HELP|TYPE)\s/.exec(line)
      if (directive === null) return // a plain comment
      const match = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
      if (match === null || !metricName.test(match[2]!)) throw new ParseFailure(`${where}: malformed ${directive[1]}`)
      const [, kind, name, rest] = match as unknown as [string, string, string, string]
      enter(name, where)
      const family = familyNamed(name)
      if (kind === "TYPE") {
        if (!types.has(rest)) throw new ParseFailure(`${where}: unknown type ${rest}`)
        if (family.type !== undefined) throw new ParseFailure(`${where}: second TYPE for ${name}`)
        if (family.samples.length > 0) throw new ParseFailure(`${where}: TYPE after samples of ${name}`)
        family.type = rest
      } else {
        if (family.help !== undefined) throw new ParseFailure(`${where}: second HELP for ${name}`)
        family.help = rest
      }
      return
    }
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0]
    if (name === undefined) throw new ParseFailure(`${where}: bad metric name`)
    let i = name.length
    let labels: Record<string, string> = {}
    if (line[i] === "{") [labels, i] = parseLabels(line, i, where)
    const tail = line.slice(i)
    const parts = /^ (\S+)(?: (-?\d+))?$/.exec(tail)
    if (parts === null) throw new ParseFailure(`${where}: bad sample tail ${JSON.stringify(tail)}`)
    const sample = { name, labels, value: parseValue(parts[1]!, where) }
    const key = seriesKey(name, labels)
    if (series.has(key)) throw new ParseFailure(`${where}: duplicate series ${key}`)
    series.add(key)
    const familyName = familyOf(families, name)
    enter(familyName, where)
    const family = familyNamed(familyName)
    if (family.type === "counter" && !(name.endsWith("_total") && name === familyName)) {
      throw new ParseFailure(`${where}: counter sample ${name} of family ${familyName}`)
    }
    family.samples.push(sample)
  })
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family)
  return {
    families,
    /** The value of the one series with exactly these labels. */
    value: (name: string, labels: Readonly<Record<string, string>>): number | undefined => {
      const family = families.get(familyOf(families, name))
      return family?.samples.find((s) => s.name === name && seriesKey("", s.labels) === seriesKey("", labels))?.value
    },
    /** Every series of `name` whose labels include `labels`. */
    select: (name: string, labels: Readonly<Record<string, string>>): ReadonlyArray<Sample> =>
      (families.get(familyOf(families, name))?.samples ?? []).filter(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
      )
  }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const premium = { input: 3, output: 15 }
const cheap = { input: 0.15, output: 0.6 }

const settle = settler("5 seconds")

const sum = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0)

/** Every log line (level, message, annotations), at every level. */
const captureLogs = () => {
  const lines: Array<{ readonly level: string; readonly message: string; readonly annotations: Record<string, unknown> }> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push({ level: logLevel.label, message: text, annotations: Object.fromEntries(annotations) })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

interface CapturedSpan {
  readonly name: string
  readonly parent: CapturedSpan | undefined
  readonly start: bigint
  end: bigint | undefined
  exit: Exit.Exit<unknown, unknown> | undefined
  readonly attributes: Map<string, unknown>
  readonly events: Array<{ readonly name: string; readonly attributes: Record<string, unknown> | undefined }>
}

/** A tracer that keeps every span it makes. */
const captureSpans = () => {
  const spans: Array<CapturedSpan> = []
  let ids = 0
  const tracer = EffectTracer.make({
    span: (name, parent, _context, links, startTime, kind, options) => {
      const parentSpan = Option.getOrUndefined(parent) as (Tracer.Span & { readonly captured: CapturedSpan }) | undefined
      const captured: CapturedSpan = {
        name,
        parent: parentSpan?.captured,
        start: startTime,
        end: undefined,
        exit: undefined,
        attributes: new Map(Object.entries(options?.attributes ?? {})),
        events: []
      }
      spans.push(captured)
      const spanId = String(++ids)
      const span: Tracer.Span & { readonly captured: CapturedSpan } = {
        _tag: "Span",
        captured,
        name,
        spanId,
        traceId: parentSpan?.traceId ?? spanId,
        parent,
        context: Context.empty(),
        get status() {
          return captured.end === undefined
            ? { _tag: "Started" as const, startTime }
            : { _tag: "Ended" as const, startTime, endTime: captured.end, exit: captured.exit! }
        },
        attributes: captured.attributes,
        links,
        sampled: true,
        kind,
        end: (endTime, exit) => {
          captured.end = endTime
          captured.exit = exit
        },
        attribute: (key, value) => {
          captured.attributes.set(key, value)
        },
        event: (eventName, _startTime, attributes) => {
          captured.events.push({ name: eventName, attributes })
        },
        addLinks: () => {}
      }
      return span
    },
    context: (f) => f()
  })
  return { spans, tracer }
}

const millisOf = (nanos: bigint | undefined) => (nanos === undefined ? undefined : Number(nanos / 1_000_000n))

/** A fake finished request, for feeding an alert directly. */
const finished = (requestId: number, fellBack: boolean): RouterEvent => ({
  _tag: "RequestFinished",
  chain: "default",
  requestId,
  at: 0,
  outcome: "success",
  target: fellBack ? "mini" : "sonnet",
  fallbacks: fellBack ? 1 : 0,
  latency: Duration.millis(100),
  cost: 0,
  costDelta: 0
})

const drain = <A>(queue: Queue.Dequeue<A>) => Effect.map(Queue.takeAll(queue), Chunk.toArray)

// ---------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------

describe("Prometheus exposition", () => {
  it.scoped("after traffic through a failing primary, /metrics holds exactly the router's counts", () =>
    Effect.gen(function* () {
      const primary = yield* sim("anthropic", { faults: [{ status: 529 }], info: { price: premium } })
      const secondary = yield* sim("openai", { info: { price: cheap } })
      const router = yield* Router.make({
        targets: { sonnet: { model: primary }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: {
          retry: { maxAttempts: 2, base: "100 millis", jitter: "none" },
          breaker: { consecutiveFailures: 4, openDuration: { base: "10 minutes" } }
        }
      })
      const run = { run: "prometheus" }
      const observability = yield* Observability.attach(router, { labels: run })
      const results = []
      for (let i = 0; i < 5; i++) results.push(succeeded(yield* settle(router.complete(Chat.prompt(`question ${i}`)))))
      yield* observability.flush
      const metrics = parsePrometheus(yield* observability.render)

      // every request was served by the secondary after a fallback
      expect(results.map((r) => r.meta.target)).toEqual(["mini", "mini", "mini", "mini", "mini"])
      expect(metrics.value("llm_requests_total", { ...run, chain: "default", outcome: "success" })).toBe(5)
      expect(metrics.select("llm_requests_total", run)).toHaveLength(1)

      // attempts by provider and error tag (or rejection reason), exactly as the router recorded them
      const expected = new Map<string, number>()
      for (const { meta } of results) {
        for (const a of meta.attempts) {
          const outcome = a.error === undefined ? "success" : a.error._tag === "Rejected" ? "rejected" : "error"
          const reason = a.error === undefined ? "" : a.error._tag === "Rejected" ? a.error.reason : a.error._tag
          const key = `${a.provider}|${a.model}|${outcome}|${reason}`
          expected.set(key, (expected.get(key) ?? 0) + 1)
        }
      }
      const seen = new Map(
        metrics.select("llm_attempts_total", run).map((s) => [
          `${s.labels["provider"]}|${s.labels["model"]}|${s.labels["outcome"]}|${s.labels["reason"] ?? ""}`,
          s.value
        ])
      )
      expect(seen).toEqual(expected)
      // two requests of two Overloaded attempts opened the breaker; the other three were rejected by it
      expect(expected.get("anthropic|anthropic-model|error|Overloaded")).toBe(4)
      expect(expected.get("anthropic|anthropic-model|rejected|circuit-open")).toBe(3)
      expect(metrics.value("llm_rejections_total", { ...run, target: "sonnet", reason: "circuit-open" })).toBe(3)

      // fallbacks from -> to, by reason
      expect(metrics.value("llm_fallbacks_total", { ...run, chain: "default", from: "sonnet", to: "mini", reason: "Overloaded" }))
        .toBe(2)
      expect(metrics.value("llm_fallbacks_total", { ...run, chain: "default", from: "sonnet", to: "mini", reason: "circuit-open" }))
        .toBe(3)

      // breakers: the primary open (2), the secondary closed (0), one transition
      const breaker = (target: string, provider: string) =>
        metrics.value("llm_circuit_breaker_state", { ...run, target, provider, model: `${provider}-model` })
      expect(breaker("sonnet", "anthropic")).toBe(2)
      expect(breaker("mini", "openai")).toBe(0)
      expect(metrics.value("llm_circuit_breaker_transitions_total", { ...run, target: "sonnet", from: "closed", to: "open" }))
        .toBe(1)

      // cost and tokens add up to the results' metadata
      const cost = metrics.value("llm_cost_usd_total", { ...run, provider: "openai", model: "openai-model", kind: "served" })
      expect(cost).toBeCloseTo(sum(results.map((r) => r.meta.cost)), 15)
      expect(cost).toBeGreaterThan(0)
      expect(metrics.value("llm_tokens_total", { ...run, provider: "openai", model: "openai-model", direction: "input" }))
        .toBe(sum(results.map((r) => r.meta.usage.inputTokens)))
      expect(metrics.value("llm_tokens_total", { ...run, provider: "openai", model: "openai-model", direction: "output" }))
        .toBe(sum(results.map((r) => r.meta.usage.outputTokens)))
      expect(metrics.value("llm_fallback_extra_cost_usd_total", { ...run, chain: "default" })).toBeUndefined() // it saved money

      // latency histograms, in seconds: five 100 ms successes on the secondary
      const latency = { ...run, provider: "openai", model: "openai-model", outcome: "success" }
      expect(metrics.families.get("llm_attempt_duration_seconds")?.type).toBe("histogram")
      expect(metrics.value("llm_attempt_duration_seconds_count", latency)).toBe(5)
      expect(metrics.value("llm_attempt_duration_seconds_sum", latency)).toBeCloseTo(0.5, 9)
      expect(metrics.value("llm_attempt_duration_seconds_bucket", { ...latency, le: "0.05" })).toBe(0)
      expect(metrics.value("llm_attempt_duration_seconds_bucket", { ...latency, le: "0.1" })).toBe(5)
      expect(metrics.value("llm_attempt_duration_seconds_bucket", { ...latency, le: "120" })).toBe(5)
      expect(metrics.families.get("llm_requests_total")?.type).toBe("counter")
      expect(metrics.families.get("llm_circuit_breaker_state")?.type).toBe("gauge")
      // the alert's gauges (5 requests: below its minimum, so not raised)
      expect(metrics.value("llm_fallback_rate", run)).toBe(1)
      expect(metrics.value("llm_alert_active", { ...run, alert: "fallback-rate" })).toBe(0)
    }))

  it.scoped("a stream's time to first token is its own histogram; a degraded answer and the retry budget are counted", () =>
    Effect.gen(function* () {
      const a = yield* sim("a", { faults: [{ status: 503 }] })
      const b = yield* sim("b", { latency: "300 millis", info: { price: cheap } })
      const router = yield* Router.make({
        targets: { a: { model: a }, b: { model: b } },
        chains: { default: ["a", "b"], down: { targets: ["a"], fallbackResponse: "Sorry, try later." } },
        policy: {
          retry: { maxAttempts: 3, base: "10 millis", jitter: "none" },
          budget: { maxTokens: 2 },
          breaker: { consecutiveFailures: 100 }
        },
        cache: false
      })
      const run = { run: "stream" }
      const observability = yield* Observability.attach(router, { labels: run })
      const streamed = Effect.scoped(
        Effect.flatMap(router.stream(Chat.prompt("stream please")), (result) =>
          Effect.zipRight(Stream.runDrain(result.chunks), result.done))
      )
      const meta = succeeded(yield* settle(streamed, "1 minute"))
      expect(meta.target).toBe("b")
      succeeded(yield* settle(router.complete(Chat.prompt("hi"), { chain: "down" }), "1 minute"))
      yield* observability.flush
      const metrics = parsePrometheus(yield* observability.render)
      const ttft = { ...run, provider: "b", model: "b-model" }
      expect(metrics.value("llm_time_to_first_token_seconds_count", ttft)).toBe(1)
      expect(metrics.value("llm_time_to_first_token_seconds_bucket", { ...ttft, le: "0.25" })).toBe(0)
      expect(metrics.value("llm_time_to_first_token_seconds_bucket", { ...ttft, le: "0.5" })).toBe(1)
      expect(metrics.value("llm_degraded_responses_total", { ...run, chain: "down", source: "static" })).toBe(1)
      expect(metrics.value("llm_requests_total", { ...run, chain: "down", outcome: "degraded" })).toBe(1)
      // a budget of 2 tokens: the first failure leaves 1, not above half, so no retry is allowed
      expect(sum(metrics.select("llm_retry_budget_exhausted_total", { ...run, target: "a" }).map((s) => s.value))).toBe(2)
      // a stream's cost is counted when it ends
      expect(meta.cost).toBeGreaterThan(0)
      expect(metrics.value("llm_cost_usd_total", { ...run, provider: "b", model: "b-model", kind: "served" }))
        .toBeCloseTo(meta.cost, 15)
      // and so are its tokens, in the metrics and in the cost report
      const report = yield* observability.costReport()
      const line = report.byModel.find((l) => l.model === "b-model")!
      expect(line).toMatchObject({ requests: 1, inputTokens: meta.usage.inputTokens, outputTokens: meta.usage.outputTokens })
      expect(meta.usage.outputTokens).toBeGreaterThan(0)
      expect(metrics.value("llm_tokens_total", { ...run, provider: "b", model: "b-model", direction: "input" })).toBe(meta.usage.inputTokens)
      expect(metrics.value("llm_tokens_total", { ...run, provider: "b", model: "b-model", direction: "output" })).toBe(meta.usage.outputTokens)
    }))

  it.effect("Prometheus.render exposes any Effect metric, escaping label values", () =>
    Effect.gen(function* () {
      const { Metric } = yield* Effect.promise(() => import("effect"))
      const counter = Metric.counter("observability_test_jobs_total", { description: "test jobs", incremental: true })
      yield* Metric.incrementBy(Metric.tagged(counter, "queue", 'we"ird\\name\nline'), 3)
      const text = yield* Prometheus.render
      const metrics = parsePrometheus(text)
      expect(metrics.families.get("observability_test_jobs_total")).toMatchObject({ type: "counter", help: "test jobs" })
      expect(metrics.value("observability_test_jobs_total", { queue: 'we"ird\\name\nline' })).toBe(3)
      expect(text).not.toMatch(/^# UNIT/m)
    }))

  it.effect("Prometheus.render describes the Effect runtime's own metrics (Effect gives them none)", () =>
    Effect.gen(function* () {
      yield* Effect.fork(Effect.void) // a fiber started and ended: the runtime's counters are there
      yield* Effect.yieldNow()
      const text = yield* Prometheus.render
      expect(text).not.toContain("description missing")
      expect(parsePrometheus(text).families.get("effect_fiber_started_total")).toMatchObject({ help: "Fibers the Effect runtime started" })
    }))

  it.scoped("a prefix or constant label Prometheus cannot carry is an ObservabilityOptionsError naming the option, before anything is attached", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({ targets: { ok: { model: yield* sim("ok") } }, chains: { default: ["ok"] } })
      const refused = (options: Observability.Options) =>
        Effect.map(Effect.flip(Effect.scoped(Observability.attach(router, options))), (error) => ({ tag: error._tag, path: error.path }))
      expect(yield* refused({ prometheus: { prefix: "my-app" } })).toEqual({ tag: "ObservabilityOptionsError", path: "prometheus.prefix" })
      expect(yield* refused({ prometheus: { prefix: "1app" } })).toEqual({ tag: "ObservabilityOptionsError", path: "prometheus.prefix" })
      expect(yield* refused({ labels: { "0bad": "z" } })).toEqual({ tag: "ObservabilityOptionsError", path: 'labels["0bad"]' })
      expect(yield* refused({ labels: { "router-name": "r" } })).toEqual({ tag: "ObservabilityOptionsError", path: 'labels["router-name"]' })
      // the histograms' own label, the summaries', Prometheus's reserved ones, and the recorder's own keys
      for (const key of ["le", "quantile", "__name__", "provider", "model", "chain", "outcome", "reason", "target"]) {
        expect(yield* refused({ labels: { run: "x", [key]: "y" } })).toEqual({ tag: "ObservabilityOptionsError", path: `labels.${key}` })
      }
      const error = yield* Effect.flip(Effect.scoped(Observability.attach(router, { labels: { le: "oops" } })))
      expect(error.message).toContain("labels.le")
      // the standalone constructors refuse them too, each naming its own option
      expect((yield* Effect.flip(Prometheus.make({ prefix: "my-app" }))).path).toBe("prefix")
      expect(() => Metrics.recorder({ targets: [], labels: { provider: "main" } })).toThrow(ObservabilityOptionsError)
      // what they accept: a prefix with colons and underscores, an empty one (none), labels of their own
      const observability = yield* Observability.attach(router, { labels: { run: "ok", _shard: "1" }, prometheus: { prefix: "my_app:llm" } })
      succeeded(yield* settle(router.complete(Chat.prompt("hi"))))
      yield* observability.flush
      const metrics = parsePrometheus(yield* observability.render)
      expect(metrics.value("my_app:llm_llm_requests_total", { run: "ok", _shard: "1", chain: "default", outcome: "success" })).toBe(1)
      yield* Effect.scoped(Prometheus.make({ prefix: "" }))
    }))
})

// ---------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------

describe("fallback-rate alert", () => {
  it.scoped("an outage raises one alert when the rate crosses 5% and resolves it once after recovery", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const primary = yield* sim("anthropic", { faults: [{ from: "2 minutes", to: "6 minutes", status: 503 }] })
      const secondary = yield* sim("openai")
      const router = yield* Router.make({
        targets: { sonnet: { model: primary }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 3, openDuration: { base: "30 seconds" } } }
      })
      const observability = yield* Observability.attach(router, { labels: { run: "alert" } }).pipe(Effect.provide(logs.layer))
      const alerts = yield* Option.getOrThrow(observability.alert).subscribe
      const seen: Array<Alerts.AlertEvent & { readonly request: number }> = []
      // one request every 5 seconds for 25 minutes: 300 requests
      for (let i = 0; i < 300; i++) {
        succeeded(yield* settle(router.complete(Chat.prompt(`q${i}`)), "5 seconds"))
        yield* observability.flush
        for (const event of yield* drain(alerts)) seen.push({ ...event, request: i })
      }
      expect(seen.map((e) => e._tag)).toEqual(["AlertRaised", "AlertResolved"])
      const [raised, resolved] = seen as unknown as [Alerts.AlertRaised, Alerts.AlertResolved]
      // raised on crossing: during the outage, with the window's rate at or above 5%, soon after it began
      expect(raised.at).toBeGreaterThanOrEqual(120_000)
      expect(raised.at).toBeLessThan(150_000)
      expect(raised.rate).toBeGreaterThanOrEqual(0.05)
      expect(raised.requests).toBeGreaterThanOrEqual(20)
      // resolved after the outage, once the window's rate fell below 4%
      expect(resolved.at).toBeGreaterThan(360_000)
      expect(resolved.rate).toBeLessThan(0.04)
      expect(resolved.raisedAt).toBe(raised.at)
      // one warning when raised, one info line when resolved
      const alertLines = logs.lines.filter((l) => l.annotations["alert"] === "fallback-rate")
      expect(alertLines.map((l) => l.level)).toEqual(["WARN", "INFO"])
      expect(Option.isNone(yield* Option.getOrThrow(observability.alert).active)).toBe(true)
    }), { timeout: 60_000 })

  it.scoped("hysteresis: a rate hovering between resolveBelow and the threshold neither re-raises nor resolves", () =>
    Effect.gen(function* () {
      const alert = yield* Alerts.fallbackRate({ threshold: 0.05, resolveBelow: 0.04, window: "5 minutes", minimumRequests: 20 })
      const events = yield* alert.subscribe
      let id = 0
      /** One request a second; `every` > 0 makes one in `every` fall back. */
      const traffic = (seconds: number, every: number) =>
        Effect.gen(function* () {
          for (let i = 0; i < seconds; i++) {
            id++
            yield* alert.record(finished(id, every > 0 && id % every === 0))
            yield* TestClock.adjust("1 second")
          }
        })
      yield* traffic(300, 0) // 0%
      expect(yield* drain(events)).toEqual([])
      yield* traffic(300, 10) // 10%: crosses once
      const raised = yield* drain(events)
      expect(raised.map((e) => e._tag)).toEqual(["AlertRaised"])
      yield* traffic(600, 22) // about 4.5%: between the two thresholds
      expect(yield* drain(events)).toEqual([])
      expect(Option.isSome(yield* alert.active)).toBe(true)
      const hovering = yield* alert.window
      expect(hovering.rate).toBeGreaterThan(0.04)
      expect(hovering.rate).toBeLessThan(0.05)
      yield* traffic(300, 0) // 0%: resolves once
      expect((yield* drain(events)).map((e) => e._tag)).toEqual(["AlertResolved"])
      yield* traffic(300, 0)
      expect(yield* drain(events)).toEqual([])
    }))

  it.scoped("the default resolveBelow is 80% of the threshold, exactly: a rate of 4% does not resolve an alert at 5%", () =>
    Effect.gen(function* () {
      const alert = yield* Alerts.fallbackRate({ threshold: 0.05, window: "1 minute", buckets: 6, minimumRequests: 20 })
      const events = yield* alert.subscribe
      // 18 answered, then 2 fallbacks: 10% of 20, raised
      for (let i = 0; i < 18; i++) yield* alert.record(finished(i, false))
      for (let i = 18; i < 20; i++) yield* alert.record(finished(i, true))
      expect((yield* drain(events)).map((e) => e._tag)).toEqual(["AlertRaised"])
      // 30 more answered: the rate falls to 2 in 50, 4.0%, not below 4.0%
      for (let i = 20; i < 50; i++) yield* alert.record(finished(i, false))
      expect((yield* alert.window).rate).toBe(0.04)
      expect(yield* drain(events)).toEqual([])
      expect(Option.isSome(yield* alert.active)).toBe(true)
      // one more: below it, resolved
      yield* alert.record(finished(50, false))
      expect((yield* drain(events)).map((e) => e._tag)).toEqual(["AlertResolved"])
    }))

  it.scoped("an alert resolves when its window empties, without traffic (TestClock drives the window)", () =>
    Effect.gen(function* () {
      const alert = yield* Alerts.fallbackRate({ minimumRequests: 5, window: "1 minute", buckets: 6 })
      const events = yield* alert.subscribe
      for (let i = 0; i < 5; i++) yield* alert.record(finished(i, true))
      expect((yield* drain(events)).map((e) => e._tag)).toEqual(["AlertRaised"])
      yield* TestClock.adjust("50 seconds")
      expect(yield* drain(events)).toEqual([])
      yield* TestClock.adjust("20 seconds")
      const [resolved] = yield* drain(events)
      expect(resolved).toMatchObject({ _tag: "AlertResolved", requests: 0, fallbacks: 0, rate: 0 })
    }))

  it.scoped("an alert resolves when traffic stays low but healthy: fewer than minimumRequests, none falling back", () =>
    Effect.gen(function* () {
      const alert = yield* Alerts.fallbackRate() // 5% over 5 minutes, at least 20 requests, resolved below 4%
      const events = yield* alert.subscribe
      for (let i = 0; i < 40; i++) yield* alert.record(finished(i, i % 2 === 1))
      expect((yield* drain(events)).map((e) => e._tag)).toEqual(["AlertRaised"])
      // two requests a minute, none falling back: 10 in the window, fewer than 20, never empty
      let id = 40
      for (let minute = 0; minute < 10; minute++) {
        for (let i = 0; i < 2; i++) {
          yield* TestClock.adjust("30 seconds")
          yield* alert.record(finished(id++, false))
        }
      }
      const [resolved, ...rest] = yield* drain(events)
      expect(rest).toEqual([])
      expect(resolved).toMatchObject({ _tag: "AlertResolved", fallbacks: 0, rate: 0 })
      expect(resolved!.requests).toBeGreaterThan(0)
      expect(resolved!.requests).toBeLessThan(20)
      expect(Option.isNone(yield* alert.active)).toBe(true)
    }))

  it.scoped("low traffic that still falls back keeps the alert: its fallbacks are counted against minimumRequests", () =>
    Effect.gen(function* () {
      const alert = yield* Alerts.fallbackRate({ window: "1 minute", buckets: 6 })
      const events = yield* alert.subscribe
      for (let i = 0; i < 20; i++) yield* alert.record(finished(i, i < 2))
      expect((yield* drain(events)).map((e) => e._tag)).toEqual(["AlertRaised"])
      // then 10 requests a minute, two of them falling back: the window always holds one at least, and 1 of a
      // minimum of 20 is 5%, not below 4%
      let id = 20
      for (let i = 0; i < 60; i++) {
        yield* TestClock.adjust("6 seconds")
        yield* alert.record(finished(id, id % 5 === 0))
        id++
      }
      expect(yield* drain(events)).toEqual([])
      expect(Option.isSome(yield* alert.active)).toBe(true)
    }))

  it.effect("invalid options are a defect", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.scoped(Alerts.fallbackRate({ threshold: 0.05, resolveBelow: 0.06 })))
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("resolveBelow")
    }))
})

// ---------------------------------------------------------------------------
// Cost report
// ---------------------------------------------------------------------------

describe("cost report", () => {
  it.scoped("adds up to the requests' own costs, with fallbacks' extra cost and shadow calls apart", () =>
    Effect.gen(function* () {
      // the cheap primary is down for the first minute: requests then go to the premium secondary
      const primary = yield* sim("openai", { info: { price: cheap }, faults: [{ to: "1 minute", status: 500 }] })
      const secondary = yield* sim("anthropic", { info: { price: premium } })
      const router = yield* Router.make({
        targets: { mini: { model: primary }, sonnet: { model: secondary } },
        chains: { default: ["mini", "sonnet"], premium: ["sonnet"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 1000 } },
        shadowRate: 1
      })
      const shadowCosts: Array<number> = []
      yield* Effect.forkScoped(
        Stream.runForEach(router.events, (e) =>
          Effect.sync(() => {
            if (e._tag === "AttemptSucceeded" && e.shadow) shadowCosts.push(e.cost ?? 0)
          }))
      )
      yield* Effect.yieldNow()
      const observability = yield* Observability.attach(router, { labels: { run: "cost" } })
      const results: Array<Router.Result> = []
      for (let i = 0; i < 24; i++) {
        const options = i % 4 === 3 ? { chain: "premium" } : {}
        results.push(succeeded(yield* settle(router.complete(Chat.prompt(`question number ${i}`), options), "5 seconds")))
      }
      yield* observability.flush
      const report = yield* observability.costReport()

      expect(report.currency).toBe("USD")
      expect(report.totals.requests).toBe(24)
      expect(report.totals.cost).toBeCloseTo(sum(results.map((r) => r.meta.cost)), 15)
      expect(report.totals.inputTokens).toBe(sum(results.map((r) => r.meta.usage.inputTokens)))
      expect(report.totals.outputTokens).toBe(sum(results.map((r) => r.meta.usage.outputTokens)))
      const fellBack = results.filter((r) => r.meta.fallbacks > 0)
      expect(fellBack.length).toBeGreaterThan(0)
      expect(report.totals.fallbackRequests).toBe(fellBack.length)
      expect(report.totals.fallbackExtraCost).toBeCloseTo(sum(fellBack.map((r) => r.meta.costDelta)), 15)
      expect(report.totals.fallbackExtraCost).toBeGreaterThan(0) // falling back to the premium model cost more

      // per model and per chain, each adds up to its own requests
      for (const line of report.byModel) {
        const mine = results.filter((r) => r.meta.provider === line.provider && r.meta.model === line.model)
        expect(line.requests).toBe(mine.length)
        expect(line.cost).toBeCloseTo(sum(mine.map((r) => r.meta.cost)), 15)
      }
      expect(sum(report.byModel.map((l) => l.requests))).toBe(24)
      for (const line of report.byChain) {
        const mine = results.filter((r) => r.meta.chain === line.chain)
        expect(line.requests).toBe(mine.length)
        expect(line.cost).toBeCloseTo(sum(mine.map((r) => r.meta.cost)), 15)
      }
      expect(report.byChain.map((l) => l.chain).sort()).toEqual(["default", "premium"])

      // shadow calls: counted apart, never in the served totals
      expect(shadowCosts.length).toBeGreaterThan(0)
      expect(report.shadow.totals.calls).toBe(shadowCosts.length)
      expect(report.shadow.totals.cost).toBeCloseTo(sum(shadowCosts), 15)

      // since: only the requests of the last minute (buckets of one minute)
      const now = yield* TestClock.currentTimeMillis
      const recent = yield* observability.costReport({ since: now - 60_000 })
      const inPeriod = results.length - Math.floor((now - 60_000) / 60_000) * 12
      expect(recent.from).toBe(Math.floor((now - 60_000) / 60_000) * 60_000)
      expect(recent.totals.requests).toBe(inPeriod)
      expect(recent.totals.requests).toBeLessThan(24)
    }))

  it.scoped("a reload that points a target at another model charges each request to the model that served it, in the report and the metrics", () =>
    Effect.gen(function* () {
      const mini = yield* sim("openai", { model: "gpt-4.1-mini", latency: "1 second", info: { price: { input: 0.4, output: 1.6 } } })
      const opus = yield* sim("anthropic", { model: "claude-opus-4-1", info: { price: { input: 15, output: 75 } } })
      const first = yield* Router.make({ targets: { main: { model: mini } }, chains: { default: ["main"] } })
      const swappable = yield* Router.swappable(first)
      const run = { run: "reload-cost" }
      const observability = yield* Observability.attach(swappable.router, { labels: run })
      // a request on the old model is still in flight when the reload swaps the router, and ends after requests on the new one
      const inFlight = yield* Effect.fork(swappable.router.complete(Chat.prompt("before")))
      yield* TestClock.adjust("10 millis")
      const next = yield* Router.make({ targets: { main: { model: opus } }, chains: { default: ["main"] } }, { previous: swappable.current() })
      yield* swappable.swap(next)
      const after: Array<Router.Result> = []
      for (let i = 0; i < 3; i++) after.push(succeeded(yield* settle(swappable.router.complete(Chat.prompt(`after ${i}`)), "200 millis")))
      const before = succeeded(yield* settle(Fiber.join(inFlight), "1 second"))
      expect(before.meta.model).toBe("gpt-4.1-mini")
      yield* observability.flush
      expect(after.map((r) => r.meta.model)).toEqual(["claude-opus-4-1", "claude-opus-4-1", "claude-opus-4-1"])
      const report = yield* observability.costReport()
      const metrics = parsePrometheus(yield* observability.render)
      expect(report.byModel.map((l) => ({ model: `${l.provider}/${l.model}`, requests: l.requests }))).toEqual([
        { model: "anthropic/claude-opus-4-1", requests: 3 },
        { model: "openai/gpt-4.1-mini", requests: 1 }
      ])
      expect(report.byModel[0]!.cost).toBeCloseTo(sum(after.map((r) => r.meta.cost)), 12)
      expect(report.byModel[1]!.cost).toBeCloseTo(before.meta.cost, 12)
      expect(metrics.value("llm_cost_usd_total", { ...run, provider: "anthropic", model: "claude-opus-4-1", kind: "served" }))
        .toBeCloseTo(sum(after.map((r) => r.meta.cost)), 12)
      expect(metrics.value("llm_cost_usd_total", { ...run, provider: "openai", model: "gpt-4.1-mini", kind: "served" }))
        .toBeCloseTo(before.meta.cost, 12)
      expect(metrics.value("llm_tokens_total", { ...run, provider: "anthropic", model: "claude-opus-4-1", direction: "output" }))
        .toBe(sum(after.map((r) => r.meta.usage.outputTokens)))
    }))

  it.effect("a ledger of more than 100,000 buckets is an ObservabilityOptionsError naming the option, not a heap of them", () =>
    Effect.gen(function* () {
      const refused = (options: Omit<CostReport.LedgerOptions, "targets">) =>
        Effect.map(Effect.flip(CostReport.ledger({ targets: [], ...options })), (error) => ({ tag: error._tag, path: error.path }))
      // 10 ms buckets over the default 24 hours: 8,640,000 of them (3.6 GB, 100 s to build)
      expect(yield* refused({ bucket: "10 millis" })).toEqual({ tag: "ObservabilityOptionsError", path: "bucket" })
      expect(yield* refused({ bucket: "0 millis", retention: "7 days" })).toEqual({ tag: "ObservabilityOptionsError", path: "bucket" })
      expect(yield* refused({ bucket: Duration.infinity })).toEqual({ tag: "ObservabilityOptionsError", path: "bucket" })
      // a year of the default one-minute buckets: 525,600
      expect(yield* refused({ retention: "365 days" })).toEqual({ tag: "ObservabilityOptionsError", path: "retention" })
      expect(yield* refused({ retention: Duration.infinity })).toEqual({ tag: "ObservabilityOptionsError", path: "retention" })
      expect(yield* refused({ retention: "0 millis" })).toEqual({ tag: "ObservabilityOptionsError", path: "retention" })
      const error = yield* Effect.flip(CostReport.ledger({ targets: [], bucket: "10 millis" }))
      expect(error.message).toContain("8640000 buckets")
      // 30 days of minutes (43,200 buckets) is fine
      const ledger = yield* CostReport.ledger({ targets: [], retention: "30 days" })
      expect((yield* ledger.report()).totals.requests).toBe(0)
    }))

  it.scoped("attach refuses the same cost options, at cost.bucket", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({ targets: { ok: { model: yield* sim("ok") } }, chains: { default: ["ok"] } })
      const error = yield* Effect.flip(Effect.scoped(Observability.attach(router, { cost: { bucket: "10 millis" } })))
      expect(error).toMatchObject({ _tag: "ObservabilityOptionsError", path: "cost.bucket" })
    }))
})

// ---------------------------------------------------------------------------
// Health snapshot and status page
// ---------------------------------------------------------------------------

describe("health snapshot", () => {
  it.scoped("an alert in force shows its window's rate now, not the one it was raised at", () =>
    Effect.gen(function* () {
      const router = yield* Router.make({ targets: { ok: { model: yield* sim("ok") } }, chains: { default: ["ok"] } })
      const alert = yield* Alerts.fallbackRate({ minimumRequests: 5, window: "1 minute", buckets: 6 })
      const health = yield* HealthSnapshot.tracker(router, { alerts: [alert] })
      for (let i = 0; i < 5; i++) yield* alert.record(finished(i, true))
      yield* TestClock.adjust("10 seconds")
      for (let i = 5; i < 20; i++) yield* alert.record(finished(i, false))
      const [active] = (yield* health.snapshot).alerts
      // raised at 5 of 5; now 5 of 20, since the raise
      expect(active).toEqual({ alert: "fallback-rate", since: 0, rate: 0.25, threshold: 0.05, requests: 20, fallbacks: 5 })
    }))

  it.scoped("an alert whose window has emptied is not shown in force with 0 of 0 requests until the alert's next tick", () =>
    Effect.gen(function* () {
      // the alert's ticks (every 10 s from its start, at 5 s) fall between its buckets' edges (every 10 s from 0)
      yield* TestClock.adjust("5 seconds")
      const router = yield* Router.make({ targets: { ok: { model: yield* sim("ok") } }, chains: { default: ["ok"] } })
      const alert = yield* Alerts.fallbackRate({ minimumRequests: 5, window: "1 minute", buckets: 6 })
      const health = yield* HealthSnapshot.tracker(router, { alerts: [alert] })
      for (let i = 0; i < 5; i++) yield* alert.record(finished(i, true))
      expect((yield* health.snapshot).alerts).toHaveLength(1)
      // at 61 s the window holds nothing (its requests were in [0, 10 s)); the alert's next tick is at 65 s
      yield* TestClock.adjust("56 seconds")
      expect(yield* alert.window).toEqual({ requests: 0, fallbacks: 0, rate: 0 })
      expect((yield* health.snapshot).alerts).toEqual([])
      expect(yield* alert.active).toEqual(Option.none())
    }))

  it.scoped("a target whose few calls all failed is degraded, though too few for the router to judge", () =>
    Effect.gen(function* () {
      const failing = yield* sim("failing", { faults: [{ status: 500 }] })
      const router = yield* Router.make({
        targets: { failing: { model: failing }, ok: { model: yield* sim("ok") } },
        chains: { default: ["failing", "ok"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 10 } },
        health: { minimumCalls: 5 }
      })
      const health = yield* HealthSnapshot.make(router)
      for (let i = 0; i < 3; i++) succeeded(yield* settle(router.complete(Chat.prompt(`q${i}`)), "1 second"))
      const byName = Object.fromEntries((yield* health.snapshot).targets.map((t) => [t.name, t]))
      expect(byName["failing"]).toMatchObject({ state: "degraded", calls: 3, failures: 3, breaker: { state: "closed", consecutiveFailures: 3 } })
      expect(byName["ok"]).toMatchObject({ state: "healthy", calls: 3 })
    }))

  it.scoped("shadow calls are left out of a target's calls, as from llm_attempts_total: their failures send no event", () =>
    Effect.gen(function* () {
      // b serves nothing; the shadow calls it gets fail half the time
      const b = yield* sim("b", { faults: [{ status: 503, errorRate: 0.5 }] })
      const router = yield* Router.make({
        targets: { a: { model: yield* sim("a") }, b: { model: b } },
        chains: { default: ["a", "b"] },
        shadowRate: 1
      })
      const health = yield* HealthSnapshot.make(router)
      for (let i = 0; i < 20; i++) succeeded(yield* settle(router.complete(Chat.prompt(`q${i}`)), "1 second"))
      yield* TestClock.adjust("10 seconds")
      const stats = yield* b.stats
      expect(stats.failed).toBeGreaterThan(0)
      expect(stats.failed).toBeLessThan(stats.calls)
      const byName = Object.fromEntries((yield* health.snapshot).targets.map((t) => [t.name, t]))
      expect(byName["b"]).toMatchObject({ calls: 0, successes: 0, failures: 0 })
      expect(byName["a"]).toMatchObject({ calls: 20, successes: 20, failures: 0 })
    }))

  it.scoped("states by breaker and health, windowed error counts, and a bounded list of recent fallbacks", () =>
    Effect.gen(function* () {
      const down = yield* sim("down", { faults: [{ status: 503 }] })
      const flaky = yield* sim("flaky", { faults: [{ to: "20 seconds", status: 500 }] })
      const ok = yield* sim("ok")
      const router = yield* Router.make({
        targets: {
          down: { model: down, policy: { breaker: { openDuration: { base: "10 minutes" } } } },
          flaky: { model: flaky },
          ok: { model: ok }
        },
        chains: { default: ["down", "ok"], flaky: ["flaky", "ok"] },
        policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 2, openDuration: { base: "1 minute" } } }
      })
      const health = yield* HealthSnapshot.make(router, { recentFallbacks: 3, window: "5 minutes" })
      for (let i = 0; i < 3; i++) succeeded(yield* settle(router.complete(Chat.prompt("a")), "1 second"))
      for (let i = 0; i < 2; i++) {
        succeeded(yield* settle(router.complete(Chat.prompt("b"), { chain: "flaky", correlationId: `req_b${i}` }), "1 second"))
      }
      // latency quantiles come from the router's health window (one minute by default)
      const early = (yield* health.snapshot).targets.find((t) => t.name === "ok")!
      expect(early.latencyMillis!.p50).toBeCloseTo(100, -1)
      expect(early.latencyMillis!.p95).toBeCloseTo(100, -1)
      // flaky's breaker opened at about 4 s for a minute; past its deadline it is half-open (degraded)
      yield* TestClock.adjust("62 seconds")
      const snapshot = yield* health.snapshot
      const byName = Object.fromEntries(snapshot.targets.map((t) => [t.name, t]))
      expect(byName["down"]).toMatchObject({
        state: "down",
        breaker: { state: "open", trips: 1 },
        calls: 2,
        failures: 2,
        rejections: 1,
        successRate: 0,
        errors: { Overloaded: 2, "circuit-open": 1 }
      })
      expect(byName["down"]!.breaker.retryInMillis).toBeGreaterThan(0)
      expect(byName["flaky"]).toMatchObject({ state: "degraded", breaker: { state: "half-open", retryInMillis: null } })
      expect(byName["ok"]).toMatchObject({ state: "healthy", calls: 5, successes: 5, successRate: 1, errors: {} })
      // the last three fallbacks, newest first
      expect(snapshot.recentFallbacks.map((f) => [f.chain, f.from, f.reason])).toEqual([
        ["flaky", "flaky", "ServerError"],
        ["flaky", "flaky", "ServerError"],
        ["default", "down", "circuit-open"]
      ])
      // a client's id is not on the status page (it needs no key): the router's number is
      expect(JSON.stringify(snapshot)).not.toContain("req_b")
      // JSON round trip through the schema
      expect(yield* HealthSnapshot.decode(JSON.parse(HealthSnapshot.toJson(snapshot)))).toEqual(snapshot)

      // isolated: down, with no retry time
      yield* router.breaker("ok")!.isolate
      const isolated = (yield* health.snapshot).targets.find((t) => t.name === "ok")!
      expect(isolated).toMatchObject({ state: "down", breaker: { state: "isolated", retryInMillis: null } })

      // after the window the error counts are gone
      yield* TestClock.adjust("6 minutes")
      const later = yield* health.snapshot
      expect(later.targets.find((t) => t.name === "down")).toMatchObject({ calls: 0, errors: {}, successRate: null })
    }))

  it("the status page's durations are rounded to what they show first: no 1000 ms, no 60 s, no 1 min 60 s", () => {
    const shown = [999.4, 999.6, 9_940, 9_960, 10_400, 59_400, 59_600, 60_000, 119_400, 119_600, 3_599_700].map(Html.duration)
    expect(shown).toEqual(["999 ms", "1.0 s", "9.9 s", "10 s", "10 s", "59 s", "1 min", "1 min", "1 min 59 s", "2 min", "60 min"])
  })

  it("the status page escapes every text and colours each state", () => {
    const evil = `<img src=x onerror="alert('x')">&`
    const snapshot: HealthSnapshot.Snapshot = {
      at: Date.UTC(2025, 0, 1),
      windowMillis: 300_000,
      targets: [
        {
          name: evil,
          provider: "p",
          model: "m",
          state: "down",
          breaker: { state: "open", retryInMillis: 25_000, trips: 1, consecutiveFailures: 3 },
          calls: 4,
          successes: 1,
          failures: 3,
          rejections: 2,
          successRate: 0.25,
          latencyMillis: { p50: 120, p95: 950 },
          timeToFirstTokenMillis: null,
          errors: { [evil]: 2 }
        }
      ],
      recentFallbacks: [{ at: Date.UTC(2025, 0, 1), requestId: 7, chain: evil, from: evil, to: "b", reason: "Overloaded" }],
      alerts: [{ alert: "fallback-rate", since: 0, rate: 0.5, threshold: 0.05, requests: 40, fallbacks: 20 }]
    }
    const html = StatusPage.render(snapshot, { title: `Status ${evil}` })
    expect(html).not.toContain("<img")
    expect(html).not.toContain(`onerror="`)
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;")
    expect(html).toContain('<td class="num">7</td>')
    expect(html).toContain(`class="badge state-down" data-state="down"`)
    expect(html).toContain(`class="badge breaker-open" data-breaker="open"`)
    expect(html).toContain(">25 s<")
    expect(html).toContain("fell back")
    expect(html).toMatch(/<meta http-equiv="refresh" content="5">/)
    // no external asset: no element that loads one, no url() in the style
    expect(html).not.toMatch(/<(link|img|iframe|object|embed|video|audio|source)\b/i)
    expect(html).not.toMatch(/<script[^>]*\ssrc=/i)
    expect(html).not.toContain("url(")
  })
})

// ---------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------

describe("log lines through a log sink", () => {
  it.scoped("with a sink in its context, the router's lines go to it (nothing below the minimum level), not through Effect's logger", () =>
    Effect.gen(function* () {
      /** The lines of one request that falls back, with observability attached at `level`. */
      const linesAt = (level: LogLevel.LogLevel, correlationId?: string) =>
        Effect.gen(function* () {
          const logs = captureLogs()
          const lines: Array<LogSink.Line> = []
          const sink = Layer.succeed(LogSink.LogSink, { write: (line) => void lines.push(line) })
          const primary = yield* sim("anthropic", { faults: [{ from: "0 seconds", to: "1 hour", status: 503 }] })
          const secondary = yield* sim("openai")
          const router = yield* Router.make({
            targets: { sonnet: { model: primary }, mini: { model: secondary } },
            chains: { default: ["sonnet", "mini"] },
            // the breaker opens on the first failure: its transition's line too
            policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 1 } }
          })
          const observability = yield* Observability.attach(router).pipe(
            Logger.withMinimumLogLevel(level),
            Effect.provide(Layer.merge(logs.layer, sink))
          )
          succeeded(yield* settle(router.complete(Chat.prompt("q"), correlationId === undefined ? {} : { correlationId }), "5 seconds"))
          yield* observability.flush
          expect(logs.lines.filter((l) => /^(LLM|circuit breaker)/.test(l.message))).toEqual([])
          const breaker = lines.filter((l) => l.message.startsWith("circuit breaker"))
          if (LogLevel.greaterThan(level, LogLevel.Warning)) expect(breaker).toEqual([])
          else {
            expect(breaker.map((l) => [l.level.label, l.message])).toEqual([["WARN", "circuit breaker of sonnet: closed -> open (consecutive-failures)"]])
            expect(Object.keys(breaker[0]!.fields)).toEqual(["target", "from", "to", "reason", "trips"])
          }
          return lines.filter((l) => l.message.startsWith("LLM"))
        })
      // at info (the default), the failed attempt's line, a debug one, is not made
      const atInfo = yield* linesAt(LogLevel.Info)
      expect(atInfo.map((l) => [l.level.label, l.message, Object.keys(l.fields)])).toEqual([
        ["WARN", "LLM fallback from sonnet to mini (Overloaded)", ["chain", "from", "to", "reason", "requestId"]]
      ])
      expect(atInfo[0]!.fields).toMatchObject({ chain: "default", from: "sonnet", to: "mini", reason: "Overloaded" })
      // with the caller's id of the request, after the router's
      const atDebug = yield* linesAt(LogLevel.Debug, "req_abc")
      expect(atDebug.map((l) => [l.level.label, l.message, Object.keys(l.fields)])).toEqual([
        [
          "DEBUG",
          "LLM attempt on sonnet failed (Overloaded)",
          ["chain", "target", "provider", "model", "attempt", "error", "requestId", "correlationId"]
        ],
        ["WARN", "LLM fallback from sonnet to mini (Overloaded)", ["chain", "from", "to", "reason", "requestId", "correlationId"]]
      ])
      expect(atDebug.map((l) => l.fields["correlationId"])).toEqual(["req_abc", "req_abc"])
      expect(yield* linesAt(LogLevel.Error)).toEqual([])
    }))

  it.effect("through Effect's logger, a request's lines carry the same ids, as annotations", () =>
    Effect.gen(function* () {
      const logs = captureLogs()
      const base = { chain: "default", requestId: 7, at: 0 }
      const events: ReadonlyArray<RouterEvent> = [
        { _tag: "Fallback", ...base, correlationId: "req_1", from: "a", to: "b", reason: "Overloaded" },
        { _tag: "BudgetExhausted", ...base, correlationId: "req_1", target: "a" },
        { _tag: "DegradedResponse", ...base, source: "cache" },
        {
          _tag: "StreamFailed",
          ...base,
          target: "a",
          provider: "p",
          model: "m",
          attempt: 2,
          error: new TransportError({ provider: "p", model: "m", message: "socket hang up" }),
          duration: Duration.seconds(3)
        }
      ]
      yield* Effect.forEach(events, Telemetry.logEvent).pipe(Effect.provide(logs.layer))
      expect(logs.lines.map((l) => [l.message, l.annotations])).toEqual([
        ["LLM fallback from a to b (Overloaded)", { chain: "default", from: "a", to: "b", reason: "Overloaded", requestId: 7, correlationId: "req_1" }],
        ["LLM retry budget of a exhausted", { chain: "default", target: "a", requestId: 7, correlationId: "req_1" }],
        ["LLM degraded response (cache) on chain default", { chain: "default", source: "cache", requestId: 7 }],
        [
          "LLM stream on a failed after its first content (TransportError)",
          { chain: "default", target: "a", provider: "p", model: "m", attempt: 2, error: "TransportError", requestId: 7 }
        ]
      ])
    }))
})

describe("spans", () => {
  it.scoped("one llm.request span per request with an llm.attempt child per attempt, at the events' times", () =>
    Effect.gen(function* () {
      const { spans, tracer } = captureSpans()
      const primary = yield* sim("anthropic", { faults: [{ status: 529 }] })
      const secondary = yield* sim("openai")
      const router = yield* Router.make({
        targets: { sonnet: { model: primary }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      const observability = yield* Observability.attach(router, { labels: { run: "spans" } }).pipe(Effect.withTracer(tracer))
      const start = yield* TestClock.currentTimeMillis
      const { meta } = succeeded(yield* settle(router.complete(Chat.prompt("traced"), { correlationId: "req_traced" })))
      yield* observability.flush
      const request = spans.find((s) => s.name === "llm.request")!
      expect(request.parent).toBeUndefined()
      expect(millisOf(request.start)).toBe(start)
      expect(millisOf(request.end)).toBe(start + Duration.toMillis(meta.latency))
      expect(Object.fromEntries(request.attributes)).toMatchObject({
        "llm.chain": "default",
        "llm.correlation_id": "req_traced",
        "llm.outcome": "success",
        "llm.target": "mini",
        "llm.fallbacks": 1
      })
      expect(request.events).toEqual([{ name: "fallback", attributes: { from: "sonnet", to: "mini", reason: "Overloaded" } }])
      const attempts = spans.filter((s) => s.name === "llm.attempt")
      expect(attempts.map((s) => s.parent)).toEqual([request, request])
      expect(attempts.map((s) => [s.attributes.get("llm.target"), s.attributes.get("llm.outcome"), s.attributes.get("llm.error")]))
        .toEqual([["sonnet", "error", "Overloaded"], ["mini", "success", undefined]])
      expect(attempts.map((s) => millisOf(s.end)! - millisOf(s.start)!)).toEqual(meta.attempts.map((a) => Duration.toMillis(a.duration)))
      expect(Exit.isFailure(attempts[0]!.exit!)).toBe(true)
      expect(Exit.isSuccess(attempts[1]!.exit!)).toBe(true)
    }))

  it.scoped("a request made inside the caller's span is its child, in the caller's trace", () =>
    Effect.gen(function* () {
      const { spans, tracer } = captureSpans()
      const router = yield* Router.make({ targets: { mini: { model: yield* sim("openai") } }, chains: { default: ["mini"] } })
      const observability = yield* Observability.attach(router, { labels: { run: "parent" } }).pipe(Effect.withTracer(tracer))
      const handler = router.complete(Chat.prompt("inside")).pipe(Effect.withSpan("checkout.handler"), Effect.withTracer(tracer))
      succeeded(yield* settle(handler))
      yield* observability.flush
      const caller = spans.find((s) => s.name === "checkout.handler")!
      const request = spans.find((s) => s.name === "llm.request")!
      expect(request.parent).toBe(caller)
      // no id of the caller's: no attribute for it
      expect(request.attributes.has("llm.correlation_id")).toBe(false)
      expect(spans.find((s) => s.name === "llm.attempt")!.parent).toBe(request)
    }))

  describe("requests held until they finish", () => {
    const base = (id: number) => ({ chain: "default", requestId: id, at: 0 })
    const onTarget = { target: "a", provider: "p", model: "m" }
    const started = (id: number): RouterEvent => ({ _tag: "AttemptStarted", ...base(id), ...onTarget, attempt: 1 })
    const answered = (id: number): RouterEvent =>
      ({ _tag: "AttemptSucceeded", ...base(id), ...onTarget, attempt: 1, duration: Duration.millis(500), shadow: false })
    const done = (id: number): RouterEvent =>
      ({ _tag: "RequestFinished", ...base(id), outcome: "success", target: "a", fallbacks: 0, latency: Duration.seconds(60), cost: 0, costDelta: 0 })

    it.effect("a long stream outlived by 1,000 newer requests in flight keeps its attempt span", () =>
      Effect.gen(function* () {
        const { spans, tracer } = captureSpans()
        const telemetry = yield* Telemetry.make({ logs: false }).pipe(Effect.withTracer(tracer))
        telemetry.listener(started(0))
        telemetry.listener(answered(0))
        // 20 requests a second start while it streams for 50 s, none finished yet
        for (let id = 1; id <= 1000; id++) telemetry.listener(started(id))
        telemetry.listener(done(0))
        const request = spans.find((s) => s.name === "llm.request")!
        expect(spans.filter((s) => s.name === "llm.attempt").map((s) => s.parent)).toEqual([request])
        expect(yield* telemetry.dropped).toBe(0)
      }))

    it.effect("beyond maxPendingRequests the request heard of least recently is dropped, counted, and warned of at 1, 10, 100...", () =>
      Effect.gen(function* () {
        const logs = captureLogs()
        const { spans, tracer } = captureSpans()
        const telemetry = yield* Telemetry.make({ maxPendingRequests: 2 }).pipe(Effect.withTracer(tracer))
        const feed = (event: RouterEvent) => telemetry.record(event).pipe(Effect.provide(logs.layer))
        yield* feed(started(0))
        yield* feed(started(1))
        yield* feed(answered(0)) // 0 heard of after 1
        yield* feed(started(2)) // 1 is dropped, not 0
        expect(yield* telemetry.dropped).toBe(1)
        yield* feed(done(0))
        const first = spans.find((s) => s.name === "llm.request")!
        expect(spans.filter((s) => s.name === "llm.attempt" && s.parent === first)).toHaveLength(1)
        for (let id = 3; id <= 12; id++) yield* feed(started(id)) // 2 and 3 fill the two places: 4 to 12 drop 9 more
        expect(yield* telemetry.dropped).toBe(10)
        const warnings = logs.lines.filter((l) => l.message.includes("maxPendingRequests"))
        expect(warnings.map((l) => [l.level, l.annotations["dropped"]])).toEqual([["WARN", 1], ["WARN", 10]])
      }))
  })
})

// ---------------------------------------------------------------------------
// No secret, no prompt
// ---------------------------------------------------------------------------

describe("secrets and prompts", () => {
  it.scoped("no metric label, log line, span, page or report holds a key or a prompt's text", () =>
    Effect.gen(function* () {
      const key = "sk-live-SECRET-4b9d0f7e"
      const marker = "PROMPT-MARKER-91c3e2a7"
      const logs = captureLogs()
      const { spans, tracer } = captureSpans()
      // a: rejects our key and quotes it back; b: a 500 whose message echoes the prompt; c: answers
      const a = yield* MockServer.make({ apiKey: "the-right-key" })
      const b = yield* MockServer.make({ faultFor: () => MockServer.status(500, { message: `cannot process "${marker}"` }) })
      const router = yield* Router.make({
        targets: {
          a: { model: yield* OpenAi.make({ model: "gpt-a", apiKey: Redacted.make(key), baseUrl: a.baseUrls.openai }) },
          b: { model: yield* OpenAi.make({ model: "gpt-b", apiKey: Redacted.make(key), baseUrl: b.baseUrls.openai }) },
          c: { model: yield* sim("sim", { latency: "0 millis" }) }
        },
        chains: { default: ["a", "b", "c"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      const observability = yield* Observability.attach(router, { labels: { run: "secrets" }, alert: { minimumRequests: 1 } })
        .pipe(Effect.withTracer(tracer), Effect.provide(logs.layer))
      const results: Array<Router.Result> = []
      for (let i = 0; i < 3; i++) results.push(yield* router.complete(Chat.prompt(`Summarise ${marker} number ${i}`)))
      yield* observability.flush

      // the secrets really went through the router: its errors carry them
      const errors = JSON.stringify(results.flatMap((r) => r.meta.attempts.map((x) => x.error?.message ?? "")))
      expect(errors).toContain(marker)
      expect(results.every((r) => r.meta.target === "c" && r.meta.fallbacks === 2)).toBe(true)

      const metrics = parsePrometheus(yield* observability.render)
      const labels = [...metrics.families.values()].flatMap((f) => f.samples.flatMap((s) => Object.values(s.labels)))
      expect(labels).toContain("Unauthorized")
      expect(labels).toContain("ServerError")
      const html = yield* Effect.map(observability.snapshot, (s) => StatusPage.render(s))
      const everything = [
        ...labels,
        ...logs.lines.map((l) => `${l.message} ${JSON.stringify(l.annotations)}`),
        ...spans.map((s) => `${s.name} ${JSON.stringify(Object.fromEntries(s.attributes))} ${JSON.stringify(s.events)} ${String(s.exit)}`),
        html,
        JSON.stringify(yield* observability.snapshot),
        JSON.stringify(yield* observability.costReport())
      ].join("\n")
      expect(logs.lines.filter((l) => l.level === "WARN").length).toBeGreaterThanOrEqual(6) // the fallbacks were logged
      expect(everything).not.toContain(marker)
      expect(everything).not.toContain(key)
      expect(everything).not.toContain("SECRET")
    }).pipe(
      Effect.provide(NodeHttpClient.layerUndici),
      Effect.provide(Logger.minimumLogLevel(LogLevel.All))
    ), { timeout: 30_000 })
})

// ---------------------------------------------------------------------------
// HTTP handlers
// ---------------------------------------------------------------------------

describe("HTTP handlers", () => {
  it.scoped("serves /metrics, /status, /status.json and /v1/usage, and CostReport.fetch decodes the report", () =>
    Effect.gen(function* () {
      const primary = yield* sim("anthropic", { faults: [{ status: 503 }] })
      const secondary = yield* sim("openai")
      const router = yield* Router.make({
        targets: { sonnet: { model: primary }, mini: { model: secondary } },
        chains: { default: ["sonnet", "mini"] },
        policy: { retry: { maxAttempts: 1 } }
      })
      const observability = yield* Observability.attach(router, { labels: { run: "http" } })
      for (let i = 0; i < 3; i++) succeeded(yield* settle(router.complete(Chat.prompt(`q${i}`))))
      yield* observability.flush

      const server = yield* NodeHttpServer.make(() => createServer(), { host: "127.0.0.1", port: 0 })
      yield* server.serve(Observability.httpRouter(observability))
      const port = server.address._tag === "TcpAddress" ? server.address.port : 0
      const base = `http://127.0.0.1:${port}`
      const get = (path: string) =>
        Effect.promise(async () => {
          const res = await fetch(`${base}${path}`)
          return { status: res.status, type: res.headers.get("content-type"), body: await res.text() }
        })

      const metrics = yield* get(Observability.paths.metrics)
      expect(metrics).toMatchObject({ status: 200, type: Prometheus.contentType })
      expect(parsePrometheus(metrics.body).value("llm_requests_total", { run: "http", chain: "default", outcome: "success" })).toBe(3)

      const status = yield* get(Observability.paths.status)
      expect(status).toMatchObject({ status: 200, type: "text/html; charset=utf-8" })
      expect(status.body).toContain(`data-target="sonnet"`)

      const json = yield* get(Observability.paths.statusJson)
      const snapshot = yield* HealthSnapshot.decode(JSON.parse(json.body))
      expect(snapshot.targets.map((t) => t.name)).toEqual(["sonnet", "mini"])
      expect(snapshot.recentFallbacks).toHaveLength(3)

      const fetched = yield* CostReport.fetch(`${base}${Observability.paths.usage}`)
      expect(fetched).toEqual(yield* observability.costReport())
      expect(fetched.totals.requests).toBe(3)
      const future = yield* CostReport.fetch(`${base}${Observability.paths.usage}`, { since: 3_600_000 })
      expect(future.totals.requests).toBe(0)
      const iso = yield* get(`${Observability.paths.usage}?since=1970-01-01T00:00:00Z`)
      expect(JSON.parse(iso.body).totals.requests).toBe(3)

      const bad = yield* get(`${Observability.paths.usage}?since=yesterday`)
      expect(bad.status).toBe(400)
      const failure = yield* Effect.flip(CostReport.fetch(`${base}/nowhere`))
      expect(failure).toMatchObject({ _tag: "UsageFetchError", status: 404 })
      // the gateway's reason comes along
      const refused = yield* Effect.flip(CostReport.fetch(`${base}${Observability.paths.usage}`, { since: Number.NaN }))
      expect(refused.message).toMatch(/answered HTTP 400: `since` must be epoch milliseconds or an ISO 8601 date/)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.scoped("CostReport.fetch gives up on a server that takes the request and never answers, and shows no control characters of another's", () =>
    Effect.gen(function* () {
      const port = yield* listen(() => {
        // takes the request, never answers
      })
      const fiber = yield* Effect.fork(Effect.flip(CostReport.fetch(`http://127.0.0.1:${port}/v1/usage`, { timeout: "5 seconds" })))
      while ((yield* TestClock.sleeps()).length === 0) yield* Effect.yieldNow()
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error.message).toBe(`http://127.0.0.1:${port}/v1/usage did not answer within 5s`)

      const noisyPort = yield* listen((_, res) => {
        res.writeHead(401, { "content-type": "application/json" })
        res.end(JSON.stringify({ error: { message: "\u001b[2J\u001b[31mrun this\u001b[0m" } }))
      })
      const refused = yield* Effect.flip(CostReport.fetch(`http://127.0.0.1:${noisyPort}/v1/usage`))
      expect(refused.message).not.toMatch(/[\u0000-\u001f]/)
      expect(refused.message).toContain("run this")

      // a port no one listens on: the system's reason comes along
      const closed = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          const server = createNetServer().listen(0, "127.0.0.1", () => {
            const { port } = server.address() as AddressInfo
            server.close(() => resolve(port))
          })
        })
      )
      const gone = yield* Effect.flip(CostReport.fetch(`http://127.0.0.1:${closed}/v1/usage`))
      expect(gone.message).toBe(`could not reach http://127.0.0.1:${closed}/v1/usage (ECONNREFUSED)`)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
