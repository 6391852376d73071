/**
 * The Redis mirror behind `SharedState`.
 *
 * Nothing here is on a request's path: breakers, limiters and budgets keep
 * deciding from their local state, and hand what changes to this module
 * synchronously (a map write). One fiber, every `syncInterval`, sends it all
 * in one pipeline and reads back what the other instances wrote:
 *
 * - breakers: the latest local transition per breaker (which wakes the
 *   fiber at once, without waiting for the interval) is written to
 *   `<ns>:breaker:<name>` (open for D with a TTL of D plus a second; isolated
 *   with a long TTL; closed leaves a tombstone with the same long TTL, see
 *   below; an opening crosses as the time it has left, and a key's as its
 *   TTL less that second, because the instances' clocks may differ) and
 *   published on `<ns>:events`, which
 *   every instance applies as it arrives (an open one with a grace past its
 *   deadline, so the opener probes first; a half-open one, published as
 *   `probing` and never stored, holds the others open for that grace, and
 *   goes again every half grace while a probe of it runs here, for up to a
 *   minute, so a probe longer than the grace holds them until its result
 *   arrives). A breaker registering, or every
 *   breaker after Redis comes back, reads its key, so a late instance starts
 *   open when the others are; every breaker reads it again about once a
 *   second and after the subscription comes back, so a message missed on the
 *   channel is repaired (a key this instance wrote is applied on the
 *   breaker's first read only: later the breaker here knows better). A
 *   missed "closed" too: the key then holds a tombstone, not nothing (an
 *   absent key could as well be one Redis lost), and a tombstone closes a
 *   breaker here that is not closed and whose state began before the
 *   tombstone was written, an order told by durations alone (the
 *   tombstone's age by Redis's clock, from its TTL; how long ago the state
 *   began and the read was sent, by this one's), never by comparing two
 *   clocks. A tombstone never resets a closed breaker (its counts stay). A
 *   marker key tells when Redis lost what it held (a new token in it): then
 *   every instance writes its open and isolated breakers back, where the key
 *   holds nothing stronger (an isolation, a longer opening, or a tombstone
 *   written after the state began here: then the state is stale, and the
 *   next read closes it). The calls each breaker counted while closed
 *   go out too, as one `outcomes` message per sync on the same channel (a
 *   failure wakes the fiber, at most once per 10 ms), and
 *   the other instances count them in their own breakers, so a target that
 *   fails for everyone trips on the combined traffic (these counts are
 *   perishable: a failed sync drops them);
 * - rate limits: per target and bucket, a hash `<ns>:rl:<name>:<start>`
 *   holding each instance's own totals of the bucket, requests in
 *   `r:<writer>` and tokens in `t:<writer>` (the writer is the instance and
 *   its process), expiring with the window; an instance writes its totals
 *   (never adds to a field) and sums the others' fields (those of buckets
 *   ahead of its clock, written by an instance whose clock is ahead, count
 *   in its current bucket); the live instances, among which each takes its
 *   share, are those whose heartbeat Redis's clock saw in the last two
 *   seconds or so;
 * - retry budgets: `<ns>:budget:{<name>}` holds one A6 count in thousandths;
 *   each instance sends its changes in numbered batches through a script that
 *   clamps them and notes the latest batch applied per instance (in
 *   `<ns>:budget:{<name>}:batches`), and sets its local count to the result
 *   plus what changed meanwhile.
 *
 * Redis Cluster: every script and command touches one key, or keys of one
 * slot. The budget script's two keys share the hash tag `{<name>}`; the
 * breakers' keys are read with one GET each, not an MGET, as they hash to
 * any slot. (The pipeline as a whole spans slots, which Redis allows; but
 * the `Redis` service is one plain connection, not a cluster client, so on
 * a cluster of several nodes the keys of other nodes' slots are answered
 * `MOVED`: a cluster client would have to split the pipeline per node.)
 *
 * Every write can be sent twice without harm, because a sync that misses
 * its deadline may still run: Redis runs what reached its socket, even after
 * a stall longer than the deadline, and the next sync sends it again. Rate
 * limits write totals, not increments; a budget batch is resent as is until
 * Redis answers for it, and the script skips a batch it has applied.
 *
 * If a sync fails (Redis down, slow, or answering every command with an
 * error) what it carried is kept for the next one (buckets out of the window
 * are dropped, and only the latest transition per breaker is kept, so
 * nothing grows), a warning is logged once, naming the connection's last
 * error, and the first sync that succeeds again logs the recovery and
 * re-reads every breaker.
 *
 * Every reply of a sync that reached Redis is checked too: Redis may refuse
 * some commands and run the others (an ACL user without the channel refuses
 * `PUBLISH`; at `maxmemory` with `noeviction` every write fails with `OOM`).
 * Each refusal is counted (`Status.rejected`), each kind of command Redis
 * starts refusing is warned of once, until it accepts one again; a breaker's
 * transition stays in the outbox until its key is written (it is published
 * once), a limiter whose buckets were not all read keeps to its share on its
 * own counts, and a budget's batch goes again.
 *
 * @internal
 */
import { Duration, Effect, Either, Queue, Ref, type Scope } from "effect"
import * as BreakerStore from "../../resilience/BreakerStore.js"
import type * as Health from "../../resilience/Health.js"
import type * as RateLimit from "../../resilience/RateLimit.js"
import type * as RetryBudget from "../../resilience/RetryBudget.js"
import { type RedisClient, RedisError } from "../Redis.js"
import type { Options, Service, Status } from "../SharedState.js"

/**
 * Applies one batch of an instance's budget changes, once: KEYS are the count
 * and the hash of the latest batch applied per instance; ARGV the change,
 * the maximum, the TTL, the instance, its process's session and the batch's
 * number. Answers the count.
 */
const budgetScript = `
local max = tonumber(ARGV[2])
local v = tonumber(redis.call('GET', KEYS[1]))
if not v then v = max end
local latest = redis.call('HGET', KEYS[2], ARGV[4])
local session, sequence = nil, nil
if latest then session, sequence = string.match(latest, '^(.*):(%d+)$') end
if session ~= ARGV[5] or tonumber(sequence) < tonumber(ARGV[6]) then
  v = v + tonumber(ARGV[1])
  if v < 0 then v = 0 end
  if v > max then v = max end
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[5] .. ':' .. ARGV[6])
end
redis.call('SET', KEYS[1], tostring(v), 'PX', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return tostring(v)`

/**
 * Writes a breaker's state back unless the key holds a stronger one (an
 * isolation, an opening that lasts as long, or a tombstone younger than the
 * state written back: the breaker closed after this instance's state began,
 * so that state is stale): KEYS is the breaker's key; ARGV the message,
 * whether it is an isolation (1 or 0), its TTL, and how long ago the state
 * began here. An opening's TTL is its time left plus a second, so TTLs
 * compare openings whatever the clocks of their writers; a tombstone's age
 * is its `ttl` less its PTTL, by Redis's clock, and the state's a duration
 * on the writer's: no two clocks are compared either.
 */
const restoreScript = `
local held = redis.call('GET', KEYS[1])
if held then
  local ok, state = pcall(cjson.decode, held)
  if ok and type(state) == 'table' then
    if state.to == 'isolated' then return 0 end
    if ARGV[2] == '0' and state.to == 'open' and redis.call('PTTL', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
    if state.to == 'tombstone' and type(state.ttl) == 'number' then
      local left = redis.call('PTTL', KEYS[1])
      if left > 0 and state.ttl - left < tonumber(ARGV[4]) then return 0 end
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`

/**
 * The heartbeat, judged by Redis's clock (the instances' may differ): notes
 * this instance as seen now, forgets those unseen for twice `liveFor`, and
 * answers how many were seen within it. KEYS is the instances' hash; ARGV
 * this instance and `liveFor` in millis.
 */
const heartbeatScript = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local liveFor = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], now)
redis.call('PEXPIRE', KEYS[1], liveFor * 3)
local seen = redis.call('HGETALL', KEYS[1])
local live = 0
for i = 1, #seen, 2 do
  local age = now - (tonumber(seen[i + 1]) or 0)
  if age <= liveFor then live = live + 1
  elseif age > liveFor * 2 then redis.call('HDEL', KEYS[1], seen[i]) end
end
return live`

interface BreakerMessage {
  readonly from: string
  readonly name: string
  readonly to: "open" | "isolated" | "closed" | "probing"
  /** How long it stays open from when the message was sent: clocks differ between instances, durations do not. */
  readonly openFor?: number
  /** The deadline by the sender's clock, for instances of older versions. */
  readonly openUntil?: number
  readonly trips?: number
  /** Opened by `forceOpen` (a server's Retry-After): no instance probes it early. */
  readonly forced?: boolean
}

/**
 * What a breaker's key holds once it closed: the record of the closing, so
 * that a re-read repairs an instance that missed the "closed" message (an
 * absent key could be a closed breaker or a key Redis lost). Never
 * published. `ttl` is the TTL it was written with: its age is `ttl` less its
 * PTTL, by Redis's clock. Instances of older versions, which know no such
 * state, read it as they read an absent key.
 */
interface Tombstone {
  readonly from: string
  readonly name: string
  readonly to: "tombstone"
  readonly ttl: number
}

/** The calls one instance's breakers counted since its last sync, per breaker. */
interface OutcomesMessage {
  readonly from: string
  readonly kind: "outcomes"
  readonly breakers: Readonly<Record<string, BreakerStore.Outcomes>>
  /**
   * The sender's clock when it sent the batches: their start times are read
   * as that long before the receiver's now, whatever the two clocks say (an
   * earlier version sends none, and its times are taken as they are).
   */
  readonly sentAt?: number
}

/** Samples of one instance's named health tracker since its last sync, per key, as [outcome, latency, ttft | null, at]. */
interface HealthMessage {
  readonly from: string
  readonly kind: "health"
  readonly name: string
  readonly samples: Readonly<Record<string, ReadonlyArray<HealthTuple>>>
}

type HealthTuple = readonly [outcome: 0 | 1 | 2, latency: number, timeToFirstToken: number | null, at: number]

/** Samples sent per key and sync, at most: past it, the rest of that interval's are dropped (and counted). */
const maxSamples = 1_000

type Message = BreakerMessage | Tombstone | OutcomesMessage | HealthMessage

/** This instance's totals in one bucket of a rate limit, and whether Redis may not hold them yet. */
interface Totals {
  requests: number
  tokens: number
  unsent: boolean
}

interface Limiter {
  readonly registration: RateLimit.Registration
  /** This instance's totals, per bucket start. */
  readonly own: Map<number, Totals>
}

/** Thousandths a budget changed by locally, numbered. */
interface Batch {
  readonly sequence: number
  readonly delta: number
}

interface Budget {
  readonly registration: RetryBudget.Registration
  /** Thousandths changed locally and not in a batch yet. */
  pending: number
  /** The batch sent and not answered for yet: it goes again, unchanged, until Redis answers. */
  unanswered: Batch | undefined
  /** The number of the latest batch. */
  sequence: number
}

type Reply = Either.Either<unknown, RedisError>

/**
 * What a command of the sync does, as its warning names it: Redis may refuse
 * one kind and not the others (an ACL user without the channel refuses every
 * `PUBLISH`; at `maxmemory` with `noeviction`, every write).
 */
type CommandKind =
  | "breaker write"
  | "breaker read"
  | "publish"
  | "heartbeat"
  | "marker"
  | "rate-limit write"
  | "rate-limit read"
  | "budget"

/**
 * How long a probe in flight here holds the others back at most, from when
 * it started: past it, "probing" is no longer repeated, and a probe that
 * hangs no longer keeps every instance off the target.
 */
const maxProbeHold = 60_000

/** A half-open spell of a local breaker with probes in flight, and when "probing" last went out for it. */
interface ProbeHold {
  readonly generation: number
  readonly since: number
  sent: number
}

/** @internal */
export const make = (redis: RedisClient, options: Options | undefined): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const namespace = options?.namespace ?? "llm-failover"
    /** What every key and the channel start with: the namespace, as one hash tag on a cluster. */
    const prefix = redis.cluster ? clusterPrefix(namespace) : namespace
    const instance = options?.instance ?? crypto.randomUUID()
    /** This process: an instance that restarts under the same id starts new batch numbers and new rate-limit fields. */
    const session = crypto.randomUUID().slice(0, 8)
    const writer = `${instance}:${session}`
    const interval = Duration.decode(options?.syncInterval ?? "100 millis")
    const isolatedTtl = Duration.toMillis(options?.isolatedTtl ?? "1 hour")
    const budgetTtl = Duration.toMillis(options?.budgetTtl ?? "10 minutes")
    const probeGrace = Duration.toMillis(options?.probeGrace ?? "2 seconds")
    /** Wakes the sync fiber before its interval ends: a breaker transition or failure goes out at once. */
    const wake = yield* Queue.sliding<void>(1)
    const minGap = Duration.min(Duration.millis(10), interval)
    const channel = `${prefix}:events`
    const instancesKey = `${prefix}:instances`
    // an instance is live while its heartbeats are fresh: a few intervals, at least two seconds
    const liveFor = Math.max(2_000, Duration.toMillis(interval) * 5)
    /** How far ahead another instance's clock may be for its rate-limit counts to reach this one's window at once. */
    const maxSkew = 10_000
    const breakerKey = (name: string) => `${prefix}:breaker:${name}`
    /**
     * A budget's count; its batches hash is this plus `:batches`. The script
     * touches both, so in a Redis Cluster they must sit in one slot: the name
     * is a hash tag (`{...}`), and as the key ends with the tag's closing
     * brace, the batches key, which only adds to it, has the same tag
     * whatever braces the namespace or the name hold. (A cluster client
     * goes further: every key has the namespace's tag, see `clusterPrefix`.)
     */
    const budgetKey = (name: string) => `${prefix}:budget:{${name}}`
    /**
     * A key every instance keeps alive, holding the token of whoever made it:
     * a new token means Redis lost what it held (a restart with no
     * persistence, a failover to a replica behind), and every instance writes
     * its breakers back.
     */
    const markerKey = `${prefix}:marker`
    /** Every breaker's key is read again every this many syncs (about a second): a message missed on the channel is repaired. */
    const rereadEvery = Math.max(1, Math.round(1_000 / Math.max(1, Duration.toMillis(interval))))
    const clock = yield* Effect.clock
    const startedAt = clock.unsafeCurrentTimeMillis()

    const breakers = new Map<string, BreakerStore.Registration>()
    /** Each breaker's local state, as the breaker writes it. */
    const cells = new Map<string, Ref.Ref<BreakerStore.State>>()
    /** The marker's token at the last sync; undefined before the first. */
    let marker: string | undefined
    /** Redis lost its state: write every breaker's back with the next sync. */
    let restore = false
    const outbox = new Map<string, BreakerStore.Transition>()
    /** Calls counted locally since the last sync, per breaker: perishable, dropped if a sync fails. */
    let outcomes = new Map<string, ReturnType<typeof BreakerStore.emptyOutcomes>>()
    const toRead = new Set<string>()
    const limiters = new Map<string, Limiter>()
    const budgets = new Map<string, Budget>()
    /** Named health trackers, and their samples not sent yet, per key (perishable, like outcomes). */
    const trackers = new Map<string, { readonly registration: Health.Registration; samples: Map<string, Array<HealthTuple>> }>()
    const status = { connected: false, down: false, syncs: 0, failures: 0, lastSync: 0, received: 0, droppedSamples: 0, rejected: 0 }
    /** The kinds of command Redis refuses now, each warned of once until it accepts one again. */
    const refused = new Set<CommandKind>()
    /** Transitions published whose write failed: the next sync retries the write only. */
    const published = new WeakSet<BreakerStore.Transition>()
    /** Local half-open breakers whose probes run, per name: "probing" goes out again every `probeGrace / 2`. */
    const probeHolds = new Map<string, ProbeHold>()
    /** How many instances the last heartbeat saw: kept when one fails. */
    let lastLive = 1
    /**
     * Breakers whose key was not read yet: a key this instance wrote is
     * applied on the first read only (a process that restarted under the
     * same id starts as it left the target); later, the breaker here is
     * newer than what it wrote (a re-read must not reopen a breaker whose
     * probe runs, or one whose reset is still to be written).
     */
    const unread = new Set<string>()
    /**
     * When each local breaker entered its state (its generation), by this
     * instance's clock: a tombstone read from a key closes it only if it
     * was written later (the breaker missed the closing), never when the
     * state here is newer (it opened again since, or the read raced with a
     * trip here).
     */
    const entered = new Map<string, { readonly generation: number; readonly at: number }>()
    /** Notes when `name`'s state began, if a transition just happened that no hook reported. */
    const noteEntered = (name: string): Effect.Effect<void> => {
      const ref = cells.get(name)
      if (ref === undefined) return Effect.void
      return Effect.map(Ref.get(ref), (state) => {
        if (entered.get(name)?.generation !== state.generation) {
          entered.set(name, { generation: state.generation, at: clock.unsafeCurrentTimeMillis() })
        }
      })
    }

    /**
     * Applies another instance's transition, or any state read back from
     * Redis with `keptFor`, the key's TTL (an opening's key outlives it by a
     * second).
     */
    const applyMessage = (message: BreakerMessage, keptFor?: number): Effect.Effect<void> =>
      Effect.zipRight(applyState(message, keptFor), Effect.suspend(() => noteEntered(message.name)))

    const applyState = (message: BreakerMessage, keptFor?: number): Effect.Effect<void> => {
      const apply = breakers.get(message.name)?.apply
      if (apply === undefined || (message.from === instance && keptFor === undefined)) return Effect.void
      status.received++
      const now = clock.unsafeCurrentTimeMillis()
      switch (message.to) {
        case "open": {
          // time left, counted on this instance's clock
          const openFor = keptFor !== undefined && keptFor > 0
            ? keptFor - 1_000
            : message.openFor ?? (message.openUntil === undefined ? undefined : message.openUntil - now)
          return openFor === undefined ? Effect.void : apply({
            to: "open",
            // the opener probes first (see `probeGrace`)
            openUntil: now + Math.max(0, openFor) + (message.from === instance ? 0 : probeGrace),
            ...(message.trips !== undefined ? { trips: message.trips } : {}),
            ...(message.forced === true ? { forced: true } : {})
          })
        }
        case "isolated":
          return apply({ to: "isolated" })
        case "closed":
          return apply({ to: "closed" })
        case "probing":
          return apply({ to: "probing", until: now + probeGrace })
      }
    }

    /**
     * Closes a breaker whose key holds another instance's tombstone `age`
     * millis old (by Redis's clock) at a read sent at `sentAt` (by this
     * one's), if the breaker here is not closed and its state began before
     * the tombstone was written: it missed the "closed" message. Both are
     * durations, so clocks that differ do not matter: the tombstone was
     * written at least `sentAt - age` by this clock, which must be after
     * the state here began. A closed breaker is left alone (a reset would
     * clear its counts).
     */
    const applyTombstone = (tombstone: Tombstone, age: number, sentAt: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        const registration = breakers.get(tombstone.name)
        const ref = cells.get(tombstone.name)
        if (registration === undefined || ref === undefined || tombstone.from === instance) return Effect.void
        return Effect.flatMap(Ref.get(ref), (state) => {
          const since = entered.get(tombstone.name)
          if (state.status === "closed" || since?.generation !== state.generation || sentAt - age <= since.at) {
            return Effect.void
          }
          status.received++
          return Effect.zipRight(registration.apply({ to: "closed" }), noteEntered(tombstone.name))
        })
      })

    /** Counts another instance's calls in the breakers registered here. */
    const applyOutcomes = (message: OutcomesMessage): Effect.Effect<void> => {
      if (message.from === instance) return Effect.void
      const applies: Array<Effect.Effect<void>> = []
      // the sender's start times on this clock: a peer's clock an hour behind would otherwise date its failing
      // calls an hour early, and a call here that started before them would end their run
      const offset = message.sentAt === undefined ? 0 : clock.unsafeCurrentTimeMillis() - message.sentAt
      for (const [name, batch] of Object.entries(message.breakers)) {
        const registration = breakers.get(name)
        if (registration !== undefined) applies.push(registration.applyOutcomes(offset === 0 ? batch : shifted(batch, offset)))
      }
      if (applies.length > 0) status.received++
      return Effect.all(applies, { discard: true })
    }

    /** Records another instance's health samples in the tracker of the same name here. */
    const applyHealth = (message: HealthMessage): Effect.Effect<void> => {
      const tracker = trackers.get(message.name)
      if (message.from === instance || tracker === undefined) return Effect.void
      return Effect.forEach(Object.entries(message.samples), ([key, tuples]) =>
        tracker.registration.apply(
          key,
          tuples.map(([outcome, latency, ttft, at]) => (ttft === null ? { outcome, latency, at } : { outcome, latency, timeToFirstToken: ttft, at }))
        ), { discard: true })
    }

    /** Every breaker's key is read with the next sync. */
    const rereadAll = () => {
      for (const name of breakers.keys()) toRead.add(name)
    }

    const runtime = yield* Effect.runtime<never>()
    yield* redis.subscribe(channel, (raw) => {
      const message = parse(raw)
      // a tombstone is a key's, never a message: one on the channel is a stranger's
      if (message === undefined || ("to" in message && message.to === "tombstone")) return
      const effect = !("kind" in message)
        ? applyMessage(message)
        : message.kind === "outcomes"
        ? applyOutcomes(message)
        : applyHealth(message)
      Effect.runFork(effect.pipe(Effect.provide(runtime)))
    }, () => {
      // (re)subscribed: what was published while the subscription was down is lost, so read the keys now
      rereadAll()
      wake.unsafeOffer(undefined)
    })

    const breakerStore: BreakerStore.BreakerStore = {
      register: (registration) =>
        Effect.map(Ref.make(registration.initial), (ref): BreakerStore.Cell => {
          breakers.set(registration.name, registration)
          cells.set(registration.name, ref)
          toRead.add(registration.name)
          unread.add(registration.name)
          const name = registration.name
          entered.set(name, { generation: registration.initial.generation, at: clock.unsafeCurrentTimeMillis() })
          return {
            ref,
            // half-open goes out as "probing": the others hold off while this instance probes
            onTransition: (t) => {
              entered.set(t.name, { generation: t.generation, at: clock.unsafeCurrentTimeMillis() })
              outbox.set(t.name, t)
              wake.unsafeOffer(undefined)
            },
            onOutcome: (kind, startedAt) => {
              let batch = outcomes.get(name)
              if (batch === undefined) outcomes.set(name, batch = BreakerStore.emptyOutcomes())
              BreakerStore.addOutcome(batch, kind, startedAt)
              // a failure is news: it goes out with the next sync, made early
              if (kind === "failure" || kind === "slowFailure") wake.unsafeOffer(undefined)
            }
          }
        })
    }

    const limitStore: RateLimit.Store = {
      register: (registration) =>
        Effect.sync(() => {
          const limiter: Limiter = { registration, own: new Map() }
          limiters.set(registration.name, limiter)
          return {
            // let go: no longer synced (a limiter of the same name registered since has taken its place: it stays)
            unregister: Effect.sync(() => {
              if (limiters.get(registration.name) === limiter) limiters.delete(registration.name)
            }),
            onCount: (count) => {
              const totals = limiter.own.get(count.start)
              if (totals === undefined) limiter.own.set(count.start, { requests: count.requests, tokens: count.tokens, unsent: true })
              else {
                totals.requests += count.requests
                totals.tokens += count.tokens
                totals.unsent = true
              }
            }
          }
        })
    }

    const budgetStore: RetryBudget.Store = {
      register: (registration) =>
        Effect.sync(() => {
          const budget: Budget = { registration, pending: 0, unanswered: undefined, sequence: 0 }
          budgets.set(registration.name, budget)
          return { onChange: (delta) => (budget.pending += Math.round(delta * 1000)) }
        })
    }

    const healthStore: Health.Store = {
      register: (registration) =>
        Effect.sync(() => {
          const tracker = { registration, samples: new Map<string, Array<HealthTuple>>() }
          trackers.set(registration.name, tracker)
          return {
            onSample: (key, sample) => {
              let list = tracker.samples.get(key)
              if (list === undefined) tracker.samples.set(key, list = [])
              if (list.length < maxSamples) {
                list.push([sample.outcome, sample.latency, sample.timeToFirstToken ?? null, sample.at])
              } else status.droppedSamples++
            }
          }
        })
    }

    /**
     * Puts a transition back in the outbox for the next sync, unless a newer
     * one of the breaker is there, or it is an opening whose deadline passed.
     */
    const requeue = (t: BreakerStore.Transition) => {
      if (outbox.has(t.name)) return
      if (t.to === "open" && t.openUntil !== undefined && t.openUntil <= clock.unsafeCurrentTimeMillis()) return
      outbox.set(t.name, t)
    }

    /**
     * Counts the commands Redis refused, and warns once of each kind it
     * starts refusing (the reply's own words: a command's error names no
     * password), until it accepts one of that kind again.
     */
    const account = (kinds: ReadonlyArray<CommandKind>, replies: ReadonlyArray<Reply>): Effect.Effect<void> =>
      Effect.suspend(() => {
        const errors = new Map<CommandKind, string>()
        const accepted = new Set<CommandKind>()
        for (const [i, kind] of kinds.entries()) {
          const reply = replies[i]
          if (reply === undefined || Either.isRight(reply)) accepted.add(kind)
          else {
            status.rejected++
            if (!errors.has(kind)) errors.set(kind, reply.left.message)
          }
        }
        const logs: Array<Effect.Effect<void>> = []
        for (const [kind, message] of errors) {
          if (refused.has(kind)) continue
          refused.add(kind)
          logs.push(Effect.logWarning(`shared state: Redis refuses the ${kind} commands (${message}); ${consequence[kind]}`))
        }
        for (const kind of accepted) {
          if (errors.has(kind) || !refused.delete(kind)) continue
          logs.push(Effect.logInfo(`shared state: Redis accepts the ${kind} commands again`))
        }
        return Effect.all(logs, { discard: true })
      })

    /** One round trip: everything pending out, everything shared in. */
    const sync = Effect.gen(function*() {
      const now = clock.unsafeCurrentTimeMillis()
      const transitions = [...outbox.values()]
      outbox.clear()
      const counted = outcomes
      outcomes = new Map()
      const healthSends: Array<HealthMessage> = []
      for (const [name, tracker] of trackers) {
        if (tracker.samples.size === 0) continue
        healthSends.push({ from: instance, kind: "health", name, samples: Object.fromEntries(tracker.samples) })
        tracker.samples = new Map()
      }
      const reads = [...toRead]
      toRead.clear()
      const sends = [...limiters.values()].map((limiter) => {
        const { bucketMillis, buckets } = limiter.registration
        const first = Math.floor(now / bucketMillis) * bucketMillis - (buckets - 1) * bucketMillis
        for (const start of limiter.own.keys()) if (start < first) limiter.own.delete(start)
        // the totals as sent: a count made during the round trip leaves its bucket unsent
        const totals = [...limiter.own].filter(([, own]) => own.unsent).map(([start, own]) =>
          [start, { requests: own.requests, tokens: own.tokens }] as const
        )
        // the window's buckets, then those an instance whose clock is ahead (up to `maxSkew`) already writes to
        const ahead = Math.min(buckets, Math.ceil(maxSkew / bucketMillis))
        const window = Array.from({ length: buckets + ahead }, (_, i) => first + i * bucketMillis)
        return { limiter, totals, window }
      })
      const budgetSends = [...budgets.values()].map((budget) => {
        if (budget.unanswered === undefined && budget.pending !== 0) {
          budget.unanswered = { sequence: ++budget.sequence, delta: budget.pending }
          budget.pending = 0
        }
        // with nothing to send, the latest batch again: Redis skips it and answers the count
        return { budget, batch: budget.unanswered ?? { sequence: budget.sequence, delta: 0 } }
      })

      // a probe here that outlasts half the grace: "probing" again, so the others keep holding back
      const reprobes: Array<string> = []
      for (const t of transitions) {
        if (t.to === "half-open") probeHolds.set(t.name, { generation: t.generation, since: now, sent: now })
      }
      for (const [name, ref] of cells) {
        const state = yield* Ref.get(ref)
        if (state.status !== "half-open" || state.probes === 0) {
          probeHolds.delete(name)
          continue
        }
        let hold = probeHolds.get(name)
        if (hold === undefined || hold.generation !== state.generation) {
          probeHolds.set(name, hold = { generation: state.generation, since: now, sent: Number.NEGATIVE_INFINITY })
        }
        if (now - hold.sent >= probeGrace / 2 && now - hold.since < maxProbeHold) {
          hold.sent = now
          reprobes.push(name)
        }
      }

      /** Each queued command's kind, in order: its reply is at the same index. */
      const kinds: Array<CommandKind> = []
      const queued = (kind: CommandKind) => kinds.push(kind) - 1
      const written: Array<{ readonly t: BreakerStore.Transition; readonly write?: number; readonly publish?: number }> = []
      let heartbeatAt = 0
      let markerAt = 0
      let readsAt = 0
      const limiterAt: Array<{ readonly writes: Array<number>; readonly reads: number }> = []
      let budgetsAt = 0
      const replies = yield* redis.pipeline("sync", (pipeline) => {
        for (const t of transitions) {
          const message = toMessage(instance, t, now)
          let write: number | undefined
          let publish: number | undefined
          if (message.to === "closed") {
            // not a deletion: a tombstone, so that the others' re-reads repair a missed "closed"
            const tombstone: Tombstone = { from: instance, name: t.name, to: "tombstone", ttl: isolatedTtl }
            pipeline.set(breakerKey(t.name), JSON.stringify(tombstone), "PX", isolatedTtl)
            write = queued("breaker write")
          } else if (message.to !== "probing") {
            const ttl = message.to === "open" ? Math.max(1, message.openFor ?? 0) + 1_000 : isolatedTtl
            pipeline.set(breakerKey(t.name), JSON.stringify(message), "PX", ttl)
            write = queued("breaker write")
          }
          // published already, by a sync whose write failed: the others have it
          if (!published.has(t)) {
            pipeline.publish(channel, JSON.stringify(message))
            publish = queued("publish")
          }
          written.push({ t, ...(write === undefined ? {} : { write }), ...(publish === undefined ? {} : { publish }) })
        }
        for (const name of reprobes) {
          const message: BreakerMessage = { from: instance, name, to: "probing" }
          pipeline.publish(channel, JSON.stringify(message))
          queued("publish")
        }
        if (counted.size > 0) {
          const message: OutcomesMessage = {
            from: instance,
            kind: "outcomes",
            breakers: Object.fromEntries(counted),
            sentAt: Math.floor(clock.unsafeCurrentTimeMillis())
          }
          pipeline.publish(channel, JSON.stringify(message))
          queued("publish")
        }
        for (const message of healthSends) {
          pipeline.publish(channel, JSON.stringify(message))
          queued("publish")
        }
        // the heartbeat: which instances are live (for rate-limit shares); it also makes every sync reach Redis
        pipeline.eval(heartbeatScript, 1, instancesKey, instance, liveFor)
        heartbeatAt = queued("heartbeat")
        pipeline.set(markerKey, crypto.randomUUID(), "PX", isolatedTtl, "NX")
        markerAt = queued("marker")
        pipeline.pexpire(markerKey, isolatedTtl)
        queued("marker")
        pipeline.get(markerKey)
        queued("marker")
        readsAt = kinds.length
        // one GET per key, not an MGET: the keys of several breakers may sit in different slots of a cluster
        for (const name of reads) {
          pipeline.get(breakerKey(name))
          queued("breaker read")
          pipeline.pttl(breakerKey(name))
          queued("breaker read")
        }
        for (const { limiter, totals, window } of sends) {
          const { bucketMillis, buckets, name } = limiter.registration
          const ttl = (buckets + 2) * bucketMillis
          const writes: Array<number> = []
          for (const [start, own] of totals) {
            const key = `${prefix}:rl:${name}:${start}`
            pipeline.hset(key, `r:${writer}`, String(own.requests), `t:${writer}`, String(own.tokens))
            writes.push(queued("rate-limit write"))
            pipeline.pexpire(key, ttl)
            queued("rate-limit write")
          }
          limiterAt.push({ writes, reads: kinds.length })
          for (const start of window) {
            pipeline.hgetall(`${prefix}:rl:${name}:${start}`)
            queued("rate-limit read")
          }
        }
        budgetsAt = kinds.length
        for (const { batch, budget } of budgetSends) {
          const max = Math.round(budget.registration.maxTokens * 1000)
          const key = budgetKey(budget.registration.name)
          pipeline.eval(budgetScript, 2, key, `${key}:batches`, batch.delta, max, budgetTtl, instance, session, batch.sequence)
          queued("budget")
        }
      }).pipe(
        Effect.tapError(() =>
          Effect.sync(() => {
            // keep what was not sent, newer changes first
            for (const t of transitions) requeue(t)
            for (const name of reads) toRead.add(name)
            // unsent rate-limit totals and unanswered budget batches stay as they are, for the next sync
          })
        )
      )

      const reply = (i: number): Reply => replies[i] ?? Either.left(new RedisError({ operation: "sync", message: "no reply" }))
      yield* account(kinds, replies)
      // a breaker's state is out only once its key holds it: a write Redis refused goes again with the next sync
      for (const { publish, t, write } of written) {
        if (write === undefined || Either.isRight(reply(write))) continue
        if (publish !== undefined && Either.isRight(reply(publish))) published.add(t)
        requeue(t)
      }
      const heartbeat = reply(heartbeatAt)
      if (Either.isRight(heartbeat) && typeof heartbeat.right === "number") lastLive = Math.max(1, heartbeat.right)
      const live = lastLive
      const token = reply(markerAt + 2)
      if (Either.isRight(token) && typeof token.right === "string") {
        if (marker !== undefined && token.right !== marker) lostState()
        marker = token.right
      }
      for (const [i, name] of reads.entries()) {
        const value = reply(readsAt + 2 * i)
        if (Either.isLeft(value)) {
          toRead.add(name)
          continue
        }
        const message = typeof value.right === "string" ? parse(value.right) : undefined
        const ttl = reply(readsAt + 2 * i + 1)
        const left = Either.isRight(ttl) && typeof ttl.right === "number" && ttl.right > 0 ? ttl.right : undefined
        const mine = message !== undefined && message.from === instance && !unread.has(name)
        unread.delete(name)
        if (message === undefined || "kind" in message || mine || message.name !== name) continue
        if (message.to !== "tombstone") yield* applyMessage(message, left ?? isolatedTtl)
        else if (left !== undefined) yield* applyTombstone(message, message.ttl - left, now)
      }
      for (const [l, { limiter, totals, window }] of sends.entries()) {
        const at = limiterAt[l]!
        for (const [i, [start, sent]] of totals.entries()) {
          const own = limiter.own.get(start)
          const stored = Either.isRight(reply(at.writes[i]!)) && Either.isRight(reply(at.writes[i]! + 1))
          if (stored && own !== undefined && own.requests === sent.requests && own.tokens === sent.tokens) own.unsent = false
        }
        const remote: Array<RateLimit.RemoteBucket> = []
        const current = window[limiter.registration.buckets - 1]!
        let complete = true
        for (const [i, start] of window.entries()) {
          const fields = reply(at.reads + i)
          if (Either.isLeft(fields) || typeof fields.right !== "object" || fields.right === null) {
            complete = Either.isRight(fields) && complete
            continue
          }
          const totals = othersTotals(fields.right as Record<string, string>, writer)
          // a bucket ahead of this clock's is now by the writer's: it counts in the current one
          const last = remote.at(-1)
          if (start > current && last !== undefined && last.start === current) {
            remote[remote.length - 1] = { start: current, requests: last.requests + totals.requests, tokens: last.tokens + totals.tokens }
          } else remote.push({ start: Math.min(start, current), ...totals })
        }
        // the others' counts not all read: out of touch, as when a sync fails
        if (complete) yield* limiter.registration.apply(remote, 1 / live)
        else yield* limiter.registration.disconnected
      }
      for (const [i, { batch, budget }] of budgetSends.entries()) {
        const value = reply(budgetsAt + i)
        if (Either.isLeft(value)) continue
        if (budget.unanswered === batch) budget.unanswered = undefined
        // the shared count plus what changed here since the batch
        yield* budget.registration.apply((Number(value.right) + budget.pending) / 1000)
      }
      if (restore) yield* writeBack
      return reads.length
    })

    /** Redis lost what it held: this instance's breakers go back with the next sync, and its rate-limit totals. */
    const lostState = () => {
      restore = true
      for (const limiter of limiters.values()) for (const own of limiter.own.values()) own.unsent = true
    }

    /**
     * Writes every open or isolated breaker back to Redis, where the key
     * holds nothing stronger: an instance that starts after Redis lost its
     * state starts as the running ones are.
     */
    const writeBack = Effect.gen(function*() {
      const states: Array<readonly [string, BreakerStore.State]> = []
      for (const [name, ref] of cells) states.push([name, yield* Ref.get(ref)])
      const now = clock.unsafeCurrentTimeMillis()
      const held = states.filter(([, state]) => state.status === "isolated" || (state.status === "open" && state.openUntil > now))
      const replies = yield* redis.pipeline("restore", (pipeline) => {
        for (const [name, state] of held) {
          const isolated = state.status === "isolated"
          const openFor = state.openUntil - now
          const message: BreakerMessage = isolated
            ? { from: instance, name, to: "isolated" }
            : { from: instance, name, to: "open", openFor, openUntil: state.openUntil, trips: state.trips }
          const ttl = isolated ? isolatedTtl : openFor + 1_000
          // how long the state has held here: a tombstone younger than that says it is stale
          const since = entered.get(name)
          const age = since !== undefined && since.generation === state.generation ? Math.max(0, now - since.at) : 0
          pipeline.eval(restoreScript, 1, breakerKey(name), JSON.stringify(message), isolated ? 1 : 0, ttl, age)
        }
      })
      yield* account(held.map(() => "breaker write"), replies)
      // a write Redis refused goes again with the next sync; a key that held something stronger is read with it
      restore = !replies.every(Either.isRight)
      for (const [i, [name]] of held.entries()) {
        const written = replies[i]
        if (written !== undefined && Either.isRight(written) && written.right === 0) toRead.add(name)
      }
    }).pipe(Effect.ignore)

    const loop = sync.pipe(
      Effect.matchEffect({
        onFailure: (error) =>
          Effect.suspend(() => {
            status.failures++
            status.connected = false
            // the first connection takes a moment: that is no outage
            if (status.down || (status.syncs === 0 && clock.unsafeCurrentTimeMillis() - startedAt < 2_000)) return Effect.void
            status.down = true
            return Effect.logWarning(
              `shared state: Redis unreachable (${error.message}); serving on local state until it is back`
            )
          }).pipe(
            // out of touch: each limiter keeps to its share of its limit, on its own counts, until a sync reaches Redis
            Effect.zipLeft(Effect.forEach(limiters.values(), (limiter) => limiter.registration.disconnected, { discard: true }))
          ),
        onSuccess: () =>
          Effect.suspend(() => {
            status.syncs++
            status.connected = true
            status.lastSync = clock.unsafeCurrentTimeMillis()
            if (status.syncs % rereadEvery === 0) rereadAll()
            if (!status.down) return Effect.void
            status.down = false
            // re-read every breaker: others may have opened some meanwhile
            rereadAll()
            return Effect.logInfo("shared state: Redis is back; resyncing")
          })
      }),
      // the next sync after the interval, or sooner when a transition or a failure wakes it
      // (at most one sync per `minGap`: a burst of failures goes out as one batch)
      Effect.zipRight(Effect.raceFirst(Effect.sleep(interval), Effect.zipRight(Queue.take(wake), Effect.sleep(minGap)))),
      Effect.forever
    )
    yield* Effect.forkScoped(loop)

    return {
      instance,
      breakers: breakerStore,
      limits: limitStore,
      budgets: budgetStore,
      health: healthStore,
      status: Effect.sync((): Status => ({
        instance,
        connected: status.connected,
        syncs: status.syncs,
        failures: status.failures,
        received: status.received,
        droppedSamples: status.droppedSamples,
        rejected: status.rejected,
        ...(status.lastSync > 0 ? { lastSync: status.lastSync } : {}),
        breakers: breakers.size,
        limits: limiters.size,
        budgets: budgets.size
      })),
      sync: Effect.asVoid(Effect.either(sync))
    }
  })

/** What a refused kind of command costs, for its warning. */
const consequence: Readonly<Record<CommandKind, string>> = {
  "breaker write": "breaker transitions are kept and written again with each sync",
  "breaker read": "breakers miss what the others wrote",
  publish: "the others learn of this instance's breaker transitions only from their keys, and not its calls or health samples",
  heartbeat: "rate limits take their shares from the last count of live instances",
  marker: "a restart of Redis that empties it may go unnoticed",
  "rate-limit write": "the others do not count this instance's requests",
  "rate-limit read": "rate limits keep to their share on their own counts",
  budget: "retry budget changes are kept and sent again with each sync"
}

/** The other writers' requests and tokens in one rate-limit bucket's hash (fields `r:<writer>` and `t:<writer>`). */
const othersTotals = (fields: Readonly<Record<string, string>>, writer: string): { requests: number; tokens: number } => {
  let requests = 0
  let tokens = 0
  for (const [field, value] of Object.entries(fields)) {
    const n = Number(value)
    if (!Number.isFinite(n) || field.slice(2) === writer) continue
    if (field.startsWith("r:")) requests += n
    else if (field.startsWith("t:")) tokens += n
  }
  return { requests: Math.max(0, requests), tokens: Math.max(0, tokens) }
}

/** A local transition as the others read it, sent at `now`. */
const toMessage = (from: string, t: BreakerStore.Transition, now: number): BreakerMessage =>
  t.to === "open"
    ? {
      from,
      name: t.name,
      to: "open",
      ...(t.openUntil !== undefined ? { openFor: Math.max(0, t.openUntil - now), openUntil: t.openUntil } : {}),
      trips: t.trips,
      ...(t.reason === "forced" ? { forced: true } : {})
    }
    : t.to === "isolated"
    ? { from, name: t.name, to: "isolated" }
    : t.to === "half-open"
    ? { from, name: t.name, to: "probing" }
    : { from, name: t.name, to: "closed" }

const countFields = ["successes", "failures", "slowSuccesses", "slowFailures", "abandoned"] as const

/**
 * The most calls of one kind a breaker's batch may hold: one instance's
 * calls of one sync interval, with room to spare (a million calls a second
 * at 100 ms). A larger count is a buggy or hostile peer's, and its message
 * is dropped.
 */
const maxBatchCount = 100_000

/** A batch's start times moved by `offset` ms (none stays none). */
const shifted = (batch: BreakerStore.Outcomes, offset: number): BreakerStore.Outcomes => ({
  ...batch,
  successStartedAt: batch.successStartedAt > 0 ? Math.max(1, batch.successStartedAt + offset) : 0,
  ...(batch.failureStartedAt !== undefined && batch.failureStartedAt > 0
    ? { failureStartedAt: Math.max(1, batch.failureStartedAt + offset) }
    : {}),
  ...(batch.abandonedStartedAt !== undefined && batch.abandonedStartedAt > 0
    ? { abandonedStartedAt: Math.max(1, batch.abandonedStartedAt + offset) }
    : {})
})

/** An optional start time of a batch: absent (an earlier version's), or a finite time, 0 for none. */
const optionalTime = (value: unknown): boolean =>
  value === undefined || (typeof value === "number" && Number.isFinite(value) && value >= 0)

const isOutcomes = (value: unknown): value is BreakerStore.Outcomes => {
  if (typeof value !== "object" || value === null) return false
  const fields = value as Record<string, unknown>
  // times as the breakers' clock gives them: whole milliseconds on the system's, any fraction on another (a test's)
  const startedAt = fields.successStartedAt
  return typeof startedAt === "number" && Number.isFinite(startedAt) && startedAt >= 0 &&
    optionalTime(fields.failureStartedAt) && optionalTime(fields.abandonedStartedAt) &&
    countFields.every((field) => {
      const n = fields[field]
      return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= maxBatchCount
    })
}

const isHealthTuple = (value: unknown): value is HealthTuple =>
  Array.isArray(value) && value.length === 4 && (value[0] === 0 || value[0] === 1 || value[0] === 2) &&
  typeof value[1] === "number" && value[1] >= 0 && (value[2] === null || (typeof value[2] === "number" && value[2] >= 0)) &&
  typeof value[3] === "number"

/**
 * The prefix of every key on a Redis Cluster: the namespace as it is when it
 * holds a hash tag already (`{...}` with something inside, the first such
 * pair, as Redis reads it), or else the namespace inside braces (any of its
 * own percent-encoded). Then all of an instance's keys sit in one slot, so a
 * sync's pipeline, which touches many of them, goes to one node in one
 * round trip, as a cluster client requires. The state is small and a sync a
 * second or so per instance: one node holds it easily, and the cluster's
 * failover covers it.
 *
 * @internal
 */
export const clusterPrefix = (namespace: string): string => {
  const open = namespace.indexOf("{")
  const close = open < 0 ? -1 : namespace.indexOf("}", open + 1)
  if (close > open + 1) return namespace
  return `{${namespace.replaceAll("{", "%7B").replaceAll("}", "%7D")}}`
}

/** A message of the events channel or a breaker's key, or `undefined` for anything malformed (another version, a stranger). */
const parse = (raw: string): Message | undefined => {
  try {
    const value: unknown = JSON.parse(raw)
    if (typeof value !== "object" || value === null) return undefined
    const v = value as Record<string, unknown>
    if (typeof v.from !== "string") return undefined
    if (v.kind === "health") {
      if (typeof v.name !== "string" || typeof v.samples !== "object" || v.samples === null) return undefined
      if (!Object.values(v.samples).every((list) => Array.isArray(list) && list.every(isHealthTuple))) return undefined
      return v as unknown as HealthMessage
    }
    if (v.kind === "outcomes") {
      const batches = v.breakers
      if (typeof batches !== "object" || batches === null || !Object.values(batches).every(isOutcomes)) return undefined
      // a clock of fractional milliseconds (a test's): any finite time is taken, as the batches' start times are
      if (v.sentAt !== undefined && !(typeof v.sentAt === "number" && Number.isFinite(v.sentAt) && v.sentAt > 0)) return undefined
      return v as unknown as OutcomesMessage
    }
    if (typeof v.name !== "string") return undefined
    if (v.to === "tombstone") return typeof v.ttl === "number" && v.ttl > 0 ? v as unknown as Tombstone : undefined
    if (v.to !== "open" && v.to !== "isolated" && v.to !== "closed" && v.to !== "probing") return undefined
    if (v.openUntil !== undefined && typeof v.openUntil !== "number") return undefined
    if (v.openFor !== undefined && !(typeof v.openFor === "number" && v.openFor >= 0)) return undefined
    if (v.trips !== undefined && typeof v.trips !== "number") return undefined
    if (v.forced !== undefined && typeof v.forced !== "boolean") return undefined
    return v as unknown as BreakerMessage
  } catch {
    return undefined
  }
}
