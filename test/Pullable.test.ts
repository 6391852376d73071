/**
 * `Pullable`: a stream made from a pull reads the same through its `Stream`
 * and through the pull handed over directly, and `toPullIn` / `toPull`
 * read any other stream as `Channel.toPullIn` / `Stream.toPull` do.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Exit, Option, Ref, Scope, Stream } from "effect"
import * as Chat from "../src/llm/Chat.js"
import * as Pullable from "../src/llm/internal/pullable.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as UndiciHttpClient from "../src/providers/UndiciHttpClient.js"
import * as Router from "../src/router/Router.js"
import { settler, sim, succeeded } from "./support/virtual.js"

const settle = settler("1 minute")

/** A pull-made stream of `reads`, then its end or `failure`; `log` records its opening and closing. */
const made = (log: Ref.Ref<Array<string>>, reads: ReadonlyArray<ReadonlyArray<number>>, failure?: string) =>
  Pullable.make<number, string>((scope) =>
    Effect.gen(function* () {
      yield* Ref.update(log, (l) => [...l, "open"])
      yield* Scope.addFinalizer(scope, Ref.update(log, (l) => [...l, "close"]))
      let i = 0
      return Effect.suspend(() => {
        const read = reads[i++]
        if (read !== undefined) return Effect.succeed(Chunk.fromIterable(read))
        return failure === undefined ? Effect.fail(Option.none()) : Effect.fail(Option.some(failure))
      })
    })
  )

/** Every read of `pull` until its end or failure: the chunks, then "end" or the error. */
const drainEither = (pull: Effect.Effect<Either.Either<Chunk.Chunk<number>, unknown>, string>) =>
  Effect.gen(function* () {
    const out: Array<ReadonlyArray<number> | string> = []
    while (true) {
      const read = yield* Effect.either(pull)
      if (Either.isLeft(read)) {
        out.push(read.left)
        return out
      }
      if (Either.isLeft(read.right)) {
        out.push("end")
        return out
      }
      out.push(Chunk.toReadonlyArray(read.right.right))
    }
  })

describe("Pullable", () => {
  const reads = [[1, 2], [], [3]]

  it.effect("a made stream reads the same through its Stream, toPullIn and toPull, and closes its scope", () =>
    Effect.gen(function* () {
      for (const failure of [undefined, "boom"]) {
        const expected = failure === undefined ? [[1, 2], [], [3], "end"] : [[1, 2], [], [3], failure]
        const log = yield* Ref.make<Array<string>>([])

        const viaStream = yield* Effect.either(Stream.runCollect(made(log, reads, failure)))
        expect(Either.map(viaStream, Chunk.toReadonlyArray)).toEqual(
          failure === undefined ? Either.right([1, 2, 3]) : Either.left(failure)
        )

        const scope = yield* Scope.make()
        const pull = yield* Pullable.toPullIn(made(log, reads, failure), scope)
        // nothing opens before the first read
        expect(yield* Ref.get(log)).toEqual(["open", "close"])
        expect(yield* drainEither(pull)).toEqual(expected)
        yield* Scope.close(scope, Exit.void)

        const viaToPull = yield* Effect.scoped(
          Effect.flatMap(Pullable.toPull(made(log, reads, failure)), (p) =>
            drainEither(
              Effect.matchEffect(p, {
                onSuccess: (chunk) => Effect.succeed(Either.right(chunk)),
                onFailure: (e) => (Option.isNone(e) ? Effect.succeed(Either.left(undefined)) : Effect.fail(e.value))
              })
            )
          )
        )
        expect(viaToPull).toEqual(expected)
        expect(yield* Ref.get(log)).toEqual(["open", "close", "open", "close", "open", "close"])
      }
    }))

  it.effect("an opening that fails is the first read's failure", () =>
    Effect.gen(function* () {
      const failing = Pullable.make<number, string>(() => Effect.fail("no connection"))
      const scope = yield* Scope.make()
      const pull = yield* Pullable.toPullIn(failing, scope)
      expect(yield* Effect.flip(pull)).toBe("no connection")
      const first = yield* Effect.scoped(Effect.flatMap(Pullable.toPull(failing), Effect.flip))
      expect(first).toEqual(Option.some("no connection"))
      expect(yield* Effect.flip(Stream.runDrain(failing))).toBe("no connection")
    }))

  it.effect("any other stream reads as Channel.toPullIn and Stream.toPull read it", () =>
    Effect.gen(function* () {
      const plain = Stream.concat(Stream.fromChunks(Chunk.make(1, 2), Chunk.empty(), Chunk.of(3)), Stream.fail("late"))
      const scope = yield* Scope.make()
      const pull = yield* Pullable.toPullIn(plain, scope)
      const read = yield* drainEither(pull)
      expect(read.at(-1)).toBe("late")
      expect(read.slice(0, -1).flat()).toEqual([1, 2, 3])
      const viaToPull = yield* Effect.scoped(
        Effect.flatMap(Pullable.toPull(plain), (p) => Effect.flip(Effect.forever(p)))
      )
      expect(viaToPull).toEqual(Option.some("late"))
    }))

  it.scoped("the adapters' streams and the router's are made so: the router and the gateway read them directly", () =>
    Effect.gen(function* () {
      const request = Chat.prompt("Hello")
      const adapter = yield* OpenAi.make({ model: "m", baseUrl: "http://127.0.0.1:9/v1" })
      expect(Pullable.isMade(adapter.stream(request))).toBe(true)
      const router = yield* Router.make({ targets: { sim: { model: yield* sim("openai") } }, chains: { main: ["sim"] } })
      const text = succeeded(
        yield* settle(
          Effect.scoped(
            Effect.flatMap(router.stream(request, { chain: "main" }), (started) => {
              expect(Pullable.isMade(started.chunks)).toBe(true)
              return Stream.runCollect(started.chunks)
            })
          )
        )
      )
      expect(Chunk.size(text)).toBeGreaterThan(0)
    }).pipe(Effect.provide(UndiciHttpClient.layer)))
})
