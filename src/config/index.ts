/**
 * The config file: one schema for a YAML or JSON file of providers, models,
 * chains and policy; secrets from the environment as `Redacted`; every
 * problem reported at its path; and the embedded demo config.
 *
 * @since 0.1.0
 */
export * as Config from "./Config.js"
export * as Demo from "./Demo.js"
