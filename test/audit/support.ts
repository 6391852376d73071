/** The audit's helpers, now in `test/support/raw.ts`. */
export * from "../support/raw.js"
