/**
 * Driving an official client (`openai`, `@anthropic-ai/sdk`) from a test's
 * Effect: the error of a call that must fail, and every event of a stream.
 */
import { Effect } from "effect"

/** The rejection of a promise that must fail (a success dies the test). */
export const rejection = (f: () => Promise<unknown>): Effect.Effect<unknown> =>
  Effect.promise(() =>
    f().then(
      () => {
        throw new Error("expected the call to fail")
      },
      (error: unknown) => error
    )
  )

/** Every event of a client's stream, in order, once it has ended. */
export const allEvents = <A>(stream: AsyncIterable<A>): Effect.Effect<Array<A>> =>
  Effect.promise(async () => {
    const seen: Array<A> = []
    for await (const event of stream) seen.push(event)
    return seen
  })
