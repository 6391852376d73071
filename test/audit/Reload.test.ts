/**
 * A config reload over shared state (Redis): what a target that changed
 * upstream keeps of the state the instances share by its name.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Chat } from "../../src/llm/index.js"
import * as Router from "../../src/router/Router.js"
import * as Redis from "../../src/state/Redis.js"
import * as SharedState from "../../src/state/SharedState.js"
import { eventually, suiteRedis, unavailable } from "../support/redis.js"
import { sim } from "../support/virtual.js"

describe.skipIf(unavailable !== undefined)("a reload over shared state", () => {
  const redis = suiteRedis()

  it.scopedLive("a target moved to another upstream gets the breaker the instances share under its name, open if it is", () =>
    Effect.gen(function* () {
      const connection = yield* Layer.build(Layer.fresh(Redis.layer({ url: redis().url })))
      const shared = yield* SharedState.make({ namespace: `reload-${process.pid}`, instance: "a", syncInterval: "50 millis" }).pipe(
        Effect.provide(connection)
      )
      yield* eventually(Effect.map(shared.status, (s) => s.connected))
      const policy = { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 2, openDuration: { base: "5 minutes" } } } as const
      const down = yield* sim("down", { faults: [{ status: 500 }], latency: "1 millis" })
      const first = yield* Router.make({ targets: { primary: { model: down } }, chains: { default: ["primary"] }, policy }).pipe(
        Effect.provide(SharedState.context(shared))
      )
      for (let i = 0; i < 2; i++) yield* Effect.exit(first.complete(Chat.prompt("q")))
      expect((yield* first.breaker("primary")!.snapshot).state).toBe("open")
      yield* Effect.sleep("300 millis")

      // primary now points elsewhere: not kept
      const elsewhere = yield* sim("elsewhere", { latency: "1 millis" })
      const next = yield* Router.make({ targets: { primary: { model: elsewhere } }, chains: { default: ["primary"] }, policy }, {
        previous: first,
        keep: []
      }).pipe(Effect.provide(SharedState.context(shared)))
      expect((yield* next.breaker("primary")!.snapshot).state).toBe("closed")
      // its first sync reads the key the instances share under "primary": open (the reload says so in a warning)
      yield* eventually(Effect.map(next.breaker("primary")!.snapshot, (s) => s.state === "open"), 2_000)
    }))
})
