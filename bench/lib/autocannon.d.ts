/**
 * The part of autocannon 9's API the benchmarks use (the package ships no
 * types): `autocannon(options)` runs a load and resolves with its result;
 * the returned instance emits `response` for every response, with its
 * latency in fractional milliseconds (the result's own latency histogram
 * rounds to whole milliseconds).
 */
declare module "autocannon" {
  import type { EventEmitter } from "node:events"

  interface Options {
    readonly url: string
    readonly method?: string
    readonly headers?: Readonly<Record<string, string>>
    readonly body?: string
    readonly connections?: number
    readonly duration?: number
    /** Requests to send in all; ends the run in place of `duration`. */
    readonly amount?: number
    readonly timeout?: number
    readonly pipelining?: number
    /** Called with every response body; `false` counts a mismatch. */
    readonly verifyBody?: (body: string) => boolean
  }

  interface Histogram {
    readonly average: number
    readonly mean: number
    readonly stddev: number
    readonly min: number
    readonly max: number
    readonly total: number
    readonly p50: number
    readonly p99: number
  }

  interface Result {
    readonly duration: number
    readonly requests: Histogram
    readonly latency: Histogram
    readonly throughput: Histogram
    readonly errors: number
    readonly timeouts: number
    readonly mismatches: number
    readonly non2xx: number
    readonly "2xx": number
    readonly statusCodeStats: Readonly<Record<string, { readonly count: number }>>
  }

  interface Instance extends EventEmitter, PromiseLike<Result> {
    on(event: "response", listener: (client: unknown, statusCode: number, bytes: number, responseTime: number) => void): this
    on(event: "reqError", listener: (error: Error) => void): this
    on(event: string, listener: (...args: Array<any>) => void): this
    stop(): void
  }

  function autocannon(options: Options): Instance

  export default autocannon
  export type { Histogram, Instance, Options, Result }
}
