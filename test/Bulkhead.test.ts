import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Duration, Effect, Exit, FastCheck as fc, Fiber, Option, Ref, Scope, TestClock } from "effect"
import * as Bulkhead from "../src/resilience/Bulkhead.js"
import { PermitPool, Waiter } from "../src/resilience/internal/bulkhead.js"
import { eventually } from "./support/fibers.js"

const statsAre = (bulkhead: Bulkhead.Bulkhead, expected: Partial<Bulkhead.BulkheadStats>) =>
  eventually(
    Effect.map(bulkhead.stats, (stats) =>
      (expected.active === undefined || stats.active === expected.active) &&
      (expected.queued === undefined || stats.queued === expected.queued) &&
      (expected.available === undefined || stats.available === expected.available)),
    JSON.stringify(expected)
  )

/** Forks a call that holds `weight` permits until the returned latch opens. */
const hold = (bulkhead: Bulkhead.Bulkhead, weight = 1) =>
  Effect.gen(function*() {
    const latch = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(bulkhead.run(Deferred.await(latch), { weight }))
    return { latch, fiber, open: Deferred.succeed(latch, undefined) }
  })

const rejection = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

describe("Bulkhead", () => {
  it.effect("never runs more than maxConcurrent calls at once", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 3, maxQueued: 100 })
      const running = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const task = bulkhead.run(
        Effect.gen(function*() {
          const now = yield* Ref.updateAndGet(running, (n) => n + 1)
          yield* Ref.update(peak, (p) => Math.max(p, now))
          yield* Effect.sleep("10 millis")
          yield* Ref.update(running, (n) => n - 1)
        })
      )
      const all = yield* Effect.fork(Effect.all(Array.from({ length: 20 }, () => task), { concurrency: "unbounded" }))
      yield* statsAre(bulkhead, { active: 3, queued: 17, available: 0 })
      for (let round = 0; round < 7; round++) yield* TestClock.adjust("10 millis")
      yield* Fiber.join(all)
      assert.strictEqual(yield* Ref.get(peak), 3)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 3 })
    }))

  it.effect("rejects with reason full when permits and queue are taken", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueued: 1 })
      const holder = yield* hold(bulkhead)
      yield* statsAre(bulkhead, { active: 1 })
      const waiter = yield* Effect.fork(bulkhead.run(Effect.succeed("queued")))
      yield* statsAre(bulkhead, { queued: 1 })
      const exit = yield* Effect.exit(bulkhead.run(Effect.succeed("rejected")))
      const error = rejection(exit)
      assert.instanceOf(error, Bulkhead.BulkheadRejected)
      assert.strictEqual(error?.reason, "full")
      assert.include(error?.message, "bulkhead full")
      yield* holder.open
      assert.strictEqual(yield* Fiber.join(waiter), "queued")
    }))

  it.effect("with no queue, rejects at once when the permits are taken", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 2 })
      yield* hold(bulkhead, 2)
      yield* statsAre(bulkhead, { available: 0 })
      const exit = yield* Effect.exit(bulkhead.run(Effect.void))
      assert.strictEqual(rejection(exit)?.reason, "full")
    }))

  it.effect("a waiter past queueTimeout fails with reason queue-timeout and leaves the queue", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueued: 5, queueTimeout: "1 second" })
      yield* hold(bulkhead)
      const waiter = yield* Effect.fork(Effect.exit(bulkhead.run(Effect.succeed("late"))))
      yield* statsAre(bulkhead, { queued: 1 })
      yield* TestClock.adjust("999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)))
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.join(waiter)
      const error = rejection(exit)
      assert.strictEqual(error?.reason, "queue-timeout")
      assert.include(error?.message, "waited longer than")
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 1, queued: 0, available: 0 })
    }))

  it.effect("a caller's own queueTimeout applies when it is the nearer, the bulkhead's when that one is; acquire takes it too", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueued: 5, queueTimeout: "2 seconds" })
      assert.strictEqual(Duration.toMillis(bulkhead.queueTimeout!), 2_000)
      const holder = yield* hold(bulkhead)
      const hurried = yield* Effect.fork(Effect.exit(bulkhead.run(Effect.void, { queueTimeout: "500 millis" })))
      const patient = yield* Effect.fork(Effect.exit(bulkhead.run(Effect.void, { queueTimeout: "1 hour" })))
      const scoped = yield* Effect.fork(Effect.exit(Effect.scoped(bulkhead.acquireWeighted(1, { queueTimeout: "1 second" }))))
      yield* statsAre(bulkhead, { queued: 3 })
      const reasons = (fiber: Fiber.RuntimeFiber<Exit.Exit<void, Bulkhead.BulkheadRejected>>) =>
        Effect.map(Fiber.poll(fiber), Option.map((outer) => {
          const error = Exit.isSuccess(outer) ? rejection(outer.value) : undefined
          return [error?.reason, error?.message]
        }))
      yield* TestClock.adjust("499 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(hurried)))
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* reasons(hurried), Option.some(["queue-timeout", "waited longer than 500ms for a bulkhead permit"]))
      yield* TestClock.adjust("500 millis")
      assert.deepStrictEqual(Option.map(yield* reasons(scoped), ([reason]) => reason), Option.some("queue-timeout"))
      assert.isTrue(Option.isNone(yield* Fiber.poll(patient)))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* reasons(patient), Option.some(["queue-timeout", "waited longer than 2s for a bulkhead permit"]))
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 1, queued: 0, available: 0 })
      yield* holder.open
    }))

  it.effect("a queueTimeout of zero never queues: a full bulkhead rejects at once, its queue place left to others", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueued: 1 })
      const holder = yield* hold(bulkhead)
      yield* statsAre(bulkhead, { active: 1 })
      const hurried = yield* Effect.fork(Effect.exit(bulkhead.run(Effect.succeed("hurried"), { queueTimeout: 0 })))
      const patient = yield* Effect.fork(bulkhead.run(Effect.succeed("patient")))
      yield* statsAre(bulkhead, { queued: 1 })
      assert.strictEqual(rejection(yield* Fiber.join(hurried))?.reason, "queue-timeout")
      yield* holder.open
      assert.strictEqual(yield* Fiber.join(patient), "patient")
      // with a free permit it runs
      assert.strictEqual(yield* bulkhead.run(Effect.succeed("free"), { queueTimeout: 0 }), "free")
    }))

  it.effect("a waiter granted before its queueTimeout runs normally", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueued: 5, queueTimeout: "1 second" })
      const holder = yield* hold(bulkhead)
      const waiter = yield* Effect.fork(bulkhead.run(Effect.as(Effect.sleep("5 seconds"), "done")))
      yield* statsAre(bulkhead, { queued: 1 })
      yield* TestClock.adjust("500 millis")
      yield* holder.open
      yield* statsAre(bulkhead, { active: 1, queued: 0 })
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* Fiber.join(waiter), "done")
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 1 })
    }))

  it.effect("a release at the very instant of the queue timeout leaves no permit behind", () =>
    Effect.gen(function*() {
      // the holder releases exactly when the waiter's queue timeout fires; try both timer orders
      for (const holderTimerFirst of [true, false]) {
        const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueued: 1, queueTimeout: "1 second" })
        const go = yield* Deferred.make<void>()
        const timers = (n: number) => eventually(Effect.map(TestClock.sleeps(), (s) => s.length === n), `${n} timers`)
        const holder = yield* Effect.fork(bulkhead.run(Effect.zipRight(Deferred.await(go), Effect.sleep("1 second"))))
        yield* statsAre(bulkhead, { active: 1 })
        if (holderTimerFirst) yield* Effect.zipRight(Deferred.succeed(go, undefined), timers(1))
        const waiter = yield* Effect.fork(Effect.exit(bulkhead.run(Effect.succeed("ran"))))
        yield* statsAre(bulkhead, { queued: 1 })
        if (!holderTimerFirst) yield* Deferred.succeed(go, undefined)
        yield* timers(2)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(holder)
        const exit = yield* Fiber.join(waiter)
        // the waiter either got the permit in time or timed out: both are fine, a leak is not
        assert.isTrue(Exit.isSuccess(exit) || rejection(exit)?.reason === "queue-timeout", String(exit))
        assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 1 })
      }
    }))

  it.effect("an interrupted waiter leaves the queue at once and the next waiter moves up", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueued: 2 })
      const holder = yield* hold(bulkhead)
      const started = yield* Ref.make<ReadonlyArray<string>>([])
      const waiter = (name: string) => Effect.fork(bulkhead.run(Ref.update(started, (xs) => [...xs, name])))
      const first = yield* waiter("first")
      yield* statsAre(bulkhead, { queued: 1 })
      const second = yield* waiter("second")
      yield* statsAre(bulkhead, { queued: 2 })
      yield* Fiber.interrupt(first)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 1, queued: 1, available: 0 })
      // the freed queue place is usable at once
      const third = yield* waiter("third")
      yield* statsAre(bulkhead, { queued: 2 })
      yield* holder.open
      yield* Fiber.join(second)
      yield* Fiber.join(third)
      assert.deepStrictEqual(yield* Ref.get(started), ["second", "third"])
    }))

  it.effect("an interrupted heavy head lets the lighter waiters behind it run at once", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 2, maxQueued: 5 })
      yield* hold(bulkhead, 1)
      const heavy = yield* Effect.fork(bulkhead.run(Effect.void, { weight: 2 }))
      yield* statsAre(bulkhead, { queued: 1 })
      const light = yield* hold(bulkhead, 1)
      yield* statsAre(bulkhead, { queued: 2, active: 1, available: 1 })
      yield* Fiber.interrupt(heavy)
      yield* statsAre(bulkhead, { queued: 0, active: 2, available: 0 })
      yield* light.open
      yield* Fiber.join(light.fiber)
    }))

  it.effect("releases permits when the effect fails, dies or is interrupted", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 2, maxQueued: 1 })
      const failed = yield* Effect.exit(bulkhead.run(Effect.fail("boom"), { weight: 2 }))
      assert.deepStrictEqual(failed, Exit.fail("boom"))
      const died = yield* Effect.exit(bulkhead.run(Effect.die("bug")))
      assert.isTrue(Exit.isFailure(died) && Cause.isDie(died.cause))
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 2 })
      const running = yield* Effect.fork(bulkhead.run(Effect.never, { weight: 2 }))
      yield* statsAre(bulkhead, { active: 1, available: 0 })
      const queued = yield* Effect.fork(bulkhead.run(Effect.succeed("next")))
      yield* statsAre(bulkhead, { queued: 1 })
      yield* Fiber.interrupt(running)
      assert.strictEqual(yield* Fiber.join(queued), "next")
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 2 })
    }))

  it.effect("weighted permits: a call takes weight permits, lighter calls queue behind a heavy head", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 4, maxQueued: 10 })
      const big = yield* hold(bulkhead, 3)
      yield* statsAre(bulkhead, { active: 1, available: 1 })
      const medium = yield* hold(bulkhead, 2)
      yield* statsAre(bulkhead, { queued: 1 })
      // one permit is free, but the medium call waits first: no barging
      const small = yield* hold(bulkhead, 1)
      yield* statsAre(bulkhead, { queued: 2, available: 1 })
      yield* big.open
      yield* statsAre(bulkhead, { active: 2, queued: 0, available: 1 })
      yield* medium.open
      yield* small.open
      yield* Fiber.join(medium.fiber)
      yield* Fiber.join(small.fiber)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 4 })
    }))

  it.effect("a waiter is granted only once its whole weight is free", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 4, maxQueued: 1 })
      const a = yield* hold(bulkhead, 2)
      const b = yield* hold(bulkhead, 2)
      yield* statsAre(bulkhead, { active: 2, available: 0 })
      const all = yield* hold(bulkhead, 4)
      yield* statsAre(bulkhead, { queued: 1 })
      yield* a.open
      yield* Fiber.join(a.fiber)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 1, queued: 1, available: 2 })
      yield* b.open
      yield* statsAre(bulkhead, { active: 1, queued: 0, available: 0 })
      yield* all.open
      yield* Fiber.join(all.fiber)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 4 })
    }))

  it.effect("a heavy waiter at the head is not starved by a stream of light calls", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 3, maxQueued: 10 })
      const order = yield* Ref.make<ReadonlyArray<string>>([])
      const first = yield* hold(bulkhead, 2)
      yield* statsAre(bulkhead, { available: 1 })
      const heavy = yield* Effect.fork(bulkhead.run(Ref.update(order, (xs) => [...xs, "heavy"]), { weight: 3 }))
      yield* statsAre(bulkhead, { queued: 1 })
      const lights = yield* Effect.forEach([1, 2, 3], (i) =>
        Effect.fork(bulkhead.run(Ref.update(order, (xs) => [...xs, `light${i}`]))).pipe(
          Effect.tap(() => statsAre(bulkhead, { queued: 1 + i }))
        ))
      assert.deepStrictEqual(yield* Ref.get(order), [])
      yield* first.open
      yield* Fiber.join(heavy)
      yield* Fiber.joinAll(lights)
      assert.deepStrictEqual(yield* Ref.get(order), ["heavy", "light1", "light2", "light3"])
    }))

  it.effect("a weight larger than the capacity is rejected at once", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 4, maxQueued: 10 })
      const exit = yield* Effect.exit(bulkhead.run(Effect.succeed("never runs"), { weight: 5 }))
      const error = rejection(exit)
      assert.strictEqual(error?.reason, "full")
      assert.include(error?.message, "exceeds")
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 4 })
    }))

  it.effect("serves waiters in FIFO order", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueued: 10 })
      const holder = yield* hold(bulkhead)
      const order = yield* Ref.make<ReadonlyArray<number>>([])
      const fibers = yield* Effect.forEach([0, 1, 2, 3, 4], (i) =>
        Effect.fork(bulkhead.run(Ref.update(order, (xs) => [...xs, i]))).pipe(
          Effect.tap(() => statsAre(bulkhead, { queued: i + 1 }))
        ))
      yield* holder.open
      yield* Fiber.joinAll(fibers)
      assert.deepStrictEqual(yield* Ref.get(order), [0, 1, 2, 3, 4])
    }))

  it.effect("acquire holds a permit until its scope closes", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 3, maxQueued: 1 })
      const scope = yield* Scope.make()
      yield* Scope.extend(bulkhead.acquire, scope)
      yield* Scope.extend(bulkhead.acquireWeighted(2), scope)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 2, queued: 0, available: 0 })
      const waiting = yield* Effect.fork(Effect.scoped(Effect.zipRight(bulkhead.acquire, Effect.succeed("got it"))))
      yield* statsAre(bulkhead, { queued: 1 })
      const full = yield* Effect.exit(Effect.scoped(bulkhead.acquire))
      assert.strictEqual(rejection(full)?.reason, "full")
      const tooHeavy = yield* Effect.exit(Effect.scoped(bulkhead.acquireWeighted(4)))
      assert.strictEqual(rejection(tooHeavy)?.reason, "full")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* Fiber.join(waiting), "got it")
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 3 })
    }))

  it.effect("acquireIn holds its permits until the scope it is handed closes, waiting in the queue as acquire does", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 3, maxQueued: 1, queueTimeout: "1 minute" })
      const first = yield* Scope.make()
      const second = yield* Scope.make()
      // no Scope service anywhere: each scope is handed over
      yield* bulkhead.acquireIn(first, { weight: 2 })
      yield* bulkhead.acquireIn(second)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 2, queued: 0, available: 0 })
      const third = yield* Scope.make()
      const waiting = yield* Effect.fork(bulkhead.acquireIn(third, { weight: 2, queueTimeout: "1 second" }))
      yield* statsAre(bulkhead, { queued: 1 })
      yield* Scope.close(first, Exit.void)
      yield* Fiber.join(waiting)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 2, queued: 0, available: 0 })
      const late = yield* Effect.fork(Effect.exit(bulkhead.acquireIn(first, { queueTimeout: "1 second" })))
      yield* statsAre(bulkhead, { queued: 1 })
      yield* TestClock.adjust("1 second")
      assert.strictEqual(rejection(yield* Fiber.join(late))?.reason, "queue-timeout")
      yield* Scope.close(second, Exit.void)
      yield* Scope.close(third, Exit.void)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 3 })
      assert.strictEqual(rejection(yield* Effect.exit(bulkhead.acquireIn(first, { weight: 4 })))?.reason, "full")
    }))

  it.effect("an interrupted acquire leaves the queue and holds nothing", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 1, maxQueued: 1 })
      const holder = yield* hold(bulkhead)
      const waiting = yield* Effect.fork(Effect.scoped(Effect.zipRight(bulkhead.acquire, Effect.never)))
      yield* statsAre(bulkhead, { queued: 1 })
      yield* Fiber.interrupt(waiting)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 1, queued: 0, available: 0 })
      yield* holder.open
      yield* Fiber.join(holder.fiber)
      assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: 1 })
    }))

  it.effect("the dual forms run through the bulkhead", () =>
    Effect.gen(function*() {
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 2 })
      const piped = yield* Effect.succeed(1).pipe(Bulkhead.run(bulkhead))
      const direct = yield* Bulkhead.run(Effect.succeed(2), bulkhead, { weight: 2 })
      const pipedHeavy = yield* Effect.exit(Effect.succeed(3).pipe(Bulkhead.run(bulkhead, { weight: 3 })))
      assert.strictEqual(piped + direct, 3)
      assert.strictEqual(rejection(pipedHeavy)?.reason, "full")
    }))

  it.effect("invalid options and weights are defects", () =>
    Effect.gen(function*() {
      const zero = yield* Effect.exit(Bulkhead.make({ maxConcurrent: 0 }))
      const fractional = yield* Effect.exit(Bulkhead.make({ maxConcurrent: 2, maxQueued: 1.5 }))
      assert.isTrue(Exit.isFailure(zero) && Cause.isDie(zero.cause))
      assert.isTrue(Exit.isFailure(fractional) && Cause.isDie(fractional.cause))
      const bulkhead = yield* Bulkhead.make({ maxConcurrent: 2, maxQueued: Infinity })
      const badWeight = yield* Effect.exit(bulkhead.run(Effect.void, { weight: 0.5 }))
      assert.isTrue(Exit.isFailure(badWeight) && Cause.isDie(badWeight.cause))
    }))

  describe("PermitPool (the grant/cancel races the fiber scheduler can produce)", () => {
    const queuedWaiter = (pool: PermitPool, weight: number) => {
      const waiter = new Waiter(weight)
      let grants = 0
      waiter.onGrant = () => grants++
      assert.strictEqual(pool.enqueue(waiter), "queued")
      return { waiter, grants: () => grants }
    }

    it("a waiter cancelled after its grant gives the permits back to the next waiter", () => {
      const pool = new PermitPool(2, 5)
      assert.isTrue(pool.tryAcquire(2))
      const first = queuedWaiter(pool, 2)
      const second = queuedWaiter(pool, 1)
      pool.release(2)
      assert.strictEqual(first.grants(), 1)
      assert.strictEqual(first.waiter.state, "granted")
      // its fiber was interrupted before it could run: the canceler gives the permits back
      pool.cancel(first.waiter)
      assert.strictEqual(first.waiter.state, "cancelled")
      assert.strictEqual(second.grants(), 1)
      assert.deepStrictEqual([pool.active, pool.queued, pool.available], [1, 0, 1])
      pool.cancel(first.waiter) // a second cancel is a no-op
      assert.deepStrictEqual([pool.active, pool.queued, pool.available], [1, 0, 1])
    })

    it("a queued waiter cancelled leaves the queue without being granted", () => {
      const pool = new PermitPool(1, 5)
      assert.isTrue(pool.tryAcquire(1))
      const first = queuedWaiter(pool, 1)
      const second = queuedWaiter(pool, 1)
      pool.cancel(first.waiter)
      assert.strictEqual(pool.queued, 1)
      pool.release(1)
      assert.deepStrictEqual([first.grants(), second.grants()], [0, 1])
      assert.deepStrictEqual([pool.active, pool.queued, pool.available], [1, 0, 0])
    })

    it("enqueue reports full once maxQueued waiters wait", () => {
      const pool = new PermitPool(1, 1)
      assert.isTrue(pool.tryAcquire(1))
      queuedWaiter(pool, 1)
      const late = new Waiter(1)
      assert.strictEqual(pool.enqueue(late), "full")
      assert.strictEqual(late.state, "cancelled")
      assert.strictEqual(pool.queued, 1)
    })
  })
})

describe("Bulkhead permits under interruption", () => {
  const callArb = fc.record({
    weight: fc.integer({ min: 1, max: 3 }),
    turns: fc.integer({ min: 0, max: 5 }),
    outcome: fc.constantFrom("succeed", "fail", "die"),
    interruptAfter: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined })
  })

  // `it.live`: no clock is involved, and 1000 cases each building the test
  // services would take seconds
  it.live.prop(
    "whatever ends each call (its result, a defect, an interruption queued or running), every permit comes back",
    { capacity: fc.integer({ min: 1, max: 4 }), maxQueued: fc.integer({ min: 0, max: 4 }), calls: fc.array(callArb, { maxLength: 8 }) },
    ({ calls, capacity, maxQueued }) =>
      Effect.gen(function*() {
        const bulkhead = yield* Bulkhead.make({ maxConcurrent: capacity, maxQueued })
        let running = 0
        let maxRunning = 0
        const body = (turns: number, outcome: string, weight: number) =>
          Effect.acquireUseRelease(
            Effect.sync(() => {
              running += weight
              maxRunning = Math.max(maxRunning, running)
            }),
            () =>
              Effect.zipRight(
                Effect.repeatN(Effect.yieldNow(), turns),
                outcome === "succeed" ? Effect.void : outcome === "fail" ? Effect.fail("boom") : Effect.die("bug")
              ),
            () => Effect.sync(() => (running -= weight))
          )
        const fibers = yield* Effect.forEach(calls, (call) =>
          Effect.fork(bulkhead.run(body(call.turns, call.outcome, call.weight), { weight: call.weight })))
        yield* Effect.forEach(calls, (call, i) =>
          call.interruptAfter === undefined
            ? Effect.void
            : Effect.fork(Effect.zipRight(Effect.repeatN(Effect.yieldNow(), call.interruptAfter), Fiber.interrupt(fibers[i]!))))
        yield* Effect.forEach(fibers, Fiber.await, { discard: true })
        assert.deepStrictEqual(yield* bulkhead.stats, { active: 0, queued: 0, available: capacity })
        assert.isAtMost(maxRunning, capacity)
        assert.strictEqual(running, 0)
      }),
    { fastCheck: { numRuns: 1000 } }
  )
})
