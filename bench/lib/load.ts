/**
 * One HTTP load run with autocannon: a fixed number of keep-alive
 * connections, each sending the next request as soon as its answer ended,
 * for a fixed time. Every response body is checked (`verify`); a body that
 * fails the check counts as a mismatch, and a run with any error, timeout,
 * non-2xx answer or mismatch is invalid.
 *
 * Latency is taken per response from autocannon's `response` event, in
 * fractional milliseconds from the request's write to the response's last
 * byte (for a stream, its end), since autocannon's own latency histogram
 * rounds to whole milliseconds, too coarse for the 1-connection runs.
 */
import autocannon from "autocannon"

/** What to send. */
export interface Request {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** Whether a response body is a correct answer. */
  readonly verify: (body: string) => boolean
}

/** Latency figures in milliseconds. */
export interface Latency {
  readonly mean: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/** The figures of one run. */
export interface LoadResult {
  readonly connections: number
  /** Seconds the run lasted, as autocannon timed it. */
  readonly seconds: number
  /** Every response, any status. */
  readonly responses: number
  /** 2xx responses per second. */
  readonly rps: number
  readonly errors: number
  readonly timeouts: number
  readonly non2xx: number
  readonly mismatches: number
  readonly statusCodes: Readonly<Record<string, number>>
  /** Over the 2xx responses. */
  readonly latency: Latency
}

/** Whether a run had no error of any kind. */
export const clean = (r: LoadResult): boolean =>
  r.errors === 0 && r.timeouts === 0 && r.non2xx === 0 && r.mismatches === 0 && r.responses > 0

/** Errors of a run in one phrase, e.g. "3 non-2xx (503: 3), 1 mismatch". */
export const problems = (r: LoadResult): string => {
  const parts: Array<string> = []
  if (r.errors > 0) parts.push(`${r.errors} errors (${r.timeouts} timeouts)`)
  if (r.non2xx > 0) {
    const codes = Object.entries(r.statusCodes).filter(([code]) => !code.startsWith("2"))
    parts.push(`${r.non2xx} non-2xx (${codes.map(([code, n]) => `${code}: ${n}`).join(", ")})`)
  }
  if (r.mismatches > 0) parts.push(`${r.mismatches} bodies failed the check`)
  if (r.responses === 0) parts.push("no response")
  return parts.join(", ")
}

const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

/** A growable array of latencies (milliseconds). */
export class Samples {
  private data = new Float64Array(1 << 16)
  length = 0
  push(x: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[this.length++] = x
  }
  /** Appends every sample of `other`. */
  pushAll(other: Samples): void {
    for (let i = 0; i < other.length; i++) this.push(other.data[i]!)
  }
  /** Mean, percentiles and max of the samples so far. */
  summary(): Latency {
    const sorted = this.data.slice(0, this.length).sort()
    let sum = 0
    for (const x of sorted) sum += x
    return {
      mean: sorted.length === 0 ? NaN : sum / sorted.length,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!
    }
  }
}

/**
 * Runs `connections` connections for `seconds` seconds against `request`;
 * returns the run's figures and, apart (they stay out of result files), the
 * latency of every 2xx response, to pool with other runs'.
 */
export const run = async (
  request: Request,
  connections: number,
  seconds: number
): Promise<{ readonly result: LoadResult; readonly samples: Samples }> => {
  const samples = new Samples()
  const instance = autocannon({
    url: request.url,
    method: "POST",
    headers: request.headers,
    body: request.body,
    connections,
    duration: seconds,
    timeout: 10,
    verifyBody: request.verify
  })
  // counted here, from every response event: autocannon's own total leaves
  // out the responses after its last one-second tick
  let responses = 0
  instance.on("response", (_client, statusCode, _bytes, responseTime) => {
    responses++
    if (statusCode >= 200 && statusCode < 300) samples.push(responseTime)
  })
  const result = await instance
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]))
  const figures: LoadResult = {
    connections,
    seconds: result.duration,
    responses,
    rps: samples.length / result.duration,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    mismatches: result.mismatches,
    statusCodes,
    latency: samples.summary()
  }
  return { result: figures, samples }
}
