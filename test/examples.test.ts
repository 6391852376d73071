/**
 * Runs every program in `examples/` as a user would (`npm run example -- <name>`)
 * and checks that it exits 0 on its own, and that what it prints says what
 * its comment (and the README) says it shows: most examples check that
 * themselves and exit 1 otherwise; `claims` holds the lines of those that
 * only print.
 */
import { execFile } from "node:child_process"
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

const run = promisify(execFile)

/**
 * Examples run against 127.0.0.1 only: provider keys are removed from their
 * environment, so `provider-real` prints that it skipped. Set
 * LLM_FAILOVER_LIVE=1 to let it call the real APIs with your keys.
 */
const liveKeys = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"]
const exampleEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" }
  if (process.env["LLM_FAILOVER_LIVE"] !== "1") for (const key of liveKeys) delete env[key]
  return env
}
const root = join(import.meta.dirname, "..")
const examples = readdirSync(join(root, "examples"))
  .filter((file) => file.endsWith(".ts"))
  .sort()

const lines = (...patterns: ReadonlyArray<string | RegExp>) => patterns

/**
 * What an example claims, as lines of its output: a string is a line (or
 * part of one) as printed, a RegExp a pattern over the whole output.
 */
const claims: Readonly<Record<string, ReadonlyArray<string | RegExp>>> = {
  "circuit-breaker.ts": lines(
    // 1. three failures in a row open it for 10 s
    /call 3: upstream failed\n {2}\[t=0s\] closed -> open \(consecutive-failures\)\n/,
    // 2. while open, calls are rejected at once, with the time left
    "call 4: rejected, retry after 10s",
    "after 4s: rejected, retry after 6s",
    // 3. one probe at the deadline; it fails, and the breaker re-opens for twice as long
    /after 10s \(probe\): upstream failed\n {2}\[t=10s\] open -> half-open \(deadline\)\n {2}\[t=10s\] half-open -> open \(probe-failure\)\n/,
    "right after: rejected, retry after 20s",
    // 4. the upstream recovers: the next probe closes it
    /after 30s \(probe\): 200 OK\n {2}\[t=30s\] open -> half-open \(deadline\)\n {2}\[t=30s\] half-open -> closed \(probes-succeeded\)\n/,
    "next: 200 OK",
    "state closed (trips since it recovered: 0); the upstream saw 6 of 9 calls"
  ),
  "retry-backoff.ts": lines(
    // 1. seeded, so the same delays on every run; `none` is the plain exponential, capped
    /^ {3}none {9}100ms {2}200ms {2}400ms {2}800ms {2}1600ms {2}2000ms$/m,
    /^ {3}full {9}(\d+ms {2}){5}\d+ms$/m,
    // 2. the Retry-After wins over the shorter backoff; one past the cap fails over at once
    "   retry 1 in 30ms\n   retry 2 in 30ms\n   -> ok after 3 calls, ",
    /-> gave up at once: fail over, \d{1,3}ms\n/,
    // 3. the budget lets a handful of retries through, within its bound, then refills on successes
    /20 requests made 2[0-4] attempts: [0-4] retries \(at most 4 under any outage\)/,
    "tokens left: 0, retries allowed: false",
    /after 70 successes: tokens [1-9]\d*, retries allowed: true/
  ),
  "bulkhead-hedge.ts": lines(
    // 1. two run, two wait their turn, four are turned away
    /call 1: done at \d+ms\n {3}call 2: done at \d+ms\n {3}call 3: done at \d+ms\n {3}call 4: done at \d+ms\n/,
    /(call [5-8]: rejected \(full\)\n {3}){4}afterwards: 0 active, 0 queued, 2 free/,
    // 2. a call stuck in the queue gives up at its timeout
    "rejected (queue-timeout): waited longer than 20ms",
    // 3. the backup wins the hedge; the primary is interrupted and cleaned up before the answer
    'winner: alternative 1, "answer from backup"',
    "already cleaned up: primary interrupted, request aborted",
    'race with a dead primary: alternative 1 ("backup") wins',
    "health primary: 0/0 ok",
    "health backup: 1/1 ok"
  ),
  "simulated.ts": lines(
    /(t= {1,2}\d+ s {2}canServe=true {3}ok in \d+ ms: .*\n){3}/,
    // hard down from 0:30 to 1:00
    /(t= \d0 s {2}canServe=false {2}Overloaded \(529\) after 50 ms\n){3}/,
    // recovered after 1:20
    /(t=(?: 9|1\d)0 s {2}canServe=true {3}ok in \d+ ms: .*\n){4}\n13 calls: /,
    /13 calls: \d+ succeeded, \d+ failed \{"Overloaded":3(,"ServerError":\d)?\}/
  ),
  "provider-openai.ts": lines(
    'complete: "The capital of France is Paris." (21 in, 8 out)',
    'stream text: ["The ","capital ","of ","France ","is ","Paris."]',
    'the stream asked for: stream_options {"include_usage":true}',
    "429: RateLimited, retriable true, retry after 2s",
    /503 twice, then retried: "The capital of France is Paris\." in 3 attempts/,
    "stream cut before [DONE]: MalformedResponse"
  ),
  "provider-anthropic.ts": lines(
    'text: "Let me check.", finish: tool_calls',
    'tool calls: [{"id":"toolu_01","name":"weather","arguments":"{\\"city\\":\\"Paris\\"}"}]',
    'sent: system "You can call tools.", max_tokens 4096',
    "headers: anthropic-version 2023-06-01",
    "HTTP 529: Overloaded",
    'overloaded_error after "Let ": Overloaded',
    /too long: \d+ tokens > 200000 window/
  ),
  "provider-gemini.ts": lines(
    'chunk: {"_tag":"TextDelta","text":"Seven "}',
    'chunk: {"_tag":"Finish","reason":"stop"}',
    "roles: user, model, user; systemInstruction",
    "key in a header: true, in the URL: false",
    "RESOURCE_EXHAUSTED: RateLimited, retry after 30s",
    "ContentFiltered: gemini stopped the answer on policy (finishReason SAFETY)",
    "ContentFiltered: gemini blocked the prompt (SAFETY)"
  ),
  "prompt-cache.ts": lines(
    '1. served by claude; Claude was sent the system text as 1 block, cache_control {"type":"ephemeral","ttl":"1h"}',
    "100000 prompt tokens read from the cache: $0.031200, against $0.301200 uncached",
    "2. Claude answered 529: served by gpt after 1 fallback; cache field sent to GPT: false",
    "GPT reported 100000 prompt tokens read from its own cache"
  ),
  // the README's figures: 60 wasted calls on the dead primary without sharing, 30 with it
  "shared-state.ts": lines(/^each alone +60 /m, /^shared state +30 /m, "shared state wastes 0.50x the calls"),
  "provider-real.ts":
    process.env["LLM_FAILOVER_LIVE"] === "1"
      ? []
      : lines("skipped: OPENAI_API_KEY not set", "skipped: ANTHROPIC_API_KEY not set", "skipped: GEMINI_API_KEY not set")
}

// Each example is its own process, mostly waiting on startup: run a few at once.
describe.concurrent("examples", () => {
  it("has examples", () => {
    expect(examples.length).toBeGreaterThan(0)
    // a claim of an example that is no more would go unchecked
    for (const file of Object.keys(claims)) expect(examples).toContain(file)
  })

  it.each(examples)("%s runs and exits 0", async (file) => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", join(root, "examples", file)], {
      cwd: root,
      timeout: 240_000,
      env: exampleEnv()
    })
    expect(stdout.length).toBeGreaterThan(0)
    for (const claim of claims[file] ?? []) {
      if (typeof claim === "string") expect(stdout, file).toContain(claim)
      else expect(stdout, file).toMatch(claim)
    }
    // the simulator's examples replay hours of traffic: shared-state replays two (7,200 requests each), 25 to 35 s
    // of CPU; beside the other test files on two busy cores it took 90 s, so each example has four minutes
  }, 250_000)
})
