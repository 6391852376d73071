/**
 * A model's completion under a deadline the model keeps itself.
 *
 * The router times each attempt with `timeoutFail`, which forks a fiber for
 * the call: a fork and a join a completion, about a tenth of a completion's
 * CPU through the gateway. The HTTP adapters can keep the deadline on their
 * client's own timers instead (the headers deadline and the body's read,
 * each shortened to what is left of the call's), so they attach a
 * `CompleteWithin` to their `complete` function, and the router calls it
 * when it is there.
 *
 * It rides on the function, not on the service: a wrapper that builds its
 * own `complete` (`{ ...model, complete: wrapped }`) leaves it behind, and
 * its calls are timed by the router as any model's, never sent around the
 * wrapper.
 *
 * @internal
 */
import type { Effect } from "effect"
import type { ChatRequest, ChatResponse } from "../Chat.js"

/**
 * A completion that fails with `onTimeout()` once `millis` have passed on
 * the fiber's clock, whatever it is then doing, as under `timeoutFail`
 * (a deadline of the model's own that is nearer, such as an adapter's
 * connect deadline, fails with its own error, as it would inside
 * `timeoutFail`; on a tie the caller's wins).
 *
 * @internal
 */
export type CompleteWithin<E> = <E1>(
  request: ChatRequest,
  millis: number,
  onTimeout: () => E1
) => Effect.Effect<ChatResponse, E | E1>

const key: unique symbol = Symbol.for("effect-llm-failover/CompleteWithin")

interface Attached<E> {
  readonly [key]?: CompleteWithin<E>
}

/**
 * A `complete` that calls `complete`, with `within` attached (a function of
 * its own: `complete` itself is left as it was).
 *
 * @internal
 */
export const attach = <E>(
  complete: (request: ChatRequest) => Effect.Effect<ChatResponse, E>,
  within: CompleteWithin<E>
): ((request: ChatRequest) => Effect.Effect<ChatResponse, E>) =>
  Object.assign((request: ChatRequest) => complete(request), { [key]: within })

/**
 * The deadline-keeping completion attached to `complete`, if any.
 *
 * @internal
 */
export const of = <E>(complete: (request: ChatRequest) => Effect.Effect<ChatResponse, E>): CompleteWithin<E> | undefined =>
  (complete as Attached<E>)[key]
