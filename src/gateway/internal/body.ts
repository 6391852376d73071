/**
 * Reads a request body up to a byte limit and within a deadline. On Node
 * the reader stops at the limit or the deadline without destroying the
 * socket, so the client still gets its 413 or 408 (the connection then
 * closes, its rest unread); its deadline is one timer, no fiber. Elsewhere
 * it reads the platform's body stream with the same limit and deadline.
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import { armTimer } from "../../resilience/internal/timeout.js"

/** The body passed the limit. @internal */
export class TooLarge extends Data.TaggedError("TooLarge")<{}> {}

/** The body could not be read (the client went away mid-body). @internal */
export class ReadFailed extends Data.TaggedError("ReadFailed")<{}> {}

/** The body did not arrive before the deadline. @internal */
export class TimedOut extends Data.TaggedError("TimedOut")<{}> {}

/**
 * The bodies being read at once already hold the gateway's whole allowance,
 * or (`share`) the bodies of the same client's key hold its share of it.
 *
 * @internal
 */
export class OverBudget extends Data.TaggedError("OverBudget")<{ readonly share: boolean }> {}

/** Why a body could not be read. @internal */
export type ReadError = TooLarge | ReadFailed | TimedOut | OverBudget

/**
 * The bytes every body being read may hold between them: each body's bytes
 * count from their arrival (its whole announced length, at once, when it
 * has one) until it is read whole or given up. A gateway's memory for
 * uploads is then this, not its connections times `maxBodyBytes`.
 *
 * @internal
 */
export class Budget {
  used = 0
  /** What each owner's bodies hold now, by owner. */
  private readonly owners = new Map<string, number>()
  /**
   * `share`: what the bodies of one owner (a client's key, by its name) may
   * hold between them (default: the whole limit), so that one client
   * uploading slowly on many connections cannot hold the whole allowance
   * and refuse every other's requests.
   */
  constructor(readonly limit: number, readonly share: number = limit) {}

  /**
   * Counts `bytes` more (for `owner`, if any), or says why not (and counts
   * nothing): `"full"` when they would pass the limit, `"share"` when they
   * would pass the owner's share.
   */
  take(bytes: number, owner?: string): true | "full" | "share" {
    if (this.used + bytes > this.limit) return "full"
    if (owner !== undefined) {
      const held = (this.owners.get(owner) ?? 0) + bytes
      if (held > this.share) return "share"
      this.owners.set(owner, held)
    }
    this.used += bytes
    return true
  }

  give(bytes: number, owner?: string): void {
    this.used -= bytes
    if (owner === undefined) return
    const held = (this.owners.get(owner) ?? 0) - bytes
    if (held > 0) this.owners.set(owner, held)
    else this.owners.delete(owner)
  }
}

/** What one body holds of a budget: its announced length up front, else what has arrived. */
class Holding {
  private held = 0
  private readonly announced: number | undefined

  constructor(
    private readonly budget: Budget | undefined,
    contentLength: string | undefined,
    private readonly owner: string | undefined
  ) {
    const length = contentLength === undefined ? Number.NaN : Number(contentLength)
    this.announced = Number.isSafeInteger(length) && length >= 0 ? length : undefined
  }

  /** Takes the announced length; the refusal when the budget (or the owner's share) cannot hold it. */
  open(): OverBudget | undefined {
    if (this.budget === undefined || this.announced === undefined) return undefined
    const taken = this.budget.take(this.announced, this.owner)
    if (taken !== true) return new OverBudget({ share: taken === "share" })
    this.held = this.announced
    return undefined
  }

  /** Counts a chunk past what is held; the refusal when the budget (or the owner's share) cannot hold it. */
  grow(size: number): OverBudget | undefined {
    if (this.budget === undefined || size <= this.held) return undefined
    const taken = this.budget.take(size - this.held, this.owner)
    if (taken !== true) return new OverBudget({ share: taken === "share" })
    this.held = size
    return undefined
  }

  release(): void {
    this.budget?.give(this.held, this.owner)
    this.held = 0
  }
}

/**
 * `read` for a Node request itself.
 *
 * @internal
 */
export const readIncoming = (
  source: Http.IncomingMessage,
  limit: number,
  timeout: Duration.Duration,
  budget?: Budget,
  owner?: string
): Effect.Effect<Uint8Array, ReadError> =>
  Effect.async<Uint8Array, ReadError>((resume) => {
    const holding = new Holding(budget, source.headers["content-length"], owner)
    const refused = holding.open()
    if (refused !== undefined) {
      source.pause()
      return resume(Effect.fail(refused))
    }
    const chunks: Array<Buffer> = []
    let size = 0
    // a deadline past a timer's range is none (Node would fire such a timer at once)
    const timer = armTimer(Duration.toMillis(timeout), () => {
      cleanup()
      source.pause()
      resume(Effect.fail(new TimedOut()))
    })
    const cleanup = () => {
      clearTimeout(timer)
      holding.release()
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
    }
    function onData(chunk: Buffer) {
      size += chunk.length
      if (size > limit) {
        cleanup()
        source.pause()
        resume(Effect.fail(new TooLarge()))
      } else {
        const refused = holding.grow(size)
        if (refused === undefined) return void chunks.push(chunk)
        cleanup()
        source.pause()
        resume(Effect.fail(refused))
      }
    }
    function onEnd() {
      cleanup()
      resume(Effect.succeed(Buffer.concat(chunks, size)))
    }
    function onError() {
      cleanup()
      resume(Effect.fail(new ReadFailed()))
    }
    source.on("data", onData)
    source.once("end", onEnd)
    source.once("error", onError)
    return Effect.sync(cleanup)
  })

const readStream = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number,
  timeout: Duration.Duration,
  budget: Budget | undefined,
  owner: string | undefined
): Effect.Effect<Uint8Array, ReadError> =>
  Effect.suspend(() => {
    const holding = new Holding(budget, request.headers["content-length"], owner)
    const refused = holding.open()
    if (refused !== undefined) return Effect.fail(refused)
    const chunks: Array<Uint8Array> = []
    let size = 0
    return request.stream.pipe(
      Stream.mapError(() => new ReadFailed()),
      Stream.runForEach((chunk): Effect.Effect<void, TooLarge | OverBudget> => {
        size += chunk.length
        if (size > limit) return Effect.fail(new TooLarge())
        const refused = holding.grow(size)
        if (refused !== undefined) return Effect.fail(refused)
        chunks.push(chunk)
        return Effect.void
      }),
      Effect.map(() => {
        const out = new Uint8Array(size)
        let offset = 0
        for (const chunk of chunks) {
          out.set(chunk, offset)
          offset += chunk.length
        }
        return out
      }),
      Effect.timeoutFail({ duration: timeout, onTimeout: () => new TimedOut() }),
      Effect.ensuring(Effect.sync(() => holding.release()))
    )
  })

/**
 * The whole body, failing with `TooLarge` as soon as it passes `limit`
 * bytes, with `TimedOut` if it has not all arrived within `timeout`, and
 * with `OverBudget` when the bodies being read at once would hold more
 * than `budget` allows, or those of `owner` (a client's key, by its name)
 * more than its share.
 *
 * @internal
 */
export const read = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number,
  timeout: Duration.Duration,
  budget?: Budget,
  owner?: string
): Effect.Effect<Uint8Array, ReadError> =>
  request.source instanceof Http.IncomingMessage
    ? readIncoming(request.source, limit, timeout, budget, owner)
    : readStream(request, limit, timeout, budget, owner)
