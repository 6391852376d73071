/**
 * Jittered backoff, Retry-After handling and a shared retry budget.
 *
 *   npm run example -- retry-backoff
 *
 * 1. prints the delays each jitter produces (seeded, so the output is stable);
 * 2. retries a call that answers "429, Retry-After: 30 ms" twice, with real
 *    but short sleeps, then one whose Retry-After is past the cap, which
 *    fails over at once instead of waiting;
 * 3. sends 20 requests to a dead upstream through one budget, which lets
 *    only a handful of retries through, then refills on successes.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Clock, Console, Data, Duration, Effect, Option, Random, Schedule } from "effect"
import * as Backoff from "../src/resilience/Backoff.js"
import * as Retry from "../src/resilience/Retry.js"
import * as RetryBudget from "../src/resilience/RetryBudget.js"

class Unavailable extends Data.TaggedError("Unavailable")<{ readonly retryAfter?: Duration.Duration }> {}

const ms = (duration: Duration.Duration) => `${Math.round(Duration.toMillis(duration))}ms`

/** 1. Six delays of each jitter: base 100 ms, factor 2, cap 2 s. */
const showJitters = Effect.gen(function*() {
  yield* Console.log("1. delays by jitter (base 100ms, factor 2, cap 2s, seeded):")
  for (const jitter of Backoff.jitters) {
    const schedule = Backoff.schedule({ base: "100 millis", cap: "2 seconds", jitter, maxAttempts: 7 })
    const delays = yield* Schedule.run(schedule, 0, [1, 2, 3, 4, 5, 6]).pipe(
      Effect.withRandom(Random.make("retry-backoff"))
    )
    yield* Console.log(`   ${jitter.padEnd(12)} ${Array.from(delays, ms).join("  ")}`)
  }
})

/** A server that rate limits the first `busyFor` calls with the given Retry-After. */
const rateLimited = (busyFor: number, retryAfter: Duration.Duration) => {
  let calls = 0
  return Effect.suspend(() =>
    ++calls <= busyFor ? Effect.fail(new Unavailable({ retryAfter })) : Effect.succeed(`ok after ${calls} calls`)
  )
}

const retryPolicy = {
  base: "5 millis",
  cap: "50 millis",
  maxAttempts: 4,
  retryAfter: (e: Unavailable) => Option.fromNullable(e.retryAfter),
  retryAfterCap: "1 second",
  onRetry: ({ attempt, delay }: Retry.RetryInfo<Unavailable>) => Console.log(`   retry ${attempt} in ${ms(delay)}`)
} as const

const timed = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const result = yield* Effect.either(effect)
    return { result, elapsed: (yield* Clock.currentTimeMillis) - start }
  })

/** 2. Retry-After wins over the (shorter) backoff; past its cap we fail over at once. */
const showRetryAfter = Effect.gen(function*() {
  yield* Console.log("2. Retry-After: 30ms (the backoff alone would wait 0-5ms, then 0-10ms)")
  const honoured = yield* timed(Retry.retry(rateLimited(2, Duration.millis(30)), retryPolicy))
  yield* Console.log(`   -> ${honoured.result._tag === "Right" ? honoured.result.right : "failed"}, ${honoured.elapsed}ms`)

  yield* Console.log("   Retry-After: 5s, above the 1s cap")
  const tooLong = yield* timed(Retry.retry(rateLimited(1, Duration.seconds(5)), retryPolicy))
  yield* Console.log(`   -> ${tooLong.result._tag === "Left" ? "gave up at once: fail over" : "succeeded"}, ${tooLong.elapsed}ms`)
})

/** 3. A dead upstream and a budget of 10 tokens shared by 20 requests of up to 3 attempts. */
const showBudget = Effect.gen(function*() {
  const budget = yield* RetryBudget.make({ maxTokens: 10, tokenRatio: 0.1 })
  let attempts = 0
  const dead = Effect.suspend(() => {
    attempts++
    return Effect.fail(new Unavailable({}))
  })
  const request = Retry.retry(dead, { base: "1 millis", cap: "5 millis", maxAttempts: 3, budget })

  yield* Effect.replicateEffect(Effect.either(request), 20, { discard: true })
  const bound = Math.ceil(budget.maxTokens / 2) - 1
  yield* Console.log("3. retry budget (maxTokens 10, tokenRatio 0.1), upstream down:")
  yield* Console.log(`   20 requests made ${attempts} attempts: ${attempts - 20} retries (at most ${bound} under any outage)`)
  yield* Console.log(`   tokens left: ${yield* budget.tokens}, retries allowed: ${yield* budget.tryAcquire}`)

  yield* Effect.replicateEffect(Retry.retry(Effect.succeed("ok"), { budget }), 70, { discard: true })
  yield* Console.log(`   after 70 successes: tokens ${yield* budget.tokens}, retries allowed: ${yield* budget.tryAcquire}`)
})

const program = Effect.gen(function*() {
  yield* showJitters
  yield* showRetryAfter
  yield* showBudget
})

NodeRuntime.runMain(program)
