/**
 * The OpenAI-compatible gateway over two simulated providers: the primary is
 * overloaded, so the gateway fails over to the secondary, and the response
 * headers say which provider answered and how. Any OpenAI client would do;
 * here it is plain `fetch`.
 *
 * Run: npm run example -- gateway
 */
import { Console, Effect } from "effect"
import * as Gateway from "../src/gateway/Gateway.js"
import * as Simulated from "../src/providers/Simulated.js"
import * as Router from "../src/router/Router.js"
import { check, runReal } from "./internal/show.js"

const program = Effect.gen(function* () {
  // real time, short latencies: the primary answers every call with a 529
  const sonnet = yield* Simulated.make({
    provider: "anthropic",
    model: "claude-sonnet-4-5",
    latency: "20 millis",
    errorDelay: "10 millis",
    faults: [{ status: 529 }]
  })
  const mini = yield* Simulated.make({ provider: "openai", model: "gpt-4.1-mini", latency: "20 millis", tokenDelay: "2 millis" })
  const router = yield* Router.make({
    targets: { sonnet: { model: sonnet }, mini: { model: mini } },
    chains: { default: ["sonnet", "mini"] },
    policy: { retry: { maxAttempts: 1 } }
  })

  // port 0: a free port on 127.0.0.1; the gateway drains and stops with the scope
  const gateway = yield* Gateway.make({ router, port: 0 })
  yield* Console.log(`gateway on ${gateway.url} (an OpenAI client's baseURL: ${gateway.url}/v1)`)

  const response = yield* Effect.promise(() =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "Hello, gateway!" }] })
    })
  )
  const body = (yield* Effect.promise(() => response.json())) as {
    readonly model: string
    readonly choices: ReadonlyArray<{ readonly message: { readonly content: string } }>
  }
  yield* Console.log(`status ${response.status}, model ${body.model}: "${body.choices[0]?.message.content}"`)
  for (const [name, value] of response.headers) {
    if (name.startsWith("x-llm-") || name === "x-request-id") yield* Console.log(`  ${name}: ${value}`)
  }

  yield* check(response.status === 200, "the gateway answered 200")
  yield* check(response.headers.get("x-llm-provider") === "openai", "the secondary (openai) served the request")
  yield* check(response.headers.get("x-llm-fallbacks") === "1", "one fallback was taken")
}).pipe(Effect.scoped)

runReal(program)
