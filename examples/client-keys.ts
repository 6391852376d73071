/**
 * Client keys: one gateway, three keys. The operator's key may call
 * everything; the search team's may call the `fast` chain only, twice a
 * minute; the batch team's may spend $0.001 a day. Each refusal is the
 * error an OpenAI client knows (403, or 429 with its `code`), and
 * `GET /v1/key` tells a team where it stands, without the key.
 *
 * Run: npm run example -- client-keys
 */
import { Console, Effect, Redacted } from "effect"
import * as Gateway from "../src/gateway/Gateway.js"
import * as Simulated from "../src/providers/Simulated.js"
import * as Router from "../src/router/Router.js"
import { check, runReal } from "./internal/show.js"

const operator = Redacted.make("gw-operator-example-key")
const search = Redacted.make("gw-search-example-key")
const batch = Redacted.make("gw-batch-example-key")

const program = Effect.gen(function* () {
  // 500 output tokens an answer: $0.0008 at $1.60 a million (the prompt free, for round figures)
  const mini = yield* Simulated.make({
    provider: "openai",
    model: "gpt-4.1-mini",
    info: { price: { input: 0, output: 1.6 } },
    latency: "5 millis",
    outputTokens: 500,
    tokenDelay: "0 millis"
  })
  const router = yield* Router.make({ targets: { mini: { model: mini } }, chains: { default: ["mini"], fast: ["mini"] } })
  const gateway = yield* Gateway.make({
    router,
    port: 0,
    keys: [
      operator,
      { key: search, name: "search", models: ["fast"], rpm: 2 },
      { key: batch, name: "batch", spend: { usd: 0.001, window: "1 day" } }
    ]
  })

  const call = (key: Redacted.Redacted, model: string) =>
    Effect.promise(async () => {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${Redacted.value(key)}` },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "Hello!" }] })
      })
      const body = (await response.json()) as { readonly error?: { readonly code: string; readonly message: string } }
      return { status: response.status, code: body.error?.code, retryAfter: response.headers.get("retry-after") }
    })
  const show = (who: string, model: string, answer: { status: number; code: string | undefined; retryAfter: string | null }) =>
    Console.log(
      `${who.padEnd(9)} ${model.padEnd(8)} -> ${answer.status}${answer.code === undefined ? "" : ` ${answer.code}`}` +
        (answer.retryAfter === null ? "" : ` (retry after ${answer.retryAfter}s)`)
    )

  yield* Console.log("1. the search team may call `fast`, twice a minute")
  const searches = []
  for (const model of ["fast", "default", "fast", "fast"]) {
    const answer = yield* call(search, model)
    searches.push(answer)
    yield* show("search", model, answer)
  }

  yield* Console.log("2. the batch team may spend $0.001 a day: two answers of $0.0008 pass it")
  const batches = []
  for (let i = 0; i < 3; i++) {
    const answer = yield* call(batch, "default")
    batches.push(answer)
    yield* show("batch", "default", answer)
  }

  yield* Console.log("3. the operator's key is not limited")
  const operators = [yield* call(operator, "default"), yield* call(operator, "fast")]
  for (const [i, answer] of operators.entries()) yield* show("operator", i === 0 ? "default" : "fast", answer)

  yield* Console.log("4. GET /v1/key, as the batch team")
  const info = yield* Effect.promise(() =>
    fetch(`${gateway.url}/v1/key`, { headers: { authorization: `Bearer ${Redacted.value(batch)}` } }).then((r) => r.text())
  )
  yield* Console.log(`   ${info}`)

  yield* check(searches.map((a) => a.status).join(",") === "200,403,200,429", "search: 200, 403 for default, 200, then 429 past 2 a minute")
  yield* check(searches[1]?.code === "model_not_allowed" && searches[3]?.code === "rate_limit_exceeded", "search's refusals say why")
  yield* check(searches[3]?.retryAfter !== null, "the rate limit's 429 says when to come back")
  yield* check(batches.map((a) => a.status).join(",") === "200,200,429" && batches[2]?.code === "insufficient_quota", "batch: refused once its cap is spent")
  yield* check(operators.every((a) => a.status === 200), "the operator's key calls everything")
  yield* check(info.includes(`"spent_usd":0.0016`) && !info.includes("gw-batch"), "the key's spending, never the key")
}).pipe(Effect.scoped)

runReal(program)
