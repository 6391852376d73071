/**
 * A model's stream under a first-content deadline the model keeps itself.
 *
 * The router bounds the head of each stream attempt (up to its first
 * content chunk) by the nearer of its first-token deadline and what is
 * left of the request's total one. Kept by `timeoutFail`, that is a fiber
 * forked a stream. The HTTP adapters already keep a first-token deadline
 * of their own on their readers' timers (and the headers' on their
 * client's), so they attach a `StreamWithin` to their `stream` function
 * that shortens those to the caller's, and the router calls it when it is
 * there. As with `CompleteWithin`, it rides on the function: a wrapper that
 * builds its own `stream` leaves it behind, and the router then times its
 * streams itself.
 *
 * @internal
 */
import type { Stream } from "effect"
import type { ChatChunk, ChatRequest } from "../Chat.js"

/**
 * A stream whose first content chunk must come within `millis` of its
 * opening (its first read), or it fails with `onTimeout()`, as under
 * `timeoutFail` around the reads up to that chunk (a deadline of the
 * model's own that is nearer, such as its connect or first-token deadline,
 * fails with its own error; on a tie the caller's wins). After the first
 * content chunk the caller's deadline no longer applies.
 *
 * @internal
 */
export type StreamWithin<E> = <E1>(
  request: ChatRequest,
  millis: number,
  onTimeout: () => E1
) => Stream.Stream<ChatChunk, E | E1>

const key: unique symbol = Symbol.for("effect-llm-failover/StreamWithin")

interface Attached<E> {
  readonly [key]?: StreamWithin<E>
}

/**
 * A `stream` that calls `stream`, with `within` attached (a function of its
 * own: `stream` itself is left as it was).
 *
 * @internal
 */
export const attach = <E>(
  stream: (request: ChatRequest) => Stream.Stream<ChatChunk, E>,
  within: StreamWithin<E>
): ((request: ChatRequest) => Stream.Stream<ChatChunk, E>) =>
  Object.assign((request: ChatRequest) => stream(request), { [key]: within })

/**
 * The deadline-keeping stream attached to `stream`, if any.
 *
 * @internal
 */
export const of = <E>(stream: (request: ChatRequest) => Stream.Stream<ChatChunk, E>): StreamWithin<E> | undefined =>
  (stream as Attached<E>)[key]
