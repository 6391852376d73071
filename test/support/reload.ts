/**
 * A config file served as `serve` serves it, for the reload tests: its
 * router made in a scope of its own, a swappable over it, and the state
 * `Reload.reload` reads.
 */
import { Effect, ExecutionStrategy, Scope } from "effect"
import * as Reload from "../../src/cli/internal/reload.js"
import * as Config from "../../src/config/Config.js"
import * as Gateway from "../../src/gateway/Gateway.js"
import * as Router from "../../src/router/Router.js"

/** Loads `file` and serves it: the first router, its scope, the swappable, and the reload state. */
export const serveFile = (file: string) =>
  Effect.gen(function* () {
    const parsed = yield* Config.load(file)
    const scope = yield* Effect.scope
    const routerScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const first = yield* Scope.extend(Effect.flatMap(Config.toRouterConfig(parsed.config), (c) => Router.make(c)), routerScope)
    const swappable = yield* Scope.extend(Router.swappable(first), routerScope)
    const state: Reload.Serving = {
      file,
      swappable,
      scope,
      shared: undefined,
      overrides: { host: false, port: false },
      scopes: new Map([[first, routerScope]]),
      keyRing: Gateway.keyRing(Config.gatewaySettings(parsed.config).keys),
      config: parsed.config,
      started: parsed.config
    }
    return { state, first, swappable, routerScope }
  })
