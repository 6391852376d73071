/**
 * A router that delegates to a current one, replaced at will (`Router.swappable`):
 * a request reads the current router once, a plain property read, and runs
 * on it to its end; listeners follow every router it has held.
 *
 * @internal
 */
import { Deferred, Effect, type Scope, Stream } from "effect"
import type { Listener, RouterEvent } from "../Events.js"
import type { Service } from "../Router.js"
import { legacies } from "./carryOver.js"

/** What a router has started and finished, as the swappable's listener on it counts. */
interface Tracked {
  finished: number
  /** Set once the router is replaced and someone waits for its requests to end. */
  idle: Deferred.Deferred<void> | undefined
  readonly started: () => number
}

/** @internal */
export interface Swappable {
  readonly router: Service
  readonly current: () => Service
  readonly swap: (next: Service) => Effect.Effect<Service, never, Scope.Scope>
  readonly idle: (router: Service) => Effect.Effect<void>
}

/** @internal */
export const make = (initial: Service): Effect.Effect<Swappable, never, Scope.Scope> =>
  Effect.gen(function* () {
    let current = initial
    let listeners: ReadonlyArray<Listener> = []
    const tracked = new WeakMap<Service, Tracked>()

    /** Hands every event of `router` to the listeners, and counts its finished requests. */
    const follow = (router: Service) =>
      Effect.suspend(() => {
        const requestIds = legacies.get(router)?.requestIds
        const state: Tracked = {
          finished: 0,
          idle: undefined,
          started: () => (requestIds === undefined ? 0 : requestIds.last)
        }
        tracked.set(router, state)
        const dispatch: Listener = (event: RouterEvent) => {
          if (event._tag === "RequestFinished") {
            state.finished++
            if (state.idle !== undefined && state.finished >= state.started()) Deferred.unsafeDone(state.idle, Effect.void)
          }
          const all = listeners
          if (all.length === 1) return all[0]!(event)
          // each listener is called, as the router calls its own; a throw becomes a defect after the rest, which the router logs
          let then: Effect.Effect<void> | undefined = undefined
          let thrown: Effect.Effect<void> | undefined = undefined
          for (const listener of all) {
            try {
              const effect = listener(event)
              if (effect !== undefined) then = then === undefined ? effect : Effect.zipRight(then, effect)
            } catch (defect) {
              thrown ??= Effect.die(defect)
            }
          }
          return thrown === undefined ? then : then === undefined ? thrown : Effect.zipRight(then, thrown)
        }
        return router.listen(dispatch)
      })

    yield* follow(initial)

    const router: Service = {
      complete: (request, options) => current.complete(request, options),
      stream: (request, options) => current.stream(request, options),
      languageModel: (chain) => current.languageModel(chain),
      chainFor: (request, options) => current.chainFor(request, options),
      events: Stream.suspend(() => current.events),
      listen: (listener) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            listeners = [...listeners, listener]
          }),
          () =>
            Effect.sync(() => {
              listeners = listeners.filter((l) => l !== listener)
            })
        ),
      status: Effect.suspend(() => current.status),
      get chains() {
        return current.chains
      },
      get targets() {
        return current.targets
      },
      breaker: (name) => current.breaker(name)
    }

    return {
      router,
      current: () => current,
      swap: (next) =>
        Effect.flatMap(follow(next), () =>
          Effect.sync(() => {
            const previous = current
            current = next
            return previous
          })),
      idle: (old) =>
        Effect.gen(function* () {
          const state = tracked.get(old)
          if (state === undefined) return
          for (;;) {
            if (state.finished >= state.started()) {
              // a request that read the router just before the swap may not have started yet: let it
              yield* Effect.yieldNow()
              if (state.finished >= state.started()) return
            }
            const idle = yield* Deferred.make<void>()
            state.idle = idle
            if (state.finished < state.started()) yield* Deferred.await(idle)
            state.idle = undefined
          }
        })
    }
  })
