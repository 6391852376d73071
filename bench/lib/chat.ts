/**
 * What the gateway benchmarks send and check, shared by their suites: the
 * mock upstream's reply, the chat request, the checks of a response body,
 * our gateway's config on the mock, and the mock's counts of upstream calls.
 */
import { setTimeout as sleep } from "node:timers/promises"
import { compiledPath } from "./compiled.js"
import type { ForkedChild } from "./processes.js"
import { forkNode } from "./processes.js"

/** What the mock answers: one word a stream event. */
export const replyText = "Hello from the mock upstream, one word a stream event."
/** The model every request names upstream. */
export const upstreamModel = "gpt-4o-mini"
/** The key sent upstream (the mock takes any). */
export const upstreamKey = "sk-bench-not-a-secret"

/**
 * The chat request, the same on every side but for `model`: with `stream`,
 * `stream_options.include_usage` too (our gateway always asks upstream for
 * it, so every side asks the mock for the same answer). With `promptKiB`,
 * a conversation of about that size before the last "Say hello": a system
 * message and turns of prose, a paragraph break in each.
 */
export const chatBody = (model: string, stream: boolean, promptKiB = 0): string =>
  JSON.stringify({
    model,
    messages: [...conversation(promptKiB), { role: "user", content: "Say hello" }],
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {})
  })

const paragraph = "The quick brown fox jumps over the lazy dog, and the dog does not mind at all. ".repeat(12)

const conversation = (kib: number): Array<{ readonly role: string; readonly content: string }> => {
  if (kib <= 0) return []
  const turn = `${paragraph}\n\n${paragraph}`
  const turns = Math.max(1, Math.round((kib * 1024) / turn.length) - 1)
  return [
    { role: "system", content: `You are a helpful assistant.\n\n${paragraph}` },
    ...Array.from({ length: turns }, (_, i) => ({ role: i % 2 === 0 ? "user" : "assistant", content: turn }))
  ]
}

/** A chat completion whose message is the reply. */
export const verifyJson = (body: string): boolean => {
  try {
    const json = JSON.parse(body) as { choices?: Array<{ message?: { content?: unknown } }> }
    return json.choices?.[0]?.message?.content === replyText
  } catch {
    return false
  }
}

/**
 * A complete stream: every event's `data:` parses, the deltas spell the
 * reply, a usage chunk came, no error event, `[DONE]` last.
 */
export const verifyStream = (body: string): boolean => {
  let text = ""
  let usage = false
  let done = false
  for (const event of body.split("\n\n")) {
    if (event.trim() === "") continue
    const data = event
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trimStart())
      .join("\n")
    if (data === "") continue // a comment or a keep-alive
    if (done) return false
    if (data === "[DONE]") {
      done = true
      continue
    }
    try {
      const chunk = JSON.parse(data) as {
        error?: unknown
        usage?: unknown
        choices?: Array<{ delta?: { content?: unknown } }>
      }
      if (chunk.error !== undefined) return false
      if (chunk.usage !== undefined && chunk.usage !== null) usage = true
      const content = chunk.choices?.[0]?.delta?.content
      if (typeof content === "string") text += content
    } catch {
      return false
    }
  }
  return done && usage && text === replyText
}

/**
 * Our gateway's config file: two openai providers on the mock (one under
 * `/down/`, answered 503) and two chains, `healthy` and `failover`; no
 * retry, and a breaker that never opens (see the gateway suite).
 */
export const gatewayConfig = (mock: string, port: number): string =>
  [
    "# written by the gateway benchmark (bench/lib/chat.ts)",
    "providers:",
    `  down: { type: openai, apiKey: "env:BENCH_UPSTREAM_KEY", baseUrl: "${mock}/down/v1" }`,
    `  up: { type: openai, apiKey: "env:BENCH_UPSTREAM_KEY", baseUrl: "${mock}/v1" }`,
    "models:",
    `  primary: { provider: down, model: ${upstreamModel} }`,
    `  backup: { provider: up, model: ${upstreamModel} }`,
    "chains:",
    "  healthy: [backup]",
    "  failover: [primary, backup]",
    "defaultChain: healthy",
    "policy:",
    "  # as Portkey's fallback: no retry, straight to the next target",
    "  retry: { maxAttempts: 1 }",
    "  # the breaker never opens, so the primary is called every time, as Portkey calls it",
    "  breaker: { consecutiveFailures: 0, slowCallRate: false }",
    "  # no hedge (a config's default): Portkey's fallback does not hedge",
    "  hedge: false",
    "gateway:",
    "  host: 127.0.0.1",
    `  port: ${port}`,
    ""
  ].join("\n")

/** Calls the mock answered: healthy ones and 503s (under `/down/`). */
export interface Counts {
  readonly healthy: number
  readonly down: number
}

/** The mock's counts now. */
export const counts = (mock: ForkedChild) => mock.ask<Counts & { readonly type: string }>({ type: "counts" }, "counts")

/**
 * The mock's counts once they stopped moving for 600 ms (at most 10 s): a
 * gateway may still be working through requests whose client left when
 * the run stopped, and those calls must not count in the next run.
 */
export const settled = async (mock: ForkedChild): Promise<Counts> => {
  const deadline = Date.now() + 10_000
  let last = await counts(mock)
  for (;;) {
    await sleep(600)
    const now = await counts(mock)
    if ((now.healthy === last.healthy && now.down === last.down) || Date.now() > deadline) return now
    last = now
  }
}

/**
 * What is wrong, if anything, with the upstream calls of a run: there must
 * be one healthy call a response (direct, a healthy chain), or one 503 and
 * one healthy call a response (a gateway's failover chain). Requests in
 * flight when the run stopped reached the mock without being counted as
 * responses: up to one a connection, so the slack is the connection count.
 */
export const upstreamProblem = (failover: boolean, responses: number, connections: number, up: Counts): string | undefined => {
  const within = (n: number) => n >= responses && n <= responses + connections
  const wantDown = failover ? `${responses} to ${responses + connections}` : "0"
  const downOk = failover ? within(up.down) : up.down === 0
  if (within(up.healthy) && downOk) return undefined
  return `${responses} responses, but the mock answered ${up.healthy} healthy calls (expected ${responses} to ${responses + connections}) and ${up.down} 503s (expected ${wantDown})`
}

/**
 * Starts the mock upstream (`servers/mock.ts`, compiled) in a process of its
 * own; resolves with it and its URL once it listens. By default it answers
 * `replyText` with a stream's events all at once; `text` and
 * `tokenDelayMillis` give it another answer and a pause between events.
 */
export const startMock = async (
  options: { readonly text?: string; readonly tokenDelayMillis?: number } = {}
): Promise<{ readonly mock: ForkedChild; readonly url: string }> => {
  const { child, ready } = await forkNode<{ readonly url: string }>({
    name: "mock",
    modulePath: compiledPath("bench/lib/servers/mock.ts"),
    env: {
      BENCH_REPLY_TEXT: options.text ?? replyText,
      ...(options.tokenDelayMillis === undefined ? {} : { BENCH_TOKEN_DELAY_MS: String(options.tokenDelayMillis) })
    }
  })
  return { mock: child, url: ready.url }
}

/** The A/B tools' cases: a completion or a stream, straight or through the chain whose primary answers 503. */
export const abCases = {
  complete: { failover: false, stream: false },
  stream: { failover: false, stream: true },
  fcomplete: { failover: true, stream: false },
  fstream: { failover: true, stream: true }
} as const

/** The case `--case` names, or an error listing them. */
export const abCase = (name: string | undefined): (typeof abCases)[keyof typeof abCases] => {
  const chosen = abCases[name as keyof typeof abCases]
  if (chosen === undefined) throw new Error(`--case must be one of ${Object.keys(abCases).join(", ")}`)
  return chosen
}
