/**
 * A circuit breaker in front of a flaky upstream, on virtual time.
 *
 *   npm run example -- circuit-breaker
 *
 * 1. three failures in a row open the breaker for 10 seconds;
 * 2. while open, calls fail at once with `CircuitOpen` (and its retryAfter)
 *    without reaching the upstream;
 * 3. after the deadline one probe is let through; the upstream is still down,
 *    so the breaker re-opens, for 20 seconds this time (backoff);
 * 4. the upstream recovers, the next probe succeeds and the breaker closes.
 *
 * Time is a `TestClock`, so the minute of outage takes no time at all.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Chunk, Console, Data, Duration, Effect, Queue, Ref, TestClock, TestContext } from "effect"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"

class Unavailable extends Data.TaggedError("Unavailable")<{}> {}

const program = Effect.gen(function*() {
  const healthy = yield* Ref.make(false)
  const reached = yield* Ref.make(0)
  const upstream = Effect.gen(function*() {
    yield* Ref.update(reached, (n) => n + 1)
    if (!(yield* Ref.get(healthy))) return yield* new Unavailable()
    return "200 OK"
  })

  const breaker = yield* CircuitBreaker.make({
    name: "upstream",
    trip: CircuitBreaker.consecutiveFailures(3),
    openDuration: { base: "10 seconds", factor: 2, cap: "1 minute" }
  })
  const transitions = yield* breaker.subscribe

  const call = (label: string) =>
    breaker.protect(upstream).pipe(
      Effect.matchEffect({
        onSuccess: (body) => Console.log(`${label}: ${body}`),
        onFailure: (error) =>
          error._tag === "CircuitOpen"
            ? Console.log(`${label}: rejected, retry after ${Duration.format(error.retryAfter)}`)
            : Console.log(`${label}: upstream failed`)
      }),
      Effect.zipRight(printTransitions)
    )

  const printTransitions = Effect.flatMap(Queue.takeAll(transitions), (seen) =>
    Effect.forEach(
      Chunk.toArray(seen),
      (t) => Console.log(`  [t=${t.at / 1000}s] ${t.from} -> ${t.to} (${t.reason})`),
      { discard: true }
    ))

  for (let i = 1; i <= 4; i++) yield* call(`call ${i}`)
  yield* TestClock.adjust("4 seconds")
  yield* call("after 4s")

  yield* TestClock.adjust("6 seconds")
  yield* call("after 10s (probe)")
  yield* call("right after")

  yield* Ref.set(healthy, true)
  yield* TestClock.adjust("20 seconds")
  yield* call("after 30s (probe)")
  yield* call("next")

  const snapshot = yield* breaker.snapshot
  yield* Console.log(
    `state ${snapshot.state} (trips since it recovered: ${snapshot.trips}); the upstream saw ${yield* Ref.get(reached)} of 9 calls`
  )
})

NodeRuntime.runMain(Effect.scoped(program).pipe(Effect.provide(TestContext.TestContext)))
