/**
 * A router that delegates to a current one, replaced at will (`Router.swappable`):
 * a request reads the current router as it starts, counted as in flight on
 * it until it ends (a stream: until the scope it was opened in closes), and
 * runs on it to its end; listeners follow every router it has held.
 *
 * @internal
 */
import { Deferred, Effect, FiberId, Scope, Stream } from "effect"
import type { Listener, RouterEvent } from "../Events.js"
import type { Service } from "../Router.js"
import { withoutOne } from "./listeners.js"

/** A router's requests in flight, made through the swappable. */
interface Tracked {
  inFlight: number
  /** Set while someone waits for its requests to end. */
  idle: Deferred.Deferred<void> | undefined
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

    /** A router's count, made on its first request. */
    const trackedOf = (router: Service): Tracked => {
      let state = tracked.get(router)
      if (state === undefined) tracked.set(router, state = { inFlight: 0, idle: undefined })
      return state
    }

    /** A request has ended on the router of `state`: the last one lets a waiting `idle` go. */
    const ended = (state: Tracked): void => {
      if (--state.inFlight > 0 || state.idle === undefined) return
      Deferred.unsafeDone(state.idle, Effect.void)
      state.idle = undefined
    }

    /**
     * `run` on the current router, counted in flight on it from the read to
     * its end, however it ends: read and counted where no interruption can
     * come between, and uncounted in the step that sees its exit (a handful
     * of operations a request, where `acquireUseRelease` took 15).
     */
    const onCurrent = <A, E>(run: (on: Service) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.uninterruptibleMask((restore) => {
        const on = current
        const state = trackedOf(on)
        state.inFlight++
        return Effect.matchCauseEffect(restore(run(on)), {
          onFailure: (cause) => {
            ended(state)
            return Effect.failCause(cause)
          },
          onSuccess: (value) => {
            ended(state)
            return Effect.succeed(value)
          }
        })
      })

    /** Hands every event of a router it has held to the listeners. */
    const dispatch: Listener = (event: RouterEvent) => {
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
    const follow = (router: Service) => router.listen(dispatch)

    yield* follow(initial)

    const router: Service = {
      complete: (request, options) => onCurrent((on) => on.complete(request, options)),
      // in flight until the stream's scope closes: its chunks are read on the router that opened it
      // in flight until the stream's scope closes (its chunks are read on the router that opened it); counted as
      // `onCurrent` counts, with the scope's finalizer added in the same uninterruptible step
      stream: (request, options) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.scopeWith((scope) => {
            const on = current
            const state = trackedOf(on)
            state.inFlight++
            return Effect.zipRight(Scope.addFinalizer(scope, Effect.sync(() => ended(state))), restore(on.stream(request, options)))
          })
        ),
      languageModel: (chain) => {
        // checked (and described) by the current router; each request goes through this one, to the router current then
        const { info } = current.languageModel(chain)
        const options = chain === undefined ? undefined : { chain }
        return {
          info,
          complete: (request) => Effect.map(router.complete(request, options), (result) => result.response),
          stream: (request) => Stream.unwrapScoped(Effect.map(router.stream(request, options), (result) => result.chunks))
        }
      },
      chainFor: (request, options) => current.chainFor(request, options),
      // over a listener: from every router it holds from now on, not from one that closes at the next reload (sliding, as a router's)
      events: Stream.asyncScoped<RouterEvent>((emit) => router.listen((event) => void emit.single(event)), {
        bufferSize: 4_096,
        strategy: "sliding"
      }),
      listen: (listener) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            listeners = [...listeners, listener]
          }),
          () =>
            Effect.sync(() => {
              listeners = withoutOne(listeners, listener)
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
        Effect.suspend(() => {
          const state = tracked.get(old)
          if (state === undefined || state.inFlight === 0) return Effect.void
          state.idle ??= Deferred.unsafeMake<void>(FiberId.none)
          return Deferred.await(state.idle)
        })
    }
  })
