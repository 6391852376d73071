/**
 * A Redis connection as an Effect service, over ioredis.
 *
 * Built for state that must never hold up a request: commands fail at once
 * while the server is unreachable (no offline queue), every command has a
 * deadline, and the client reconnects by itself in the background with
 * backoff. Two connections are kept, one for commands and one for pub/sub
 * (a subscribed connection can run nothing else); subscriptions survive
 * reconnects, and end with the scope that made them.
 *
 * Why a connection is down (a refused password, an unknown ACL user, TLS
 * spoken to a plain server) is kept from its last error and named in the
 * `RedisError`s of commands that fail meanwhile, never with the password.
 *
 * ioredis is loaded when the first connection is made, not with this
 * module: the configuration reaches this module whether or not it names a
 * Redis server, and a gateway that keeps its state in memory need not hold
 * ioredis's code (about 2 MB of RSS).
 *
 * @since 0.1.0
 */
import { Cause, Context, Duration, Effect, Either, Layer, Redacted, Runtime, Schema, type Scope, Stream, SubscriptionRef } from "effect"
import type { ChainableCommander, Cluster as IoCluster, ClusterOptions, Redis as IoRedis, RedisOptions } from "ioredis"
import * as RedisUrl from "./internal/url.js"

/**
 * A Redis command failed: the server is unreachable, slow past the command
 * deadline, or answered with an error. While the connection is down, the
 * message ends with the connection's last error (`last connection error:
 * WRONGPASS ...`). The message never holds the URL's password.
 *
 * @example
 * import { Effect } from "effect"
 * import { Redis } from "effect-llm-failover/state"
 *
 * const failed = Effect.fail(new Redis.RedisError({ operation: "EVAL", message: "NOSCRIPT No matching script" }))
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
 * @example
 * ```ts
 * import { Config, Effect, Layer } from "effect"
 * import { Redis } from "effect-llm-failover/state"
 *
 * // the URL (with its password) from the environment; a slower network than the defaults assume
 * const RedisLive = Layer.unwrapEffect(
 *   Effect.map(Config.redacted("REDIS_URL"), (url) => {
 *     const options: Redis.Options = { url, connectTimeout: "3 seconds", commandTimeout: "1 second", maxReconnectDelay: "10 seconds" }
 *     return Redis.layer(options)
 *   })
 * )
 * ```
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
  /**
   * The URL names a node of a Redis Cluster (a managed cluster's
   * configuration endpoint, say): the client learns the others from it and
   * sends each command to the node holding its key's slot, following the
   * cluster through resharding and failovers (ioredis's `Cluster`). The URL's
   * user, password and `rediss://` apply to every node; a cluster has
   * database 0 only. Default false: one plain connection.
   */
  readonly cluster?: boolean
}

/**
 * The client.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Redis } from "effect-llm-failover/state"
 *
 * const program = Effect.gen(function*() {
 *   const redis: Redis.RedisClient = yield* Redis.Redis
 *   // two commands in one round trip, each answered on its own
 *   const [set, count] = yield* redis.pipeline("hits", (p) => {
 *     p.set("last-hit", String(Date.now()))
 *     p.incr("hits")
 *   })
 *   yield* redis.publish("hits", "one more")
 *   return { set, count }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisClient {
  /**
   * Runs commands on the command connection, with its deadline; failures are
   * `RedisError`s. On a cluster it is ioredis's `Cluster`, which routes each
   * command by its key.
   */
  readonly use: <A>(operation: string, f: (redis: Connection) => Promise<A>) => Effect.Effect<A, RedisError>
  /**
   * Runs the commands `build` queues as one pipeline on the command
   * connection, with its deadline, and answers each command's reply in
   * order: its result, or the error Redis answered it with (a user without
   * the rights, `OOM` at `maxmemory`). It fails as a whole when the
   * pipeline could not run (the connection is down or lost: every command
   * failed alike) or missed its deadline.
   */
  readonly pipeline: (
    operation: string,
    build: (pipeline: ChainableCommander) => void
  ) => Effect.Effect<Array<Either.Either<unknown, RedisError>>, RedisError>
  /** Publishes on a channel. */
  readonly publish: (channel: string, message: string) => Effect.Effect<void, RedisError>
  /**
   * Calls `onMessage` for every message on `channel`, from now until the
   * scope closes (or the client's, if it closes first), across reconnects. It
   * does not wait for the server. `onSubscribed` is called each time the
   * server confirms the subscription: the first time, and after every
   * reconnect of the subscriber's connection (messages published while it
   * was down are lost: re-read what they would have said). A subscription
   * the server refuses (an ACL user without the channel) is logged as a
   * warning, in the context of the fiber that subscribed. When the scope
   * closes, `onMessage` is called no more, and the connection unsubscribes
   * from a channel once its last subscription ends.
   */
  readonly subscribe: (
    channel: string,
    onMessage: (message: string) => void,
    onSubscribed?: () => void
  ) => Effect.Effect<void, never, Scope.Scope>
  /** Whether the command connection is up now, and every change of it. */
  readonly connected: SubscriptionRef.SubscriptionRef<boolean>
  /**
   * Whether this is a cluster client ({@link Options.cluster}): then the keys
   * of one script or pipeline must share a slot (a hash tag), or the
   * cluster refuses it.
   */
  readonly cluster: boolean
}

/**
 * The command connection {@link RedisClient.use} hands over: ioredis's
 * `Redis`, or its `Cluster` on a cluster. Both take the same commands.
 *
 * @example
 * ```ts
 * import type { Redis } from "effect-llm-failover/state"
 *
 * const greet = (connection: Redis.Connection) => connection.set("greeting", "hello", "PX", 10_000)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Connection = IoRedis | IoCluster

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
    const problem = RedisUrl.problem(url, options.cluster === true)
    if (problem !== undefined) return yield* Effect.die(new Cause.IllegalArgumentException(`Redis.make: the url ${problem}`))
    const secrets = secretsOf(url)
    const scrub = (text: string) => secrets.reduce((scrubbed, secret) => scrubbed.split(secret).join("<redacted>"), text)
    const commandTimeout = Duration.toMillis(options.commandTimeout ?? "500 millis")
    const maxDelay = Duration.toMillis(options.maxReconnectDelay ?? "2 seconds")
    const connectTimeout = Duration.toMillis(options.connectTimeout ?? "1 second")
    const backoff = (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 10), maxDelay)
    const perConnection = {
      connectTimeout,
      commandTimeout,
      maxRetriesPerRequest: 0,
      // ioredis logs "Unhandled error event" for every failed reconnect unless someone listens
      showFriendlyErrorStack: false
    }
    const { Cluster, Redis } = yield* loadClient
    const cluster = options.cluster === true
    const open = (subscriber: boolean): Connection => {
      // ioredis's own resubscription after a reconnect (autoResubscribe) sends its SUBSCRIBE with no handler: a command
      // timeout, or the queue flushed by the next reconnect or by the close, rejected it unhandled, which ends a Node
      // process by default. A standalone subscriber is resubscribed by us at every ready (`subscribeTo`), handled; a
      // cluster's keeps ioredis's, which follows its nodes, with no command timeout on its subscriber
      if (!cluster) {
        return new Redis(url, { ...perConnection, lazyConnect: true, enableOfflineQueue: false, retryStrategy: backoff, autoResubscribe: false })
      }
      const { commandTimeout: _, ...untimed } = perConnection
      const connection = subscriber ? untimed : perConnection
      const node = new URL(url)
      const redisOptions: ClusterOptions["redisOptions"] & RedisOptions = {
        ...connection,
        autoResubscribe: subscriber,
        ...(node.username === "" ? {} : { username: decodeURIComponent(node.username) }),
        ...(node.password === "" ? {} : { password: decodeURIComponent(node.password) }),
        ...(node.protocol === "rediss:" ? { tls: { servername: node.hostname } } : {})
      }
      return new Cluster([{ host: node.hostname, port: node.port === "" ? 6379 : Number(node.port) }], {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: backoff,
        slotsRefreshTimeout: connectTimeout,
        redisOptions
      })
    }
    const commands = open(false)
    const subscriber = open(true)
    // ioredis reports why a connection failed (WRONGPASS, NOAUTH, a TLS handshake) only here: kept, scrubbed, until it is
    // ready again (the subscriber's is the same, on the same URL; a command names it)
    let lastError: string | undefined
    commands.on("error", (error: unknown) => (lastError = scrub(messageOf(error))))
    // a cluster's nodes report theirs (WRONGPASS, a refused connection) here; its "error" only says it gave up
    commands.on("node error", (error: unknown) => (lastError = scrub(messageOf(error))))
    commands.on("ready", () => (lastError = undefined))
    subscriber.on("error", () => {})
    /** A command's error, and the connection's last error while it is down. */
    const failure = (operation: string, error: unknown) => {
      const message = scrub(messageOf(error))
      const cause = commands.status === "ready" ? undefined : lastError
      return new RedisError({ operation, message: cause === undefined || cause === message ? message : `${message} (last connection error: ${cause})` })
    }

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
    const subscribeTo = (channels: ReadonlyArray<string>) =>
      subscriber.subscribe(...channels).then(
        () => {
          for (const channel of channels) each(channel, (handler) => handler.onSubscribed?.())
        },
        (error: unknown) => {
          // a connection lost meanwhile is no refusal: the next ready subscribes again
          if (subscriber.status !== "ready") return
          const message = scrub(messageOf(error))
          for (const channel of channels) each(channel, (handler) => handler.onRefused(message))
        }
      )
    subscriber.on("message", (channel: string, message: string) => each(channel, (handler) => handler.onMessage(message)))
    // (re)subscribes on every ready: a channel subscribed while the server was down, or after the connection dropped
    subscriber.on("ready", () => {
      const channels = [...handlers.keys()]
      if (channels.length > 0) subscribeTo(channels)
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

    const use = <A>(operation: string, f: (redis: Connection) => Promise<A>): Effect.Effect<A, RedisError> =>
      Effect.tryPromise({ try: () => f(commands), catch: (error) => failure(operation, error) }).pipe(
        Effect.timeoutFail({
          duration: Duration.millis(commandTimeout + 50),
          onTimeout: () => new RedisError({ operation, message: `no answer within ${commandTimeout} ms` })
        })
      )

    const pipeline = (operation: string, build: (pipeline: ChainableCommander) => void) =>
      use(operation, (client) => {
        const queued = client.pipeline()
        build(queued)
        return queued.exec() as Promise<Array<[error: Error | null, result: unknown]> | null>
      }).pipe(
        Effect.flatMap((replies) => {
          const all = replies ?? []
          // a connection lost mid-pipeline fails every command alike: that is a failure of the whole
          const first = all[0]?.[0]
          if (first != null && all.every(([error]) => error !== null)) return Effect.fail(failure(operation, first))
          return Effect.succeed(all.map(([error, result]) =>
            error === null ? Either.right(result) : Either.left(new RedisError({ operation, message: scrub(error.message) }))
          ))
        })
      )

    const subscribe = (channel: string, onMessage: (message: string) => void, onSubscribed?: () => void) =>
      Effect.gen(function*() {
        const runFork = Runtime.runFork(yield* Effect.runtime<never>())
        const handler: Handler = {
          onMessage,
          ...(onSubscribed === undefined ? {} : { onSubscribed }),
          onRefused: (message) => {
            runFork(Effect.logWarning(`Redis: subscribing to ${channel} was refused (${message}); its messages do not arrive here`))
          }
        }
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            const existing = handlers.get(channel)
            if (existing === undefined) handlers.set(channel, [handler])
            else existing.push(handler)
            if (subscriber.status === "ready") subscribeTo([channel])
          }),
          () =>
            Effect.sync(() => {
              const existing = handlers.get(channel)
              if (existing === undefined) return
              const rest = existing.filter((other) => other !== handler)
              if (rest.length > 0) return void handlers.set(channel, rest)
              handlers.delete(channel)
              // the last one: the server stops sending it (the connection may be down, or closed with the client)
              if (subscriber.status === "ready") subscriber.unsubscribe(channel).catch(() => {})
            })
        )
      })

    return {
      use,
      pipeline,
      publish: (channel, message) => Effect.asVoid(use("publish", (redis) => redis.publish(channel, message))),
      subscribe,
      connected,
      cluster
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
 * // a Redis Cluster, from one node's address (a managed cluster's configuration endpoint)
 * const ClusterLive = Redis.layer({ url: Redacted.make("rediss://:secret@clustercfg.example.internal:6379"), cluster: true })
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
  /** The server refused the subscription: the message says why, scrubbed. */
  readonly onRefused: (message: string) => void
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/**
 * ioredis's client classes, loaded once they are needed. Node gives the
 * CommonJS module's exports both as named exports and as `default`; a
 * bundled chunk (the executable's, split by esbuild) gives `default` only.
 */
const loadClient: Effect.Effect<{ readonly Redis: typeof IoRedis; readonly Cluster: typeof IoCluster }> = Effect.promise(() =>
  import("ioredis")
).pipe(
  Effect.map((module) => {
    const exports = module.Redis === undefined ? (module.default as unknown as typeof module) : module
    return { Redis: exports.Redis, Cluster: exports.Cluster }
  })
)

/** The URL's password, as written and decoded: what a message must never hold. */
const secretsOf = (url: string): ReadonlyArray<string> => {
  try {
    const raw = new URL(url).password
    return [...new Set([raw, decodeURIComponent(raw)])].filter((secret) => secret !== "")
  } catch {
    return []
  }
}
