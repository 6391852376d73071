/**
 * The outage simulator: replay a provider incident against a fallback
 * policy, in fast and exact virtual time.
 *
 * @since 0.1.0
 */

export * as Report from "./Report.js"
export * as Scenario from "./Scenario.js"
export * as Simulator from "./Simulator.js"
export * as VirtualTime from "./VirtualTime.js"
