/**
 * The demo config `npm start` serves: simulated providers only (no keys, no
 * network), realistic latencies and list prices, and a primary that goes
 * down every few minutes, so a new user sees failover in the gateway's
 * `x-llm-*` response headers within the first two minutes.
 *
 * - `sonnet` (simulated "anthropic", p50 550 ms) is the primary of the
 *   `default` and `premium` chains. Its provider answers 529 Overloaded for
 *   one minute in every three: minutes [1, 2), [4, 5), [7, 8), ... for 24
 *   hours after the gateway starts. `haiku` shares that provider, so it is
 *   down at the same times.
 * - `mini` and `gpt41` (simulated "openai", p50 400 ms) are rate limited
 *   (429, Retry-After 20 s) for one minute in every ten: [6, 7), [16, 17), ...
 * - `flash` (simulated "gemini", p50 350 ms) fails 20% of its calls with a
 *   500 for one minute in every fifteen: [9, 10), [24, 25), ...
 *
 * Chains: `default` (sonnet, mini, flash), `premium` (sonnet, gpt41, flash,
 * hedged at the primary's p95), `budget` (by cost: flash, mini, haiku).
 *
 * The same text is in `examples/configs/demo.yaml` (a test keeps them equal).
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import * as Config from "./Config.js"

/**
 * The demo config's YAML text, as in `examples/configs/demo.yaml`.
 *
 * @example
 * import { Effect } from "effect"
 * import { Config, Demo } from "effect-llm-failover/config"
 *
 * const demo = Config.parse(Demo.text, { source: "demo.yaml" }).pipe(Effect.map(({ config }) => Object.keys(config.models)))
 *
 * @since 0.1.0
 * @category constants
 */
export const text = `# The demo config that \`npm start\` serves: simulated providers only (no keys,
# no network). The primary, sonnet, is down (HTTP 529) for one minute in every
# three, from minute 1 on, so a client sees failover in the gateway's x-llm-*
# response headers (x-llm-target, x-llm-fallbacks) within two minutes.
# Fault windows count from when the gateway starts.

providers:
  anthropic:
    type: simulated
    latency: { p50: "550 millis", p99: "3 seconds" }
    tokensPerSecond: 70
    faults:
      # 529 Overloaded during minutes [1, 2), [4, 5), [7, 8), ... for 24 hours
      - repeat: { every: "3 minutes", until: "24 hours" }
        fault: { from: "1 minute", to: "2 minutes", status: 529 }
  openai:
    type: simulated
    latency: { p50: "400 millis", p99: "2 seconds" }
    tokensPerSecond: 90
    faults:
      # rate limited during minutes [6, 7), [16, 17), ... with Retry-After 20 s
      - repeat: { every: "10 minutes", until: "24 hours" }
        fault: { from: "6 minutes", to: "7 minutes", status: 429, retryAfter: "20 seconds" }
  gemini:
    type: simulated
    latency: { p50: "350 millis", p99: "1500 millis" }
    tokensPerSecond: 120
    faults:
      # a gray failure: 20% of calls get a 500 during minutes [9, 10), [24, 25), ...
      - repeat: { every: "15 minutes", until: "24 hours" }
        fault: { from: "9 minutes", to: "10 minutes", status: 500, errorRate: 0.2 }

models:
  # like Claude: structured outputs, no JSON mode (a json_object request passes over them)
  sonnet: { provider: anthropic, model: claude-sonnet-4-5, contextWindow: 200000, price: { input: 3, output: 15 }, responseFormats: [json_schema] }
  haiku: { provider: anthropic, model: claude-haiku-4-5, contextWindow: 200000, price: { input: 1, output: 5 }, responseFormats: [json_schema] }
  gpt41: { provider: openai, model: gpt-4.1, contextWindow: 1047576, price: { input: 2, output: 8 } }
  mini: { provider: openai, model: gpt-4.1-mini, contextWindow: 1047576, price: { input: 0.4, output: 1.6 } }
  flash: { provider: gemini, model: gemini-2.5-flash, contextWindow: 1048576, price: { input: 0.3, output: 2.5 } }

chains:
  default: [sonnet, mini, flash]
  premium:
    targets: [sonnet, gpt41, flash]
    hedge: { delay: p95, maxHedges: 1 }
  budget:
    strategy: cost
    targets: [flash, mini, haiku]

defaultChain: default

policy:
  retry: { maxAttempts: 2, base: "200 millis", cap: "2 seconds", jitter: full, retryAfterCap: "5 seconds" }
  timeouts: { attempt: "20 seconds", firstToken: "10 seconds", total: "45 seconds" }
  breaker:
    consecutiveFailures: 3
    openDuration: { base: "15 seconds", factor: 2, cap: "30 seconds" }

gateway:
  host: 127.0.0.1
  port: 8787
`

/**
 * The demo config, parsed. Its fault windows count from when
 * `Config.toRouterConfig` builds its providers.
 *
 * @example
 * import { Effect } from "effect"
 * import { Config, Demo } from "effect-llm-failover/config"
 * import { Router } from "effect-llm-failover/router"
 *
 * const router = Effect.gen(function* () {
 *   const { config } = yield* Demo.config
 *   return yield* Router.make(yield* Config.toRouterConfig(config))
 * })
 *
 * @since 0.1.0
 * @category constants
 */
export const config: Effect.Effect<Config.Parsed, Config.ConfigError> = Config.parse(text, {
  format: "yaml",
  source: "demo config"
})
