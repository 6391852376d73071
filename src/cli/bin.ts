#!/usr/bin/env node
/**
 * The `llm-failover` executable.
 *
 * @since 0.1.0
 */
import { NodeContext, NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as Cli from "./Cli.js"

Cli.run(process.argv).pipe(
  Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)),
  // one line a log record (logfmt), not the pretty logger's several writes: cheaper per request, and greppable
  NodeRuntime.runMain({ disableErrorReporting: false, disablePrettyLogger: true })
)
