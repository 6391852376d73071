/**
 * A Redis connection as an Effect service, over ioredis.
 *
 * Built for state that must never hold up a request: commands fail at once
 * while the server is unreachable (no offline queue), every command has a
 * deadline, and the client reconnects by itself in the background with
 * backoff. Two connections are kept, one for commands and one for pub/sub
 * (a subscribed connection can run nothing else); subscriptions survive
 * reconnects.
 *
 * ioredis is loaded when the first connection is made, not with this
 * module: the configuration reaches this module whether or not it names a
 * Redis server, and a gateway that keeps its state in memory need not hold
 * ioredis's code (about 2 MB of RSS).
 *
 * @since 0.1.0
 */
import { Cause, Context, Duration, Effect, Layer, Redacted, Schema, type Scope, Stream, SubscriptionRef } from "effect"
import type { Redis as IoRedis } from "ioredis"
import * as RedisUrl from "./internal/url.js"

/**
 * A Redis command failed: the server is unreachable, slow past the command
 * deadline, or answered with an error. The message never holds the URL's
 * password.
 *
 * @since 0.1.0
 * @category errors
 */
export class RedisError extends Schema.TaggedError<RedisError>()("RedisError", {
  operation: Schema.String,
  message: Schema.String
}) {}

/**
 * Connection settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `redis://[user:password@]host:port[/db]`; `Redacted` when it holds a password. */
  readonly url: string | Redacted.Redacted<string>
  /** Deadline of each connection attempt. Default 1 second. */
  readonly connectTimeout?: Duration.DurationInput
  /** Deadline of each command. Default 500 ms. */
  readonly commandTimeout?: Duration.DurationInput
  /** Longest pause between reconnection attempts (they back off from 50 ms). Default 2 seconds. */
  readonly maxReconnectDelay?: Duration.DurationInput
}

/**
 * The client.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClient {
  /** Runs commands on the command connection, with its deadline; failures are `RedisError`s. */
  readonly use: <A>(operation: string, f: (redis: IoRedis) => Promise<A>) => Effect.Effect<A, RedisError>
  /** Publishes on a channel. */
  readonly publish: (channel: string, message: string) => Effect.Effect<void, RedisError>
  /**
   * Calls `onMessage` for every message on `channel`, from now until the
   * client's scope closes, across reconnects. It does not wait for the server.
   * `onSubscribed` is called each time the server confirms the subscription:
   * the first time, and after every reconnect of the subscriber's connection
   * (messages published while it was down are lost: re-read what they would
   * have said).
   */
  readonly subscribe: (
    channel: string,
    onMessage: (message: string) => void,
    onSubscribed?: () => void
  ) => Effect.Effect<void>
  /** Whether the command connection is up now, and every change of it. */
  readonly connected: SubscriptionRef.SubscriptionRef<boolean>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Redis } from "effect-llm-failover/state"
 *
 * const ping = Effect.gen(function*() {
 *   const redis = yield* Redis.Redis
 *   return yield* redis.use("ping", (client) => client.ping())
 * })
 * ```
 *
 * @since 0.1.0
 * @category context
 */
export class Redis extends Context.Tag("effect-llm-failover/state/Redis")<Redis, RedisClient>() {}

/**
 * Opens the two connections (without waiting for them: a server that is down
 * now is reconnected to later) and closes them with the scope.
 *
 * A URL that cannot be parsed (often a password with `#`, `/` or `?` not
 * percent-encoded) is a defect, an `IllegalArgumentException` whose message
 * says what is wrong without quoting the URL.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Redis } from "effect-llm-failover/state"
 *
 * const program = Effect.gen(function*() {
 *   const redis = yield* Redis.make({ url: "redis://127.0.0.1:6379" })
 *   yield* redis.use("set", (client) => client.set("greeting", "hello", "PX", 10_000))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<RedisClient, never, Scope.Scope> =>
  Effect.gen(function*() {
    const url = Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url
    // checked before ioredis sees it: its parse error would carry the whole URL, password and all
    const problem = RedisUrl.problem(url)
    if (problem !== undefined) return yield* Effect.die(new Cause.IllegalArgumentException(`Redis.make: the url ${problem}`))
    const password = passwordOf(url)
    const scrub = (text: string) => (password === undefined ? text : text.split(password).join("<redacted>"))
    const commandTimeout = Duration.toMillis(options.commandTimeout ?? "500 millis")
    const maxDelay = Duration.toMillis(options.maxReconnectDelay ?? "2 seconds")
    const settings = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: Duration.toMillis(options.connectTimeout ?? "1 second"),
      commandTimeout,
      retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 10), maxDelay),
      // ioredis logs "Unhandled error event" for every failed reconnect unless someone listens
      showFriendlyErrorStack: false
    }
    const Client = yield* loadClient
    const commands = new Client(url, settings)
    const subscriber = new Client(url, { ...settings, autoResubscribe: true })
    commands.on("error", () => {})
    subscriber.on("error", () => {})

    const connected = yield* SubscriptionRef.make(false)
    const runtime = yield* Effect.runtime<never>()
    const setConnected = (value: boolean) => Effect.runFork(SubscriptionRef.set(connected, value).pipe(Effect.provide(runtime)))
    commands.on("ready", () => setConnected(true))
    commands.on("close", () => setConnected(false))

    const handlers = new Map<string, Array<Handler>>()
    const each = (channel: string, call: (handler: Handler) => void) => {
      for (const handler of handlers.get(channel) ?? []) {
        try {
          call(handler)
        } catch {
          // a handler's failure must not stop the others
        }
      }
    }
    const confirmed = (channels: ReadonlyArray<string>) => () => {
      for (const channel of channels) each(channel, (handler) => handler.onSubscribed?.())
    }
    subscriber.on("message", (channel: string, message: string) => each(channel, (handler) => handler.onMessage(message)))
    // (re)subscribes on every ready: a channel subscribed while the server was down, or after the connection dropped
    subscriber.on("ready", () => {
      const channels = [...handlers.keys()]
      if (channels.length > 0) subscriber.subscribe(...channels).then(confirmed(channels), () => {})
    })

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        handlers.clear()
        commands.disconnect()
        subscriber.disconnect()
      })
    )
    // connecting starts now; a failure here is retried by ioredis itself
    commands.connect().catch(() => {})
    subscriber.connect().catch(() => {})

    const use = <A>(operation: string, f: (redis: IoRedis) => Promise<A>): Effect.Effect<A, RedisError> =>
      Effect.tryPromise({
        try: () => f(commands),
        catch: (error) => new RedisError({ operation, message: scrub(error instanceof Error ? error.message : String(error)) })
      }).pipe(
        Effect.timeoutFail({
          duration: Duration.millis(commandTimeout + 50),
          onTimeout: () => new RedisError({ operation, message: `no answer within ${commandTimeout} ms` })
        })
      )

    return {
      use,
      publish: (channel, message) => Effect.asVoid(use("publish", (redis) => redis.publish(channel, message))),
      subscribe: (channel, onMessage, onSubscribed) =>
        Effect.sync(() => {
          const handler: Handler = onSubscribed === undefined ? { onMessage } : { onMessage, onSubscribed }
          const existing = handlers.get(channel)
          if (existing === undefined) handlers.set(channel, [handler])
          else existing.push(handler)
          if (subscriber.status === "ready") subscriber.subscribe(channel).then(confirmed([channel]), () => {})
        }),
      connected
    }
  })

/**
 * A layer providing {@link Redis}.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Redis } from "effect-llm-failover/state"
 *
 * const RedisLive = Redis.layer({ url: Redacted.make("redis://:secret@127.0.0.1:6379") })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Redis> => Layer.scoped(Redis, make(options))

/**
 * Every change of the connection's state, starting with the current one.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Redis } from "effect-llm-failover/state"
 *
 * const logChanges = Effect.gen(function*() {
 *   const redis = yield* Redis.Redis
 *   yield* Stream.runForEach(Redis.connectionChanges(redis), (up) => Effect.log(up ? "redis up" : "redis down"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const connectionChanges = (client: RedisClient): Stream.Stream<boolean> => Stream.changes(client.connected.changes)

/** What a subscription calls. */
interface Handler {
  readonly onMessage: (message: string) => void
  readonly onSubscribed?: () => void
}

/**
 * ioredis's client class, loaded once it is needed. Node gives the
 * CommonJS module's exports both as named exports and as `default`; a
 * bundled chunk (the executable's, split by esbuild) gives `default` only.
 */
const loadClient: Effect.Effect<typeof IoRedis> = Effect.promise(() => import("ioredis")).pipe(
  Effect.map((module) => module.Redis ?? (module.default as unknown as { readonly Redis: typeof IoRedis }).Redis)
)

const passwordOf = (url: string): string | undefined => {
  try {
    const password = decodeURIComponent(new URL(url).password)
    return password === "" ? undefined : password
  } catch {
    return undefined
  }
}
