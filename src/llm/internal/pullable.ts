/**
 * Streams that can be read without `Stream`'s machinery, by a consumer in
 * this package that knows how.
 *
 * A `Stream` is a channel: reading one, even one of three elements, runs a
 * channel executor, and wrapping an effect that opens it
 * (`Stream.unwrapScoped`) runs another. Measured in this process, 50 at a
 * time: reading `Stream.fromIterable([1, 2, 3])` pull by pull allocates
 * about 135 KiB, and `Stream.unwrapScoped` around it 87 KiB more; an
 * adapter's whole stream, HTTP call included, about 280 KiB.
 *
 * The adapters' streams are a pull to begin with (an effect a read, `None`
 * at the end), opened in a scope. `make` keeps that opening beside the
 * `Stream` it returns, which any consumer reads as usual; `toPullIn` opens
 * such a stream's pull directly in the consumer's scope, and reads any
 * other stream through its channel. The opening is handed its scope, not
 * given it as the `Scope` service: providing a service for it copies the
 * fiber's context twice, on a stream's every attempt.
 *
 * @internal
 */
import { Channel, Chunk, Effect, Either, Option, Scope, Stream } from "effect"

/** One read: some elements, or the end (`None`), or a failure. @internal */
export type Pull<A, E> = Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>

/**
 * How a stream made by `make` opens its pull, in the scope it is handed
 * (the stream's): it registers whatever it holds there, and reads no
 * `Scope` service (under `toPullIn` that would be the caller's).
 *
 * @internal
 */
export type Open<A, E> = (scope: Scope.Scope) => Effect.Effect<Pull<A, E>, E>

/** How each stream made by `make` opens its pull, by the stream. */
const opens = new WeakMap<object, Open<unknown, unknown>>()

/** How `stream` opens its pull, if `make` made it. */
const openOf = <A, E>(stream: Stream.Stream<A, E>) => opens.get(stream) as Open<A, E> | undefined

/**
 * The stream of the pull `open` opens, in the stream's scope; `toPullIn`
 * reads it without the `Stream`.
 *
 * @internal
 */
export const make = <A, E>(open: Open<A, E>): Stream.Stream<A, E> => {
  const opened = Effect.flatMap(Effect.scope, (scope) => Effect.map(open(scope), Stream.repeatEffectChunkOption))
  const stream = Stream.unwrapScoped(opened)
  opens.set(stream, open as Open<unknown, unknown>)
  return stream
}

/**
 * Opens `stream` for reading in the current scope: `Stream.toPull`, or,
 * for a stream `make` made, its own pull. As there, a failure to open is
 * the first read's.
 *
 * @internal
 */
export const toPull = <A, E>(stream: Stream.Stream<A, E>): Effect.Effect<Pull<A, E>, never, Scope.Scope> => {
  const open = openOf(stream)
  return open === undefined
    ? Stream.toPull(stream)
    : Effect.flatMap(Effect.scope, (scope) =>
        Effect.catchAll(open(scope), (error) => Effect.succeed(Effect.fail(Option.some(error)))))
}

/**
 * Whether `make` made `stream`, so that `toPullIn` and `toPull` read it
 * directly.
 *
 * @internal
 */
export const isMade = (stream: Stream.Stream<unknown, unknown>): boolean => opens.has(stream)

/** A pull's end as a `Left` and its elements as a `Right`, as `Channel.toPullIn` gives them. */
const toEither = <A, E>(pull: Pull<A, E>): Effect.Effect<Either.Either<Chunk.Chunk<A>, unknown>, E> =>
  Effect.matchEffect(pull, {
    onSuccess: (chunk) => Effect.succeed(Either.right(chunk)),
    onFailure: (error) => (Option.isNone(error) ? Effect.succeed(Either.left(undefined)) : Effect.fail(error.value))
  })

/**
 * Reads `stream` in `scope` (which closes it): each run of the effect it
 * gives reads once, `Right` with elements or `Left` at the end, as
 * `Channel.toPullIn(Stream.toChannel(stream), scope)`, which it is for a
 * stream `make` did not make. As there, the stream opens at the first
 * read, which fails as its opening fails.
 *
 * @internal
 */
export const toPullIn = <A, E>(
  stream: Stream.Stream<A, E>,
  scope: Scope.Scope
): Effect.Effect<Effect.Effect<Either.Either<Chunk.Chunk<A>, unknown>, E>> => {
  const open = openOf(stream)
  if (open === undefined) return Channel.toPullIn(Stream.toChannel(stream), scope)
  return Effect.sync(() => {
    let read: Effect.Effect<Either.Either<Chunk.Chunk<A>, unknown>, E> | undefined = undefined
    // opened at the first read
    const first = Effect.flatMap(Effect.suspend(() => open(scope)), (pull) => {
      read = toEither(pull)
      return read
    })
    return Effect.suspend(() => read ?? first)
  })
}
