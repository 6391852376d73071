/**
 * `serve`'s config reload (SIGHUP): the reload itself driven in process
 * over real HTTP to mock providers on 127.0.0.1, its log lines captured.
 */
import { FetchHttpClient, FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either, Exit, Layer, Logger, Metric, Redacted, Scope, Stream } from "effect"
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Reload from "../src/cli/internal/reload.js"
import * as Config from "../src/config/Config.js"
import * as Gateway from "../src/gateway/Gateway.js"
import { Chat } from "../src/llm/index.js"
import * as Router from "../src/router/Router.js"
import * as MockServer from "../src/testing/MockServer.js"
import { serveFile } from "./support/reload.js"

const lines: Array<string> = []
const capture = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ logLevel, message }) => void lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`))
)
const env = Layer.mergeAll(NodeFileSystem.layer, FetchHttpClient.layer, capture)

const policy = `
policy:
  retry: { maxAttempts: 1 }
  breaker: { consecutiveFailures: 2, openDuration: { base: "5 minutes" } }
`

/** A config over mock upstreams: `providers` maps a provider's name to its base URL. */
const configText = (options: {
  readonly providers: Record<string, string>
  readonly models: Record<string, string>
  readonly chain: ReadonlyArray<string>
  readonly gateway?: string
}) =>
  [
    "providers:",
    ...Object.entries(options.providers).map(([name, url]) => `  ${name}: { type: openai, baseUrl: "${url}", apiKey: "env:RELOAD_TEST_KEY" }`),
    "models:",
    ...Object.entries(options.models).map(([alias, provider]) => `  ${alias}: { provider: ${provider}, model: gpt-4o-mini }`),
    `chains: { default: [${options.chain.join(", ")}] }`,
    policy,
    options.gateway ?? ""
  ].join("\n")

/** Serves `text` from a file as `serve` would: a swappable router over it, its reload state. */
const serving = (text: string) =>
  Effect.gen(function* () {
    process.env["RELOAD_TEST_KEY"] = "sk-reload-test"
    const file = join(mkdtempSync(join(tmpdir(), "reload-")), "config.yaml")
    writeFileSync(file, text)
    const { state, first, swappable } = yield* serveFile(file)
    lines.length = 0
    return { state, file, first, router: swappable.router, rewrite: (next: string) => writeFileSync(file, next) }
  })

const ask = (router: Router.Service) => Effect.either(router.complete(Chat.prompt("hello")))

describe("serve: reloading the config", () => {
  it.scoped("a reload that adds a fallback target: the next request fails over to it, and the log line says what changed", () =>
    Effect.gen(function* () {
      const down = yield* MockServer.make({ faultFor: () => MockServer.status(500) })
      const up = yield* MockServer.make({ reply: { text: "from the new target" } })
      const served = yield* serving(configText({ providers: { a: down.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }))
      expect(Either.isLeft(yield* ask(served.router))).toBe(true)

      served.rewrite(
        configText({ providers: { a: down.baseUrls.openai, b: up.baseUrls.openai }, models: { primary: "a", backup: "b" }, chain: ["primary", "backup"] })
      )
      yield* Reload.reload(served.state)
      expect(lines.filter((line) => line.startsWith("INFO config reloaded"))).toEqual([
        `INFO config reloaded from ${served.file}: targets added: backup; chains changed: default`
      ])
      const answer = yield* ask(served.router)
      expect(Either.isRight(answer) && answer.right.meta.target).toBe("backup")
      expect(Either.isRight(answer) && answer.right.response.text).toBe("from the new target")
      expect(served.router.targets).toEqual(["primary", "backup"])
    }).pipe(Effect.provide(env))
  )

  it.scoped("each reload is counted by how it ended in llm_config_reloads_total: applied, invalid, unreadable", () =>
    Effect.gen(function* () {
      const up = yield* MockServer.make()
      const text = configText({ providers: { a: up.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] })
      const served = yield* serving(text)
      const count = (outcome: Reload.Outcome) =>
        Effect.map(Metric.value(Metric.tagged(Reload.reloads, "outcome", outcome)), (state) => state.count)
      const before = { applied: yield* count("applied"), invalid: yield* count("invalid"), unreadable: yield* count("unreadable") }
      yield* Reload.reload(served.state)
      served.rewrite(configText({ providers: { a: up.baseUrls.openai }, models: { primary: "nowhere" }, chain: ["primary"] }))
      yield* Reload.reload(served.state)
      rmSync(served.file)
      yield* Reload.reload(served.state)
      expect({
        applied: (yield* count("applied")) - before.applied,
        invalid: (yield* count("invalid")) - before.invalid,
        unreadable: (yield* count("unreadable")) - before.unreadable
      }).toEqual({ applied: 1, invalid: 1, unreadable: 1 })
    }).pipe(Effect.provide(env))
  )

  it.scoped("an invalid file: every problem is logged at its path, and the old config goes on serving", () =>
    Effect.gen(function* () {
      const up = yield* MockServer.make()
      const served = yield* serving(configText({ providers: { a: up.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }))
      served.rewrite(configText({ providers: { a: up.baseUrls.openai }, models: { primary: "nowhere", other: "a" }, chain: ["primary", "missing"] }))
      yield* Reload.reload(served.state)
      const errors = lines.filter((line) => line.startsWith("ERROR"))
      expect(errors[0]).toBe(`ERROR config reload: ${served.file} is invalid (2 problems); still serving the previous config`)
      expect(errors.some((line) => line.includes("models.primary.provider") && line.includes('"nowhere"'))).toBe(true)
      expect(errors.some((line) => line.includes("chains.default[1]") && line.includes('"missing"'))).toBe(true)
      expect(lines.some((line) => line.includes("config reloaded"))).toBe(false)
      expect(served.state.swappable.current()).toBe(served.first)
      const answer = yield* ask(served.router)
      expect(Either.isRight(answer) && answer.right.meta.target).toBe("primary")
    }).pipe(Effect.provide(env))
  )

  it.scoped("an open breaker stays open across a reload that leaves its target alone; a target moved elsewhere starts fresh", () =>
    Effect.gen(function* () {
      const down = yield* MockServer.make({ faultFor: () => MockServer.status(500) })
      const up = yield* MockServer.make()
      const providers = { a: down.baseUrls.openai, b: up.baseUrls.openai }
      const served = yield* serving(configText({ providers, models: { primary: "a", backup: "b" }, chain: ["primary", "backup"] }))
      for (let i = 0; i < 2; i++) yield* ask(served.router)
      expect((yield* served.router.breaker("primary")!.snapshot).state).toBe("open")
      const calls = down.count()

      // a key rotated and a target added to the chain: primary is the same upstream
      process.env["RELOAD_TEST_KEY"] = "sk-rotated"
      served.rewrite(configText({ providers, models: { primary: "a", backup: "b", extra: "b" }, chain: ["primary", "backup", "extra"] }))
      yield* Reload.reload(served.state)
      expect(lines).toContain(
        `INFO config reloaded from ${served.file}: targets added: extra; targets changed: primary (state kept), backup (state kept); chains changed: default`
      )
      expect((yield* served.router.breaker("primary")!.snapshot).state).toBe("open")
      const status = (yield* served.router.status).find((target) => target.name === "primary")!
      expect(status.health.calls).toBe(2)
      // the open breaker passes primary over: no call reaches the dead upstream
      const passed = yield* ask(served.router)
      expect(Either.isRight(passed) && passed.right.meta.target).toBe("backup")
      expect(down.count()).toBe(calls)
      expect(up.requests().at(-1)?.headers["authorization"]).toBe("Bearer sk-rotated")

      // primary now points at another server: fresh breaker, fresh health
      served.rewrite(configText({ providers: { a: up.baseUrls.openai, b: up.baseUrls.openai }, models: { primary: "a", backup: "b" }, chain: ["primary"] }))
      yield* Reload.reload(served.state)
      expect(lines.some((line) => line.includes("targets changed: primary (fresh state)"))).toBe(true)
      expect((yield* served.router.breaker("primary")!.snapshot).state).toBe("closed")
      expect((yield* served.router.status).find((target) => target.name === "primary")!.health.calls).toBe(0)
      const answer = yield* ask(served.router)
      expect(Either.isRight(answer) && answer.right.meta.target).toBe("primary")
    }).pipe(Effect.provide(env))
  )

  it.scoped("a stream in flight across a reload ends on the old router, whose scope closes only then", () =>
    Effect.gen(function* () {
      const old = yield* MockServer.make({ reply: { text: "one two three four five" }, tokenDelay: "20 millis" })
      const next = yield* MockServer.make({ reply: { text: "new" } })
      const served = yield* serving(configText({ providers: { a: old.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }))
      const first = served.state.swappable.current()
      const closed: Array<string> = []
      yield* Scope.addFinalizer(served.state.scopes.get(first)!, Effect.sync(() => closed.push("first")))

      const streamScope = yield* Scope.make()
      const started = yield* Scope.extend(served.router.stream(Chat.prompt("count")), streamScope)
      served.rewrite(configText({ providers: { a: next.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }))
      yield* Reload.reload(served.state)
      expect(served.state.swappable.current()).not.toBe(first)
      const answer = yield* ask(served.router)
      expect(Either.isRight(answer) && answer.right.response.text).toBe("new")
      expect(closed).toEqual([])

      const text = yield* Stream.runFold(started.chunks, "", (all, chunk) => all + (chunk._tag === "TextDelta" ? chunk.text : ""))
      yield* Scope.close(streamScope, { _tag: "Success", value: undefined } as never)
      expect(text).toBe("one two three four five")
      // the old router's scope closes once its last request has finished
      for (let i = 0; i < 5000 && closed.length === 0; i++) yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      expect(closed).toEqual(["first"])
      expect(served.state.scopes.has(first)).toBe(false)
    }).pipe(Effect.provide(env))
  )

  it.scoped("over shared state, a target moved upstream is said to keep what the instances share under its name", () =>
    Effect.gen(function* () {
      const one = yield* MockServer.make()
      const two = yield* MockServer.make()
      const served = yield* serving(configText({ providers: { a: one.baseUrls.openai, b: one.baseUrls.openai }, models: { primary: "a", backup: "b" }, chain: ["primary", "backup"] }))
      served.rewrite(configText({ providers: { a: two.baseUrls.openai, b: one.baseUrls.openai }, models: { primary: "a", backup: "b" }, chain: ["primary", "backup"] }))
      // no shared state: fresh, nothing to warn of
      yield* Reload.reload(served.state)
      expect(lines).toContain(`INFO config reloaded from ${served.file}: targets changed: primary (fresh state)`)
      expect(lines.filter((line) => line.startsWith("WARN"))).toEqual([])

      lines.length = 0
      served.rewrite(configText({ providers: { a: one.baseUrls.openai, b: one.baseUrls.openai }, models: { primary: "a", backup: "b" }, chain: ["primary", "backup"] }))
      yield* Reload.reload({ ...served.state, shared: Context.empty() })
      expect(lines.filter((line) => line.startsWith("WARN"))).toEqual([
        "WARN config reload: primary changed upstream, but state shares breakers, retry budgets and rate limits by target name: it keeps those the instances share (an open breaker stays open)"
      ])
    }).pipe(Effect.provide(env))
  )

  it.scoped("a listener's or the gateway's setting changed: a warning names each, and the rest reloads", () =>
    Effect.gen(function* () {
      const up = yield* MockServer.make()
      const base = { providers: { a: up.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }
      const served = yield* serving(configText({ ...base, gateway: `gateway: { port: 8787, keys: ["k-one-1234567890"] }` }))
      served.rewrite(
        configText({ ...base, gateway: `gateway: { port: 9999, admin: { port: 9998 }, keys: ["k-two-1234567890"], maxConcurrent: 5 }` })
      )
      yield* Reload.reload(served.state)
      const warnings = lines.filter((line) => line.startsWith("WARN config reload"))
      expect(warnings).toEqual([
        "WARN config reload: gateway.port, gateway.admin changed: the listeners stay as they are until a restart",
        "WARN config reload: gateway.maxConcurrent changed: kept as it was until a restart"
      ])
      // the keys rotate: said, never shown
      expect(lines).toContain("INFO config reload: gateway keys replaced (1 key)")
      expect(served.state.keyRing.keys.map((key) => Redacted.value(key as Redacted.Redacted))).toEqual(["k-two-1234567890"])
      expect(lines.some((line) => line.includes("k-two") || line.includes("k-one"))).toBe(false)
      expect(lines).toContain(`INFO config reloaded from ${served.file}: nothing changed`)

      // from keys to none is a restart's: the keys stay
      lines.length = 0
      served.rewrite(configText({ ...base, gateway: `gateway: { port: 9999, admin: { port: 9998 }, maxConcurrent: 5 }` }))
      yield* Reload.reload(served.state)
      expect(lines.filter((line) => line.startsWith("WARN config reload"))).toEqual([
        "WARN config reload: gateway.port, gateway.admin changed: the listeners stay as they are until a restart",
        "WARN config reload: gateway.keys, gateway.maxConcurrent changed: kept as they were until a restart"
      ])
      expect(served.state.keyRing.keys.map((key) => Redacted.value(key as Redacted.Redacted))).toEqual(["k-two-1234567890"])
      served.rewrite(configText({ ...base, gateway: `gateway: { port: 9999, admin: { port: 9998 }, keys: ["k-two-1234567890"], maxConcurrent: 5 }` }))
      yield* Reload.reload(served.state)

      // a port given on the command line is not the config's to change
      lines.length = 0
      served.rewrite(configText({ ...base, gateway: `gateway: { port: 7777, admin: { port: 9998 }, keys: ["k-two-1234567890"], maxConcurrent: 5 }` }))
      yield* Reload.reload({ ...served.state, overrides: { host: false, port: true } })
      expect(lines.filter((line) => line.startsWith("WARN config reload"))).toEqual([
        "WARN config reload: gateway.admin changed: the listeners stay as they are until a restart",
        "WARN config reload: gateway.maxConcurrent changed: kept as it was until a restart"
      ])
    }).pipe(Effect.provide(env))
  )

  it.scoped("a changed alerts section is kept as it was until a restart, and said so", () =>
    Effect.gen(function* () {
      const up = yield* MockServer.make()
      const base = { providers: { a: up.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }
      const served = yield* serving(configText({ ...base, gateway: `alerts: { fallbackRate: { threshold: 0.1 } }` }))
      served.rewrite(configText({ ...base, gateway: `alerts: { fallbackRate: { threshold: 0.2 } }` }))
      yield* Reload.reload(served.state)
      expect(lines.filter((line) => line.startsWith("WARN config reload"))).toEqual([
        "WARN config reload: alerts changed: kept as it was until a restart"
      ])
    }).pipe(Effect.provide(env))
  )

  it.scoped("a file that cannot be read (deleted, a directory) is said to be unreadable, not invalid, and the old config goes on serving", () =>
    Effect.gen(function* () {
      const up = yield* MockServer.make()
      const served = yield* serving(configText({ providers: { a: up.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }))
      rmSync(served.file)
      yield* Reload.reload(served.state)
      mkdirSync(served.file)
      yield* Reload.reload(served.state)
      const errors = lines.filter((line) => line.startsWith("ERROR"))
      expect(errors).toHaveLength(2)
      for (const line of errors) {
        expect(line).toMatch(new RegExp(`^ERROR config reload: cannot read ${served.file} \\(.+\\); still serving the previous config$`))
      }
      expect(served.state.swappable.current()).toBe(served.first)
      const answer = yield* ask(served.router)
      expect(Either.isRight(answer) && answer.right.meta.target).toBe("primary")
    }).pipe(Effect.provide(env))
  )

  it.scoped("a restart-only setting is compared with what runs: warned on every reload while it differs, never once it is back", () =>
    Effect.gen(function* () {
      const up = yield* MockServer.make()
      const base = { providers: { a: up.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }
      const served = yield* serving(configText({ ...base, gateway: `gateway: { port: 8787 }` }))
      const warned = () => lines.filter((line) => line.startsWith("WARN config reload"))
      served.rewrite(configText({ ...base, gateway: `gateway: { port: 9999, keys: ["k-one-1234567890"] }` }))
      yield* Reload.reload(served.state)
      expect(warned()).toEqual([
        "WARN config reload: gateway.port changed: the listeners stay as they are until a restart",
        "WARN config reload: gateway.keys changed: kept as it was until a restart"
      ])
      // another change: the port and the keys are still not what runs
      lines.length = 0
      served.rewrite(configText({ ...base, models: { primary: "a", more: "a" }, gateway: `gateway: { port: 9999, keys: ["k-one-1234567890"] }` }))
      yield* Reload.reload(served.state)
      expect(warned()).toEqual([
        "WARN config reload: gateway.port changed: the listeners stay as they are until a restart",
        "WARN config reload: gateway.keys changed: kept as it was until a restart"
      ])
      expect(served.state.keyRing.keys).toEqual([])
      // back to what runs: nothing to warn of
      lines.length = 0
      served.rewrite(configText({ ...base, gateway: `gateway: { port: 8787 }` }))
      yield* Reload.reload(served.state)
      expect(warned()).toEqual([])
    }).pipe(Effect.provide(env))
  )

  it.effect("the summary reads only a config's own names: a target or chain called toString or constructor is added, not changed", () =>
    Effect.gen(function* () {
      process.env["RELOAD_TEST_KEY"] = "sk-reload-test"
      const providers = { a: "http://127.0.0.1:1/v1" }
      const before = (yield* Config.parse(configText({ providers, models: { m: "a" }, chain: ["m"] }))).config
      const after = (yield* Config.parse(
        configText({ providers, models: { m: "a", toString: "a", constructor: "a" }, chain: ["m"] }).replace(
          "chains: { default: [m] }",
          "chains: { default: [m], hasOwnProperty: [toString] }"
        )
      )).config
      expect(Reload.describeChanges(before, after)).toBe("targets added: toString, constructor; chains changed: hasOwnProperty (added)")
      expect(Reload.kept(before, after)).toEqual(["m"])
    })
  )

  it.effect("the summary names a provider no target uses that was added, removed or changed, where it read \"nothing changed\"", () =>
    Effect.gen(function* () {
      process.env["RELOAD_TEST_KEY"] = "sk-reload-test"
      const parse = (providers: Record<string, string>) =>
        Config.parse(configText({ providers, models: { m: "a" }, chain: ["m"] })).pipe(Effect.map((parsed) => parsed.config))
      const before = yield* parse({ a: "http://127.0.0.1:1/v1", spare: "http://127.0.0.1:2/v1", old: "http://127.0.0.1:3/v1" })
      const after = yield* parse({ a: "http://127.0.0.1:1/v1", spare: "http://127.0.0.1:4/v1", fresh: "http://127.0.0.1:5/v1" })
      expect(Reload.describeChanges(before, after)).toBe("providers no target uses changed: fresh (added), old (removed), spare")
      expect(Reload.describeChanges(before, before)).toBe("nothing changed")
      // a used provider's change is the target's, said once
      const moved = yield* parse({ a: "http://127.0.0.1:9/v1", spare: "http://127.0.0.1:2/v1", old: "http://127.0.0.1:3/v1" })
      expect(Reload.describeChanges(before, moved)).toBe("targets changed: m (fresh state)")
    })
  )

  it.scoped("a gateway over a key ring: once the ring is set, the old key is refused and the new one served", () =>
    Effect.gen(function* () {
      const up = yield* MockServer.make()
      const served = yield* serving(configText({ providers: { a: up.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }))
      const ring = Gateway.keyRing([Redacted.make("old-key-0123456789")])
      const gateway = yield* Gateway.make({ router: served.router, keyRing: ring, port: 0 })
      const call = (key: string) =>
        Effect.promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
            body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "hi" }] })
          }).then((response) => response.status)
        )
      expect(yield* call("old-key-0123456789")).toBe(200)
      expect(ring.set([Redacted.make("new-key-0123456789")])).toBe(true)
      expect(yield* call("old-key-0123456789")).toBe(401)
      expect(yield* call("new-key-0123456789")).toBe(200)
      // between keys and none: refused, the keys stay
      expect(ring.set([])).toBe(false)
      expect(yield* call("new-key-0123456789")).toBe(200)
    }).pipe(Effect.provide(env))
  )

  it.scoped("SIGHUP reloads; on Windows nothing listens for it", () =>
    Effect.gen(function* () {
      const up = yield* MockServer.make()
      const served = yield* serving(configText({ providers: { a: up.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }))
      const before = process.listenerCount("SIGHUP")
      yield* Reload.onHangup(served.state, "win32")
      expect(process.listenerCount("SIGHUP")).toBe(before)

      const scope = yield* Scope.make()
      yield* Scope.extend(Reload.onHangup(served.state, "linux"), scope)
      expect(process.listenerCount("SIGHUP")).toBe(before + 1)
      served.rewrite(configText({ providers: { a: up.baseUrls.openai }, models: { primary: "a", again: "a" }, chain: ["primary"] }))
      process.emit("SIGHUP", "SIGHUP")
      // real I/O (the file, the new router): bounded by real time, not by turns of the event loop (see below)
      yield* Effect.promise(async () => {
        const deadline = Date.now() + 10_000
        while (!lines.some((line) => line.includes("config reloaded")) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
      })
      expect(lines, lines.join("\n")).toContain(`INFO config reloaded from ${served.file}: targets added: again`)
      yield* Scope.close(scope, { _tag: "Success", value: undefined } as never)
      expect(process.listenerCount("SIGHUP")).toBe(before)
    }).pipe(Effect.provide(env))
  )

  it.scoped("a reload that dies (a defect) is logged, and the next SIGHUP reloads all the same", () =>
    Effect.gen(function* () {
      const up = yield* MockServer.make()
      const served = yield* serving(configText({ providers: { a: up.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }))
      const real = yield* FileSystem.FileSystem
      let broken = true
      const flaky = FileSystem.makeNoop({ readFileString: (path) => (broken ? Effect.die("a bug in the disk") : real.readFileString(path)) })
      const scope = yield* Scope.make()
      yield* Scope.extend(Reload.onHangup(served.state, "linux"), scope).pipe(Effect.provideService(FileSystem.FileSystem, flaky))
      // the reload reads the file and builds a router: real I/O, which 5,000 turns of the event loop did not always
      // outlast under a full test run's load (a clean-clone CI run failed here); bounded by 10 s of real time instead
      const settle = (line: string) =>
        Effect.promise(async () => {
          const deadline = Date.now() + 10_000
          while (!lines.some((l) => l.includes(line)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
        })
      process.emit("SIGHUP", "SIGHUP")
      yield* settle("config reload failed")
      expect(lines.filter((line) => line.startsWith("ERROR"))).toEqual(["ERROR config reload failed; still serving the previous config"])
      broken = false
      served.rewrite(configText({ providers: { a: up.baseUrls.openai }, models: { primary: "a", again: "a" }, chain: ["primary"] }))
      process.emit("SIGHUP", "SIGHUP")
      yield* settle("config reloaded")
      expect(lines, lines.join("\n")).toContain(`INFO config reloaded from ${served.file}: targets added: again`)
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(env))
  )
})

describe.skipIf(process.platform === "win32")("llm-failover serve and SIGHUP", () => {
  it("the running server reloads on SIGHUP: a new fallback target answers, on the same port", async () => {
    const down = await MockServer.start({ faultFor: () => MockServer.status(500) })
    const up = await MockServer.start({ reply: { text: "after the reload" } })
    const file = join(mkdtempSync(join(tmpdir(), "reload-serve-")), "config.yaml")
    writeFileSync(file, configText({ providers: { a: down.baseUrls.openai }, models: { primary: "a" }, chain: ["primary"] }))
    const root = join(import.meta.dirname, "..")
    const child = spawn(process.execPath, ["--import", "tsx", join(root, "src/cli/bin.ts"), "serve", "--config", file, "--port", "0"], {
      cwd: root,
      env: { ...process.env, RELOAD_TEST_KEY: "sk-reload-test" }
    })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    const exited = new Promise<void>((resolve) => child.on("close", () => resolve()))
    const until = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const deadline = Date.now() + 45_000
        const check = () =>
          output.includes(text) ? resolve() : child.exitCode !== null || Date.now() > deadline ? reject(new Error(output)) : setTimeout(check, 20)
        check()
      })
    const ask = async (url: string, model = "default") => {
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "hello" }] })
      })
      return { status: response.status, target: response.headers.get("x-llm-target"), body: await response.text() }
    }
    try {
      await until("drains requests in flight")
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1]!
      expect((await ask(url)).status).not.toBe(200)
      writeFileSync(
        file,
        configText({ providers: { a: down.baseUrls.openai, b: up.baseUrls.openai }, models: { primary: "a", backup: "b" }, chain: ["primary", "backup"] })
      )
      child.kill("SIGHUP")
      await until("targets added: backup; chains changed: default")
      const after = await ask(url)
      expect(after).toMatchObject({ status: 200, target: "backup" })
      expect(after.body).toContain("after the reload")
      // the new target's own name is a model the gateway lists and takes
      expect((await ask(url, "backup")).status).toBe(200)
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> }
      expect(models.data.map((model) => model.id)).toContain("backup")
    } finally {
      child.kill("SIGTERM")
      await exited
      await down.close()
      await up.close()
    }
    // SIGHUP did not stop it: SIGTERM did, after the reload
    expect(output).toMatch(/config reloaded from [\s\S]*gateway received SIGTERM/)
  }, 60_000)
})
