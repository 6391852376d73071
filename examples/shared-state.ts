/**
 * Two instances of a gateway behind one load balancer, during an outage of
 * their primary: without shared state each instance learns of every outage
 * on its own and wastes its own calls on the dead primary; with shared state
 * (`state: { redis }` in a config, `SharedState.layerRedis` in code) the
 * first instance to see the outage opens the breaker for both, and one
 * probe serves both.
 *
 * This replays `examples/scenarios/two-instances.yaml` (an hour: a 20-minute
 * outage, then three one-minute flaps) in virtual time, with and without
 * sharing; the simulator propagates state between its instances with the
 * delay a Redis sync takes (100 ms). `test/SharedState.test.ts` shows the
 * same against a real redis-server.
 *
 * Run it with `npm run example -- shared-state`.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as Scenario from "../src/simulator/Scenario.js"
import * as Simulator from "../src/simulator/Simulator.js"

const program = Effect.gen(function* () {
  const scenario = yield* Scenario.load("examples/scenarios/two-instances.yaml")
  const runWith = (shared: boolean) =>
    Effect.map(Simulator.run({ ...scenario, load: { ...scenario.load, shared } }), ({ report }) => report)
  const alone = yield* runWith(false)
  const shared = yield* runWith(true)
  yield* Console.log("two instances, primary down 20 minutes then flapping; 7,200 requests")
  yield* Console.log("                 wasted calls  upstream calls  availability")
  for (const [name, report] of [["each alone", alone], ["shared state", shared]] as const) {
    yield* Console.log(
      `${name.padEnd(17)}${String(report.wastedCalls).padStart(12)}  ${String(report.upstreamCalls).padStart(14)}  ${(100 * report.availability).toFixed(2).padStart(11)}%`
    )
  }
  yield* Console.log(`\nshared state wastes ${(shared.wastedCalls / alone.wastedCalls).toFixed(2)}x the calls`)
  // the example doubles as a check of what it shows
  if (shared.wastedCalls * 2 > alone.wastedCalls || shared.availability < alone.availability) {
    return yield* Effect.die(new Error("sharing state did not halve the wasted calls"))
  }
}).pipe(Effect.provide(NodeFileSystem.layer))

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
