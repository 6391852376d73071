/**
 * Replays a provider incident against a fallback policy before it reaches
 * production: the library scenario `primary-down` (the primary answers 529
 * from minute 10 to minute 30), through the real router, in virtual time.
 *
 * The scenario is an hour of traffic; this example runs its first 35
 * minutes (the whole outage and the recovery) so it ends in a few seconds.
 * The full hour, and the naive and default policies side by side:
 *
 *   npm run cli -- simulate --scenario examples/scenarios/primary-down.yaml --compare
 *
 * Run it with `npm run example -- simulate`.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as Report from "../src/simulator/Report.js"
import * as Scenario from "../src/simulator/Scenario.js"
import * as Simulator from "../src/simulator/Simulator.js"

const program = Effect.gen(function* () {
  const scenario = yield* Scenario.load("examples/scenarios/primary-down.yaml")
  const { report, stats } = yield* Simulator.run(Scenario.withHorizon(scenario, "35 minutes"))
  yield* Console.log(Report.format(report))
  yield* Console.log(
    `\n${(stats.virtualMillis / 60_000).toFixed(1)} minutes of traffic simulated in ${(stats.realMillis / 1000).toFixed(1)} s`
  )
  // the example doubles as a check of what it shows
  if (report.oracleAvailability - report.availability > 0.001 || report.wastedCalls > 50) {
    return yield* Effect.die(new Error("the router did not ride out the outage as expected"))
  }
}).pipe(Effect.provide(NodeFileSystem.layer))

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
