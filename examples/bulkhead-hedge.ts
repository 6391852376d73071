/**
 * A bulkhead turning away overload, and a hedge beating a slow primary.
 *
 *   npm run example -- bulkhead-hedge
 *
 * 1. eight calls arrive at once at a bulkhead of 2 permits and 2 queue
 *    places: two run, two wait their turn, four are rejected ("full");
 * 2. with a 20 ms queue timeout, a call stuck behind a long one gives up;
 * 3. a primary slowed down by seeded chaos (about 150 ms) is hedged after
 *    40 ms by a fast backup (about 20 ms): the backup wins, the primary is
 *    interrupted and its cleanup has run before the answer comes back; a
 *    health window records the calls that finished.
 *
 * Real but short sleeps: the whole program takes well under a second.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Clock, Console, Duration, Effect, Option, Ref } from "effect"
import * as Bulkhead from "../src/resilience/Bulkhead.js"
import * as Chaos from "../src/resilience/Chaos.js"
import * as Health from "../src/resilience/Health.js"
import * as Hedge from "../src/resilience/Hedge.js"

const ms = (duration: Duration.Duration) => `${Math.round(Duration.toMillis(duration))}ms`

const elapsedSince = (start: number) => Effect.map(Clock.currentTimeMillis, (now) => `${now - start}ms`)

/** 1. Eight simultaneous 30 ms calls through 2 permits and 2 queue places. */
const showOverload = Effect.gen(function*() {
  yield* Console.log("1. 8 calls at once, maxConcurrent 2, maxQueued 2:")
  const bulkhead = yield* Bulkhead.make({ maxConcurrent: 2, maxQueued: 2 })
  const start = yield* Clock.currentTimeMillis
  const call = (i: number) =>
    bulkhead.run(Effect.sleep("30 millis")).pipe(
      Effect.zipRight(elapsedSince(start)),
      Effect.match({
        onFailure: (rejected) => `   call ${i}: rejected (${rejected.reason})`,
        onSuccess: (at) => `   call ${i}: done at ${at}`
      })
    )
  const lines = yield* Effect.all([1, 2, 3, 4, 5, 6, 7, 8].map(call), { concurrency: "unbounded" })
  yield* Effect.forEach(lines, (line) => Console.log(line))
  const stats = yield* bulkhead.stats
  yield* Console.log(`   afterwards: ${stats.active} active, ${stats.queued} queued, ${stats.available} free`)
})

/** 2. A call waits at most 20 ms behind a 200 ms one. */
const showQueueTimeout = Effect.gen(function*() {
  yield* Console.log("2. queueTimeout 20ms behind a 200ms call:")
  const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueued: 4, queueTimeout: "20 millis" })
  const long = yield* Effect.fork(bulkhead.run(Effect.sleep("200 millis")))
  // the long call holds the only slot before the next one asks
  while ((yield* bulkhead.stats).active === 0) yield* Effect.sleep("1 millis")
  const waiter = yield* Effect.either(bulkhead.run(Effect.succeed("ran")))
  yield* Console.log(
    waiter._tag === "Left" ? `   rejected (${waiter.left.reason}): ${waiter.left.message}` : `   ${waiter.right}`
  )
  yield* long.await
})

/** 3. A slow primary hedged by a fast backup after 40 ms. */
const showHedge = Effect.gen(function*() {
  yield* Console.log("3. hedge: slow primary, backup after 40ms:")
  const health = yield* Health.make<string>({ minimumCalls: 1 })
  const cleanup = yield* Ref.make<ReadonlyArray<string>>([])
  const primary = Effect.succeed("answer from primary").pipe(
    Chaos.inject({ seed: "demo", latencyRate: 1, latency: "150 millis" }),
    Effect.onInterrupt(() => Ref.update(cleanup, (log) => [...log, "primary interrupted, request aborted"])),
    Health.track(health, "primary")
  )
  const backup = Effect.as(Effect.sleep("20 millis"), "answer from backup").pipe(Health.track(health, "backup"))

  const start = yield* Clock.currentTimeMillis
  const winner = yield* Hedge.runIndexed([primary, backup], { delay: "40 millis" })
  const took = yield* elapsedSince(start)
  const cleaned = yield* Ref.get(cleanup)
  yield* Console.log(`   winner: alternative ${winner.index}, "${winner.value}" after ${took}`)
  yield* Console.log(`   already cleaned up: ${cleaned.join(", ") || "nothing"}`)

  const raced = yield* Hedge.raceIndexed([Effect.fail("primary down"), Effect.succeed("backup")])
  yield* Console.log(`   race with a dead primary: alternative ${raced.index} ("${raced.value}") wins`)

  for (const key of ["primary", "backup"]) {
    const snapshot = yield* health.snapshot(key)
    const p50 = Option.match(snapshot.latency, { onNone: () => "n/a", onSome: (latency) => ms(latency.p50) })
    yield* Console.log(`   health ${key}: ${snapshot.successes}/${snapshot.calls} ok, p50 ${p50}`)
  }
  yield* Console.log("   (an interrupted call is not counted as a failure)")
})

const program = Effect.gen(function*() {
  yield* showOverload
  yield* showQueueTimeout
  yield* showHedge
})

NodeRuntime.runMain(program)
