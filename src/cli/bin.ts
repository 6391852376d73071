#!/usr/bin/env node
/**
 * The `llm-failover` executable.
 *
 * @since 0.1.0
 */
import { ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as UndiciHttpClient from "../providers/UndiciHttpClient.js"
import * as Cli from "./Cli.js"

Cli.run(process.argv).pipe(
  // a bad argument: the command line printed what is wrong; exit 2 (a usage error, as commands conventionally do) without
  // a log record of the same. A command that failed (an invalid config, a port taken) has set 1
  Effect.catchIf(ValidationError.isValidationError, () =>
    Effect.sync(() => {
      process.exitCode = 2
    })
  ),
  // the lean undici client: a provider call costs less than through the platform's (BENCHMARKS.md)
  Effect.provide(Layer.mergeAll(NodeContext.layer, UndiciHttpClient.layer)),
  // one line a log record (logfmt), not the pretty logger's several writes: cheaper per request, and greppable
  NodeRuntime.runMain({ disableErrorReporting: false, disablePrettyLogger: true })
)
