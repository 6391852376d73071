/**
 * A simulated provider that goes down for a window and comes back.
 *
 * Two minutes of traffic, one call every 10 seconds, run in virtual time
 * (a `TestClock`), so the program ends at once. The provider is hard down
 * (529) from 0:30 to 1:00, then fails half its calls (gray 500s) until 1:20,
 * then recovers. Each line shows what the schedule says (`canServe`) and what
 * the call did.
 *
 * Run it with `npm run example -- simulated`.
 */
import { Clock, Console, Duration, Effect, Either, Fiber, TestClock, TestContext } from "effect"
import * as Chat from "../src/llm/Chat.js"
import * as Simulated from "../src/providers/Simulated.js"

const seconds = (millis: number) => `${String(Math.round(millis / 1000)).padStart(3)} s`

/** One call at the current virtual time, logged with its outcome. */
const callOnce = (model: Simulated.Service) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const canServe = model.canServe(start)
    const result = yield* Effect.either(model.complete(Chat.prompt("Are you up?")))
    const took = (yield* Clock.currentTimeMillis) - start
    const outcome = Either.match(result, {
      onLeft: (error) => `${error._tag}${error.status !== undefined ? ` (${error.status})` : ""} after ${took} ms`,
      onRight: (response) => `ok in ${took} ms: "${response.text}"`
    })
    yield* Console.log(`t=${seconds(start - model.epoch)}  canServe=${String(canServe).padEnd(5)}  ${outcome}`)
  })

const program = Effect.gen(function*() {
  const model = yield* Simulated.make({
    provider: "anthropic",
    model: "claude-sonnet-4-5",
    latency: { p50: "800 millis", p99: "4 seconds" },
    seed: 1,
    faults: [
      { from: "30 seconds", to: "1 minute", status: 529 },
      { from: "1 minute", to: "80 seconds", status: 500, errorRate: 0.5 }
    ]
  })

  const traffic = Effect.forEach(
    Array.from({ length: 13 }, (_, i) => i),
    (i) => Effect.delay(callOnce(model), Duration.seconds(10 * i)),
    { concurrency: "unbounded", discard: true }
  )
  const fiber = yield* Effect.fork(traffic)
  yield* TestClock.adjust("3 minutes")
  yield* Fiber.join(fiber)

  const stats = yield* model.stats
  yield* Console.log(
    `\n${stats.calls} calls: ${stats.succeeded} succeeded, ${stats.failed} failed ${JSON.stringify(stats.failures)}`
  )
})

Effect.runPromise(program.pipe(Effect.provide(TestContext.TestContext))).catch((error) => {
  console.error(error)
  process.exit(1)
})
