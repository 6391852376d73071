/**
 * The three deadlines of a provider call, as consecutive phases:
 *
 * - `connect`: from sending the request to its response headers;
 * - `firstToken`: from the headers to the first content chunk of a stream
 *   (pings and other events without content do not count);
 * - `idle`: after that, the longest gap between two chunks; it also bounds
 *   reading a JSON body once its headers came.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Deadline from "../../resilience/internal/timeout.js"
import { type ChatChunk, isContent } from "../../llm/Chat.js"
import type { ProviderError, TimeoutPhase } from "../../llm/ProviderError.js"

/**
 * The deadlines a caller may set; each absent one takes its default.
 *
 * @internal
 */
export interface Timeouts {
  /** Until the response headers. Default 60 seconds. */
  readonly connect?: Duration.DurationInput | undefined
  /** From the headers to the first content chunk of a stream. Default 60 seconds. */
  readonly firstToken?: Duration.DurationInput | undefined
  /** The longest gap between two chunks, or to read a JSON body. Default 30 seconds. */
  readonly idle?: Duration.DurationInput | undefined
}

/** @internal */
export interface Resolved {
  readonly connect: Duration.Duration
  readonly firstToken: Duration.Duration
  readonly idle: Duration.Duration
}

/** @internal */
export const defaults: Resolved = {
  connect: Duration.seconds(60),
  firstToken: Duration.seconds(60),
  idle: Duration.seconds(30)
}

/** @internal */
export const resolve = (timeouts: Timeouts | undefined): Resolved => ({
  connect: timeouts?.connect !== undefined ? Duration.decode(timeouts.connect) : defaults.connect,
  firstToken: timeouts?.firstToken !== undefined ? Duration.decode(timeouts.firstToken) : defaults.firstToken,
  idle: timeouts?.idle !== undefined ? Duration.decode(timeouts.idle) : defaults.idle
})

const hasContent = (chunk: Chunk.Chunk<ChatChunk>): boolean => Chunk.some(chunk, isContent)

/**
 * Fails a chunk stream when its first content chunk does not come within
 * `firstToken` of the stream's start, or when, after it, two chunks are more
 * than `idle` apart. Interrupting the pull closes the upstream (and so
 * aborts the HTTP request).
 *
 * @internal
 */
export const withDeadlines = <E>(
  stream: Stream.Stream<ChatChunk, E>,
  timeouts: Resolved,
  onTimeout: (phase: TimeoutPhase, after: Duration.Duration) => ProviderError
): Stream.Stream<ChatChunk, E | ProviderError> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const pull = yield* Stream.toPull(stream)
      const clock = yield* Effect.clock
      const firstTokenMillis = Duration.toMillis(timeouts.firstToken)
      const idleMillis = Duration.toMillis(timeouts.idle)
      let sawContent = false
      let deadline = clock.unsafeCurrentTimeMillis() + firstTokenMillis
      const timedOut = () =>
        Option.some(sawContent ? onTimeout("idle", timeouts.idle) : onTimeout("first-token", timeouts.firstToken))
      const next: Effect.Effect<Chunk.Chunk<ChatChunk>, Option.Option<E | ProviderError>> = Effect.suspend(() =>
        Effect.flatMap(
          Deadline.timeoutFail(pull, Duration.millis(Math.max(0, deadline - clock.unsafeCurrentTimeMillis())), timedOut),
          (chunk) => {
            if (Chunk.isEmpty(chunk)) return next
            if (!sawContent && !hasContent(chunk)) return Effect.succeed(chunk)
            sawContent = true
            deadline = clock.unsafeCurrentTimeMillis() + idleMillis
            return Effect.succeed(chunk)
          }
        )
      )
      return Stream.repeatEffectChunkOption(next)
    })
  )
