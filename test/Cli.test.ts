/**
 * The command line as a user runs it: `npm start` serves the demo gateway
 * and answers a completion; `validate` reports every problem of a bad file.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import type * as Http from "node:http"
import { createServer as createHttpServer } from "node:http"
import type { AddressInfo } from "node:net"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { bundle, splitPoints } from "../scripts/bundle.js"
import { Cli } from "../src/cli/index.js"
import { claudeHello, serveFromSource } from "./support/serve.js"

const root = join(import.meta.dirname, "..")
const npm = process.platform === "win32" ? "npm.cmd" : "npm"

/** The executable as `npm run build` bundles it, made once for the tests that run it (removed after them). */
let bundled: Promise<string> | undefined
const bundleDir = mkdtempSync(join(tmpdir(), "llm-failover-cli-"))
const executable = (): Promise<string> => (bundled ??= bundle(join(bundleDir, "llm-failover.mjs")))
afterAll(() => rmSync(bundleDir, { recursive: true, force: true }))

/**
 * Runs the command line as users run it: the bundled executable (made once
 * from the source, see `executable`), which starts in a fifth of the time
 * `tsx` takes to compile the source each run (about 1 s against 5 here, and
 * a seventh of the CPU). Asynchronously: a test that ran several at once
 * synchronously held its worker's event loop for half a minute and more on
 * a loaded machine, long enough for Vitest's own calls to the worker to
 * time out.
 */
const cli = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) => {
  const file = await executable()
  return new Promise<{ readonly status: number | null; readonly stdout: string; readonly stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [file, ...args], {
      cwd: root,
      env: { ...process.env, ...env }
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (data: string) => (stdout += data))
    child.stderr.setEncoding("utf8").on("data", (data: string) => (stderr += data))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.on("close", (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}


/**
 * An HTTP server on 127.0.0.1 that keeps each request's path, headers and
 * body, and answers 200 `{}`, or what `answer` gives for a path (such a
 * request is not kept): a collector's or a webhook's stand-in.
 */
const postRecorder = async (answer: (path: string) => string | undefined = () => undefined) => {
  const posts: Array<{ readonly path: string; readonly headers: Http.IncomingHttpHeaders; readonly body: string }> = []
  const server = createHttpServer((request, response) => {
    let body = ""
    request.on("data", (chunk) => (body += chunk))
    request.on("end", () => {
      const own = answer(request.url ?? "")
      if (own === undefined) posts.push({ path: request.url ?? "", headers: request.headers, body })
      response.writeHead(200, { "content-type": "application/json" }).end(own ?? "{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** Stand-in keys: validate reads them from the environment, never calls anyone. */
const fakeKeys = {
  OPENAI_API_KEY: "sk-test",
  ANTHROPIC_API_KEY: "sk-ant-test",
  GEMINI_API_KEY: "g-test",
  GATEWAY_KEY: "gw-test"
}


/** Runs the bundled executable with `args`; `until` waits for its output to match a pattern. */
const runExecutable = async (args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, [await executable(), ...args], { stdio: ["ignore", "pipe", "pipe"] })
  const run = { child, output: "" }
  child.stdout.on("data", (chunk) => (run.output += chunk))
  child.stderr.on("data", (chunk) => (run.output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  const until = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const deadline = Date.now() + 20_000
      const check = () => {
        const match = pattern.exec(run.output)
        if (match) resolve(match)
        else if (child.exitCode !== null || Date.now() > deadline) reject(new Error(`${pattern} not in:\n${run.output}`))
        else setTimeout(check, 50)
      }
      check()
    })
  return { run, exited, until }
}

/**
 * Runs `serve` from source with `args` (and `--port 0`) until its banner's
 * last line, then stops it: everything it printed.
 */
const serveUntilBanner = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Promise<string> => {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "src/cli/bin.ts"), "serve", ...args, "--port", "0"], {
    cwd: root,
    env: { ...process.env, ...env }
  })
  let output = ""
  child.stdout.on("data", (chunk) => (output += chunk))
  child.stderr.on("data", (chunk) => (output += chunk))
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()))
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 45_000
      const check = () =>
        output.includes("drains requests in flight")
          ? resolve()
          : child.exitCode !== null || Date.now() > deadline
          ? reject(new Error(output))
          : setTimeout(check, 50)
      check()
    })
  } finally {
    child.kill("SIGTERM")
  }
  await exited
  return output
}

describe("llm-failover CLI", () => {
  it("npm start serves the demo gateway, answers a completion, and stops on SIGTERM", async () => {
    // `npm start` exactly as the README says, on a free port
    const child = spawn(npm, ["start", "--", "--port", "0"], { cwd: root, detached: true, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    // npm itself dies of the signal; the server under it drains and exits: wait for every pipe to close
    const closed = new Promise<void>((resolve) => child.on("close", () => resolve()))
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed:\n${output}`)), 45_000)
        // until the banner's last line: the log lines before it are a write of their own, which may arrive apart
        const check = () => {
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)[\s\S]*drains requests in flight and stops/.exec(output)
          if (match) {
            clearTimeout(timer)
            resolve(match[1]!)
          } else setTimeout(check, 50)
        }
        check()
      })
      expect(output).toContain("curl -i")
      // what npm start runs: the bundle, split into modules none of which is large (scripts/bundle.ts says why)
      const modules = readdirSync(join(root, "dist", "llm-failover")).filter((file) => file.endsWith(".mjs"))
      expect(modules.length).toBeGreaterThan(splitPoints.length)
      for (const module of modules) expect(statSync(join(root, "dist", "llm-failover", module)).size).toBeLessThan(1.5 * 2 ** 20)
      expect(output).toContain('new OpenAI({ baseURL: "')
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "Say hello" }] })
      })
      expect(response.status).toBe(200)
      expect(response.headers.get("x-llm-provider")).toBeTruthy()
      expect(response.headers.get("x-llm-fallbacks")).toBe("0")
      const body = (await response.json()) as { choices: Array<{ message: { content: string } }> }
      expect(body.choices[0]!.message.content.length).toBeGreaterThan(0)
      // the operators' views are mounted beside the API
      const metrics = await (await fetch(`${url}/metrics`)).text()
      expect(metrics).toMatch(/^llm_requests_total\{[^}]*chain="default"[^}]*\} 1$/m)
      const status = await fetch(`${url}/status`)
      expect(status.status).toBe(200)
      expect(await status.text()).toContain("sonnet")
      // `report` reads the running gateway's cost report
      const report = await cli(["report", "--url", url])
      expect(report.status, report.stderr).toBe(0)
      expect(report.stdout).toMatch(/^chain default\s+1\s+0\s/m)
    } finally {
      process.kill(-child.pid!, "SIGTERM")
    }
    await closed
    expect(output).toMatch(/draining \d+ request\(s\) in flight/)
    expect(output).toContain("gateway stopped")
  }, 60_000)

  it("validate accepts every shipped config", async () => {
    for (const file of ["demo.yaml", "real-providers.yaml", "local-openai-compatible.yaml"]) {
      const result = await cli(["validate", "--config", join("examples/configs", file)], fakeKeys)
      expect(result.status, result.stderr).toBe(0)
      expect(result.stdout).toContain("valid")
    }
  })

  it("validate reads a simulator scenario as simulate does, and counts the implicit default chain", async () => {
    const scenario = await cli(["validate", "--config", "examples/scenarios/flapping.yaml"])
    expect(scenario.status, scenario.stderr).toBe(0)
    expect(scenario.stdout).toContain("flapping.yaml: valid scenario (3 providers, 3 models, 1 chain; 1h at 2 requests a second)")
    const bad = join(tmpdir(), `bad-scenario-${process.pid}.yaml`)
    writeFileSync(bad, ["seed: 1", "load: { duration: soon, requestsPerSecond: 2 }", "providers: { a: { type: simulated } }", "models: { m: { provider: a } }"].join("\n"))
    const refused = await cli(["validate", "--config", bad])
    expect(refused.status).toBe(1)
    expect(refused.stderr).toContain("load.duration")
    const plain = join(tmpdir(), `no-chains-${process.pid}.yaml`)
    writeFileSync(plain, ["providers: { a: { type: simulated } }", "models: { m: { provider: a } }"].join("\n"))
    const implicit = await cli(["validate", "--config", plain])
    expect(implicit.status, implicit.stderr).toBe(0)
    expect(implicit.stdout).toContain("valid (1 provider, 1 model, 1 chain (default: every model))")
    // a JSON config whose simulated provider has a seed is a config, not a scenario; a JSON scenario is one
    const seeded = join(tmpdir(), `seeded-${process.pid}.json`)
    writeFileSync(seeded, JSON.stringify({ providers: { sim: { type: "simulated", seed: 42 } }, models: { a: { provider: "sim" } } }))
    const json = await cli(["validate", "--config", seeded])
    expect(json.status, json.stderr).toBe(0)
    expect(json.stdout).toContain("valid (1 provider, 1 model,")
    const jsonScenario = join(tmpdir(), `scenario-${process.pid}.json`)
    writeFileSync(jsonScenario, JSON.stringify({ seed: 1, load: { duration: "1 minute", requestsPerSecond: 1 }, providers: { a: { type: "simulated" } }, models: { m: { provider: "a" } } }))
    const asScenario = await cli(["validate", "--config", jsonScenario])
    expect(asScenario.status, asScenario.stderr).toBe(0)
    expect(asScenario.stdout).toContain("valid scenario (1 provider, 1 model, 1 chain (default: every model); 1m at 1 request a second)")
    // a YAML scenario written as one flow mapping is one too
    const flow = join(tmpdir(), `flow-${process.pid}.yaml`)
    writeFileSync(flow, '{ seed: 1, load: { duration: "1 minute", requestsPerSecond: 1 }, providers: { a: { type: simulated } }, models: { m: { provider: a } } }\n')
    const asFlow = await cli(["validate", "--config", flow])
    expect(asFlow.status, asFlow.stderr).toBe(0)
    expect(asFlow.stdout).toContain("valid scenario")
    // seven runs of the command line from its source: about 4 s each on a loaded machine
  }, 90_000)

  it("validate shows the router's warnings at the chain's path, on stderr, and exits 0", async () => {
    const file = join(tmpdir(), `router-warnings-${process.pid}.yaml`)
    writeFileSync(
      file,
      [
        "providers: { sim: { type: simulated } }",
        "models: { a: { provider: sim, weight: 0 }, b: { provider: sim, weight: 0 } }",
        "chains:",
        "  fast: { targets: [a, b], race: 5 }",
        "  spread: { targets: [a, b], strategy: weighted }",
        "  hedged: { targets: [a, b], hedge: { maxHedges: 20 }, policy: { retry: { maxAttempts: 11 } } }",
        "policy: { retry: { maxAttempts: 10000 } }"
      ].join("\n")
    )
    const result = await cli(["validate", "--config", file])
    expect(result.status, result.stderr).toBe(0)
    expect(result.stderr).toContain("warning: chains.fast.race: races 5 targets, but the chain has 2: all 2 race")
    expect(result.stderr).toContain('warning: chains.spread.strategy: "weighted", but every one of its targets (a, b) weighs 0')
    // a retry or a hedge almost without end: each request's calls multiplied in an outage
    expect(result.stderr).toContain(
      "warning: policy.retry.maxAttempts: 10000 attempts a target: in an outage each request calls it 10000 times (more than 10 is rarely meant)"
    )
    expect(result.stderr).toContain("warning: chains.hedged.policy.retry.maxAttempts: 11 attempts a target")
    expect(result.stderr).toContain(
      "warning: chains.hedged.hedge.maxHedges: 20 hedges a request: a slow answer may have up to 20 more calls made for it at once (more than 10 is rarely meant)"
    )
    expect(result.stdout).not.toContain("warning:")
    expect(result.stdout).toContain("valid (1 provider, 2 models, 3 chains")
  }, 30_000)

  it("simulate and validate show a scenario's warnings (a bare number of milliseconds, a race wider than its chain), on stderr", async () => {
    const file = join(tmpdir(), `scenario-warnings-${process.pid}.yaml`)
    writeFileSync(
      file,
      [
        "seed: 1",
        'load: { duration: "2 minutes", requestsPerSecond: 1 }',
        "providers:",
        '  a: { type: simulated, faults: [{ repeat: { every: "1 minute" }, fault: { from: 30, to: "20 seconds", status: 529 } }] }',
        "  b: { type: simulated }",
        "models: { m: { provider: a }, n: { provider: b } }",
        "chains: { default: { targets: [m, n], race: 3 } }"
      ].join("\n")
    )
    const bare = `warning: providers.a.faults[0].fault.from: 30 is 30 milliseconds; write "30 seconds" if you meant seconds (or "30 millis") (line 4, column 82)`
    const race = "warning: chains.default.race: races 3 targets, but the chain has 2: all 2 race"
    const simulated = await cli(["simulate", "--scenario", file, "--json"])
    expect(simulated.status, simulated.stderr).toBe(0)
    expect(simulated.stderr.split("\n").filter((line) => line.startsWith("warning:"))).toEqual([bare, race])
    expect(JSON.parse(simulated.stdout)).toMatchObject({ scenario: `scenario-warnings-${process.pid}` })
    const validated = await cli(["validate", "--config", file])
    expect(validated.status, validated.stderr).toBe(0)
    expect(validated.stderr.split("\n").filter((line) => line.startsWith("warning:"))).toEqual([bare, race])
    expect(validated.stdout).not.toContain("warning:")
  }, 30_000)

  it("validate counts the gateway's keys and names the clients', never showing a key", async () => {
    const file = join(tmpdir(), `client-keys-${process.pid}.yaml`)
    writeFileSync(
      file,
      [
        "providers: { sim: { type: simulated } }",
        "models: { a: { provider: sim } }",
        "gateway:",
        "  keys:",
        "    - env:CLI_TEST_OPERATOR_KEY",
        "    - { key: env:CLI_TEST_SEARCH_KEY, name: search, models: [a], rpm: 60 }",
        "    - { key: env:CLI_TEST_BATCH_KEY, name: batch, spend: { usd: 5 } }"
      ].join("\n")
    )
    const keys = { CLI_TEST_OPERATOR_KEY: "gw-cli-operator-01", CLI_TEST_SEARCH_KEY: "gw-cli-search-02", CLI_TEST_BATCH_KEY: "gw-cli-batch-03" }
    const result = await cli(["validate", "--config", file], keys)
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toContain("valid (1 provider, 1 model, 1 chain (default: every model), 3 gateway keys (clients: search, batch))")
    expect(result.stdout + result.stderr).not.toContain("gw-cli")
  }, 30_000)

  it("validate reports every problem at its path, without a stack trace, and exits 1", async () => {
    const file = join(tmpdir(), `bad-${process.pid}.yaml`)
    writeFileSync(
      file,
      [
        "providers:",
        "  openai: { type: openai, apiKey: sk-live-secret-123456789 }",
        "models:",
        "  mini: { provider: opeani, price: { input: -1, output: 1 } }",
        "chains:",
        "  default: [mini, gpt5]"
      ].join("\n")
    )
    const result = await cli(["validate", "--config", file])
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('models.mini.provider: unknown provider "opeani"')
    expect(result.stderr).toContain('chains.default[1]: unknown model "gpt5"')
    expect(result.stderr).toContain("models.mini.price.input")
    expect(result.stderr).not.toMatch(/^\s+at /m)
    expect(result.stderr + result.stdout).not.toContain("sk-live-secret-123456789")
    // a YAML warning (an unknown tag) quotes its line: it is never printed
    const tagged = join(tmpdir(), `tagged-${process.pid}.yaml`)
    writeFileSync(tagged, ["providers:", "  openai: { type: openai, apiKey: !secret sk-live-tagged-987654321 }", "models:", "  mini: { provider: openai }"].join("\n"))
    const warned = await cli(["validate", "--config", tagged])
    expect(warned.stderr + warned.stdout).not.toContain("sk-live-tagged-987654321")
  })

  it("a bad argument gets its message and exit code 2 (a usage error; a bad config is 1), not a log record of the same", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["validate", "--config", "examples/configs/demo.yaml", "--bogus"], "Received unknown argument: '--bogus'"],
      [["validate"], "Expected to find option: '--config'"],
      [["serve", "--heap-growth", "500"], "--heap-growth must be a whole number from 0 to 300"],
      [["serve", "--port", "abc"], "'abc' is not a integer"],
      [["serve", "--port", "99999"], "--port must be a whole number from 0 to 65535"],
      [["report", "--since", "garbage"], "--since must be epoch milliseconds or an ISO 8601 date"]
    ]
    for (const [args, message] of cases) {
      const result = await cli(args)
      expect(result.status, args.join(" ")).toBe(2)
      expect(result.stderr + result.stdout).toContain(message)
      expect(result.stderr + result.stdout).not.toMatch(/level=ERROR|_tag/)
    }
    // help says what the codes mean
    const help = await cli(["--help"], { NO_COLOR: "1" })
    expect(help.stdout.replace(/\s+/g, " ")).toContain(
      "Exit codes: 0 done; 1 a config, scenario or run that failed (an invalid file, a port taken, a gateway that cannot be reached); 2 a usage error (an unknown option, a missing or bad value)."
    )
    // six runs of the CLI: 26 s for four on a machine at a load of 7
  }, 120_000)

  it("global options go before a command's own: help says so, and so does the error of one put after them", async () => {
    const rule = "Global options (--log-level, --help) go before a command's own options"
    const after = await cli(["validate", "--config", "examples/configs/demo.yaml", "--log-level", "debug"])
    expect(after.status).toBe(2)
    expect(after.stderr).toContain("Received unknown argument: '--log-level'")
    // the hint is the command line given, reordered
    expect(after.stderr).toContain(
      "Global options (--log-level) go before a command's own options: llm-failover validate --log-level debug --config examples/configs/demo.yaml, " +
        "or llm-failover --log-level debug validate --config examples/configs/demo.yaml."
    )
    // an optional option given last without its value (which @effect/cli calls an unknown argument) says what it needs
    const bare = await cli(["serve", "--config"])
    expect(bare.status).toBe(2)
    expect(bare.stderr).toContain("--config needs a value: --config FILE")
    // before them, or before the command, it is read
    for (const args of [["validate", "--log-level", "debug", "--config", "examples/configs/demo.yaml"], ["--log-level", "debug", "validate", "--config", "examples/configs/demo.yaml"]]) {
      const before = await cli(args)
      expect(before.status, args.join(" ")).toBe(0)
      expect(before.stdout).toContain("valid")
    }
    // --help after a command's own options: the command's own help is what was asked for (--help before the command prints the top level's)
    const help = await cli(["validate", "--config", "examples/configs/demo.yaml", "--help"])
    expect(help.status).toBe(2)
    expect(help.stderr).toContain("Global options (--help) go before a command's own options: llm-failover validate --help.")
    expect(help.stderr).not.toContain("llm-failover --help validate")
    // another unknown argument gets no such hint; every help ends with the rule
    expect((await cli(["validate", "--config", "examples/configs/demo.yaml", "--bogus"])).stderr).not.toContain(rule)
    for (const args of [["--help"], ["simulate", "--help"]]) {
      const help = await cli(args, { NO_COLOR: "1" })
      expect(help.stdout.replace(/\u001b\[[\d;]*m/g, ""), args.join(" ")).toContain(rule)
    }
  }, 60_000)

  it("a --log-level value that is no level says which levels there are, wherever it is given, with no hint to move it", async () => {
    const levels = "all, trace, debug, info, warning, error, fatal, none"
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["serve", "--log-level", "warn", "--port", "0"], "warn"],
      [["--log-level", "warn", "serve", "--port", "0"], "warn"],
      [["validate", "--log-level", "Debug", "--config", "examples/configs/demo.yaml"], "Debug"],
      [["--log-level=warn", "validate", "--config", "examples/configs/demo.yaml"], "warn"],
      [["validate", "--config", "examples/configs/demo.yaml", "--log-level", "warn"], "warn"]
    ]
    for (const [args, value] of cases) {
      const result = await cli(args)
      expect(result.status, args.join(" ")).toBe(2)
      expect(result.stderr, args.join(" ")).toBe(`--log-level takes one of ${levels}, not '${value}'\n`)
      expect(result.stdout, args.join(" ")).toBe("")
    }
    // straight after the command, without its value: no hint to move it where it is
    const bare = await cli(["serve", "--log-level"])
    expect(bare.status).toBe(2)
    expect(bare.stderr).toContain("--log-level needs a value: --log-level LEVEL")
    expect(bare.stderr).not.toContain("go before a command's own options")
  }, 90_000)

  it("--wizard with no terminal on stdin is refused at once (exit 2), not left waiting for answers", async () => {
    const started = Date.now()
    // stdin is a pipe here, as under CI or `< /dev/null`
    const result = await cli(["--wizard"])
    expect(result.status).toBe(2)
    expect(result.stderr).toContain("--wizard asks its questions on a terminal, and stdin is not one")
    expect(Date.now() - started).toBeLessThan(30_000)
  }, 60_000)

  it("help and errors carry no colour codes when piped, or with NO_COLOR set", async () => {
    // stdout and stderr are pipes here
    for (const [args, env] of [[["--help"], {}], [["simulate", "--help"], { NO_COLOR: "1" }], [["validate", "--config", "x.yaml", "--bogus"], {}]] as const) {
      const result = await cli(args, env)
      expect(result.stdout + result.stderr, args.join(" ")).toMatch(/llm-failover|--bogus/)
      expect(result.stdout + result.stderr, args.join(" ")).not.toContain("\u001b[")
    }
  }, 60_000)

  it("each command's help says what an option left out means: the defaults of --config, --port, --host, --heap-growth and --url", async () => {
    // one run of the command line a command: about 5 s each on a loaded machine
    const helps = new Map<string, Promise<string>>()
    /** An option's description in a command's help, as one line. */
    const described = async (command: string, option: string) => {
      if (!helps.has(command)) {
        helps.set(command, cli([command, "--help"], { NO_COLOR: "1" }).then((r) => r.stdout.replace(/\u001b\[[\d;]*m/g, "").replace(/\s+/g, " ")))
      }
      const help = await helps.get(command)!
      const at = help.indexOf(`${option} `, help.indexOf("OPTIONS"))
      expect(at, `${command} --help lists ${option}`).toBeGreaterThan(0)
      return help.slice(at, help.indexOf("This setting is optional", at))
    }
    expect(await described("serve", "--config file)")).toContain("default: the embedded demo")
    expect(await described("serve", "--port integer")).toContain("default: the config's gateway.port, else 8787")
    expect(await described("serve", "--host text")).toContain("default: the config's gateway.host, else 127.0.0.1")
    expect(await described("serve", "--heap-growth integer")).toContain("default 60")
    expect(await described("report", "--url text")).toContain("default http://127.0.0.1:8787")
  }, 90_000)

  it("the executable serves with its state on a Redis server that is down (ioredis loaded from a module of its own)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-failover-redis-"))
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const redisPort = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const config = join(dir, "config.yaml")
    writeFileSync(config, `${readFileSync(join(root, "examples/configs/demo.yaml"), "utf8")}\nstate: { redis: "redis://127.0.0.1:${redisPort}" }\n`)
    const { run, exited, until } = await runExecutable(["serve", "--config", config, "--port", "0"])
    const { child } = run
    try {
      const url = (await until(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!
      await until(/shared state: Redis unreachable/)
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "Say hello" }] })
      })
      expect(response.status).toBe(200)
    } finally {
      child.kill("SIGTERM")
    }
    expect(await exited).toBe(0)
    const { output } = run
    expect(output).not.toMatch(/level=ERROR/)
    // the request's line, written by serve itself (no fiber; the fields in the line's order)
    expect(output).toMatch(
      /timestamp=\S+ level=INFO message="POST \/v1\/chat\/completions 200" requestId=req_\w+ status=200 ms=\d+ chain=default target=\w+ fallbacks=\d+ attempts=\d+\n/
    )
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  it("serve: the router's lines about a request carry its x-request-id, and SIGTERM is logged before the drain", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-failover-ids-"))
    const config = join(dir, "config.yaml")
    writeFileSync(
      config,
      [
        "providers:",
        '  down: { type: simulated, latency: "5 millis", faults: [{ status: 503 }] }',
        '  up: { type: simulated, latency: "5 millis" }',
        "models:",
        "  primary: { provider: down, model: m1 }",
        "  backup: { provider: up, model: m2 }",
        "chains:",
        "  default: [primary, backup]",
        "policy:",
        "  retry: { maxAttempts: 1 }",
        ""
      ].join("\n")
    )
    const { run, exited, until } = await runExecutable(["serve", "--config", config, "--port", "0"])
    try {
      const url = (await until(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!
      const ask = (headers: Record<string, string>) =>
        fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "Say hello" }] })
        })
      const given = await ask({ "x-request-id": "client-7" })
      expect([given.status, given.headers.get("x-llm-fallbacks")]).toEqual([200, "1"])
      const own = await ask({})
      const ownId = own.headers.get("x-request-id")!
      expect(ownId).toMatch(/^req_\w+$/)
      for (const id of ["client-7", ownId]) {
        // the gateway's line and the router's fallback warning, matched by the request's id
        await until(new RegExp(`message="POST /v1/chat/completions 200" requestId=${id} `))
        await until(new RegExp(`level=WARN message="LLM fallback from primary to backup \\(Overloaded\\)" chain=default from=primary to=backup reason=Overloaded requestId=\\d+ correlationId=${id}\n`))
      }
    } finally {
      run.child.kill("SIGTERM")
    }
    expect(await exited).toBe(0)
    // under NodeRuntime.runMain, which interrupts the program on the same signal
    expect(run.output).toMatch(/level=INFO fiber=#\d+ message="gateway received SIGTERM"\n(.*\n)*.*message="gateway stopped"/)
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  it("simulate --json keeps stdout to the JSON with the log level lowered: the records go to stderr", async () => {
    const result = await cli(["--log-level", "debug", "simulate", "--scenario", "examples/scenarios/primary-down.yaml", "--json"])
    expect(result.status, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ scenario: "primary-down" })
    expect(result.stderr).toMatch(/level=DEBUG .*simulated primary-down under [\w-]+: [\d.]+ virtual minutes in [\d.]+ s of real time/)
  }, 60_000)

  it("a scenario given to serve, or a config given to simulate, is named for what it is, with the command that reads it", async () => {
    const served = await cli(["serve", "--config", "examples/scenarios/primary-down.yaml", "--port", "0"])
    expect(served.status).toBe(1)
    // one problem, not an unknown key for each of name, description, seed and load
    expect(served.stderr).toContain(
      "invalid config examples/scenarios/primary-down.yaml (1 problem):\n  line 4, column 1: a simulator scenario, not a config (name, description, seed and load are a scenario's): replay it with llm-failover simulate --scenario examples/scenarios/primary-down.yaml"
    )
    expect(served.stderr).not.toContain("unknown key")
    const simulated = await cli(["simulate", "--scenario", "examples/configs/demo.yaml"])
    expect(simulated.status).toBe(1)
    expect(simulated.stderr).toContain("invalid scenario examples/configs/demo.yaml")
    expect(simulated.stderr).toContain(
      "examples/configs/demo.yaml is a config, not a scenario (a scenario adds load and seed): serve it with llm-failover serve --config examples/configs/demo.yaml"
    )
    // a config's own mistakes get no such hint
    const bad = join(tmpdir(), `bad-simulate-${process.pid}.yaml`)
    writeFileSync(bad, ["seed: 1", "load: { duration: soon, requestsPerSecond: 2 }", "providers: { a: { type: simulated } }", "models: { m: { provider: a } }"].join("\n"))
    const refused = await cli(["simulate", "--scenario", bad])
    expect(refused.status).toBe(1)
    expect(refused.stderr).not.toMatch(/is a config|is a simulator scenario/)
  }, 90_000)

  it("with gateway keys, the banner's curl and openai lines read the key from the variable the config names", async () => {
    const banner = Cli.banner({ url: "http://127.0.0.1:8787", chains: ["default"], models: ["m"], demo: false, auth: true })
    expect(banner).toContain('-H "authorization: Bearer $GATEWAY_KEY"')
    // a JavaScript string "$GATEWAY_KEY" is sent as it is: the client gets a 401
    expect(banner).toContain('apiKey: process.env["GATEWAY_KEY"]')
    expect(banner).not.toContain('"$GATEWAY_KEY"')
    expect(Cli.banner({ url: "http://127.0.0.1:8787", chains: [], models: ["m"], demo: false, auth: false })).toContain('apiKey: "unused"')
    // the curl's key line indented as its other options; Claude Code's and Gemini CLI's keys from the same variable
    expect(banner).toContain(' \\\n    -H "authorization: Bearer $GATEWAY_KEY" \\\n    -H "content-type: application/json"')
    expect(banner).toContain("ANTHROPIC_BASE_URL=http://127.0.0.1:8787 ANTHROPIC_AUTH_TOKEN=$GATEWAY_KEY ANTHROPIC_DEFAULT_SONNET_MODEL=default")
    expect(banner).toContain("ANTHROPIC_DEFAULT_HAIKU_MODEL=default claude")
    expect(banner).toContain("GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8787 GEMINI_API_KEY=$GATEWAY_KEY gemini -m default")
    expect(banner).not.toContain("ANTHROPIC_MODEL=")

    const dir = mkdtempSync(join(tmpdir(), "llm-failover-banner-"))
    const config = join(dir, "config.yaml")
    writeFileSync(config, ["providers: { sim: { type: simulated } }", "models: { m: { provider: sim } }", 'gateway: { keys: ["env:LLM_TOKEN"] }', ""].join("\n"))
    const output = await serveUntilBanner(["--config", config], { LLM_TOKEN: "tok-banner-secret-4321" })
    rmSync(dir, { recursive: true, force: true })
    expect(output).toContain('-H "authorization: Bearer $LLM_TOKEN"')
    expect(output).toContain('apiKey: process.env["LLM_TOKEN"]')
    expect(output).not.toContain("GATEWAY_KEY")
    expect(output).not.toContain("tok-banner-secret-4321")

    // a client's key first: its variable, read from its `key`
    const clientDir = mkdtempSync(join(tmpdir(), "llm-failover-banner-"))
    const clientConfig = join(clientDir, "config.yaml")
    writeFileSync(
      clientConfig,
      ["providers: { sim: { type: simulated } }", "models: { m: { provider: sim } }", "gateway: { keys: [{ key: env:WEB_TOKEN, name: web }] }", ""].join("\n")
    )
    const clientOutput = await serveUntilBanner(["--config", clientConfig], { WEB_TOKEN: "tok-banner-client-8765" })
    rmSync(clientDir, { recursive: true, force: true })
    expect(clientOutput).toContain('-H "authorization: Bearer $WEB_TOKEN"')
    expect(clientOutput).not.toContain("tok-banner-client-8765")
  }, 90_000)

  it("the banner names each API a client may speak: OpenAI's, Anthropic's and Gemini's", () => {
    const banner = Cli.banner({ url: "http://127.0.0.1:8787", chains: ["default"], models: ["m"], demo: false, auth: false })
    expect(banner).toContain("client.responses.create(")
    expect(banner).toContain("ANTHROPIC_BASE_URL=http://127.0.0.1:8787")
    expect(banner).toContain("GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8787")
    expect(banner).toContain('new GoogleGenAI({ httpOptions: { baseUrl: "http://127.0.0.1:8787" } })')
  })

  it("report --url takes the gateway's base URL or the OpenAI client's (…/v1), as the banner prints both", async () => {
    const paths: Array<string> = []
    const server = createHttpServer((request, response) => {
      paths.push(request.url ?? "")
      response.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      // the base URL itself is the npm start test's
      for (const url of [`${base}/`, `${base}/v1`, `${base}/v1/`]) {
        const result = await cli(["report", "--url", url])
        expect(result.status, url).toBe(1)
        expect(result.stderr, url).toContain(`${base}/v1/usage answered HTTP 404`)
      }
      expect(paths).toEqual(["/v1/usage", "/v1/usage", "/v1/usage"])
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }, 90_000)

  it("serve: OTEL_EXPORTER_OTLP_ENDPOINT exports each request's spans (HTTP, llm.request, llm.attempt) to the collector with its headers, the last ones at shutdown, and no secret in them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-failover-otlp-"))
    const config = join(dir, "config.yaml")
    // the collector, and Claude's API for the gateway's one provider (its key sent as x-api-key)
    const collector = await postRecorder((path) =>
      path === "/v1/messages"
        ? claudeHello
        : undefined
    )
    const { base: endpoint, posts } = collector
    writeFileSync(
      config,
      [`providers: { claude: { type: anthropic, baseUrl: "${endpoint}/v1", apiKey: "sk-ant-provider-s3cret" } }`, "models: { m: { provider: claude, model: claude-test } }", ""].join("\n")
    )
    const { child, exited, output, until } = serveFromSource(config, {
      OTEL_EXPORTER_OTLP_ENDPOINT: `${endpoint}/`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_HEADERS: "x-team=collector%20s3cret",
      OTEL_SERVICE_NAME: "gateway-under-test"
    })
    try {
      const url = (await until(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!
      // the banner comes after the listening line, in a write of its own
      await until(/Traces: exported to/)
      expect(output()).toContain(`Traces: exported to ${endpoint}/v1/traces (OTLP http/json).`)
      const answer = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer client-s3cret", "x-api-key": "other-s3cret" },
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] })
      })
      expect(answer.status).toBe(200)
      child.kill("SIGTERM")
      await exited
      expect(posts.length).toBeGreaterThan(0)
      expect(posts.every((post) => post.path === "/v1/traces" && post.headers["x-team"] === "collector s3cret")).toBe(true)
      const spans = posts.flatMap((post) => {
        const data = JSON.parse(post.body) as {
          resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<{ name: string; traceId: string }> }> }>
        }
        return data.resourceSpans.flatMap((resource) => {
          expect(resource.resource.attributes).toContainEqual({ key: "service.name", value: { stringValue: "gateway-under-test" } })
          return resource.scopeSpans.flatMap((scope) => scope.spans)
        })
      })
      const names = spans.map((span) => span.name)
      expect(names).toEqual(expect.arrayContaining(["http.server POST", "http.client POST", "llm.request", "llm.attempt"]))
      // one request, one trace
      expect(new Set(spans.map((span) => span.traceId)).size).toBe(1)
      for (const post of posts) expect(post.body).not.toMatch(/s3cret/)
      expect(output()).not.toMatch(/s3cret/)
    } finally {
      child.kill("SIGKILL")
      await collector.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("serve: alerts.webhook is told when a breaker opens, as JSON, and the URL (its token) is never printed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-failover-webhook-"))
    const config = join(dir, "config.yaml")
    writeFileSync(
      config,
      [
        "providers:",
        "  down: { type: simulated, latency: \"1 millis\", faults: [{ from: 0, to: \"1 hour\", status: 529 }] }",
        "models: { m: { provider: down } }",
        "policy: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 2 } }",
        "alerts:",
        "  webhook: { url: \"env:HOOK_URL\", source: ci, on: [breakers] }",
        ""
      ].join("\n")
    )
    const receiver = await postRecorder()
    const hook = `${receiver.base}/hooks/T0/s3cretToken`
    const { child, exited, output, until } = serveFromSource(config, { HOOK_URL: hook })
    try {
      const url = (await until(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!
      for (let i = 0; i < 2; i++) {
        const answer = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] })
        })
        expect(answer.status).toBe(503)
      }
      const deadline = Date.now() + 10_000
      while (receiver.posts.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(receiver.posts.map((post) => ({ path: post.path, body: JSON.parse(post.body) }))).toEqual([
        {
          path: "/hooks/T0/s3cretToken",
          body: expect.objectContaining({
            source: "ci",
            kind: "breaker.open",
            breaker: expect.objectContaining({ name: "m", from: "closed", to: "open", reason: "consecutive-failures" })
          })
        }
      ])
      child.kill("SIGTERM")
      await exited
      expect(output()).not.toContain("s3cretToken")
    } finally {
      child.kill("SIGKILL")
      await receiver.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("serve: OpenTelemetry variables it cannot honour are each reported, with no header value, and it does not start", async () => {
    const result = await cli(["serve", "--port", "0"], {
      OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://collector",
      OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      OTEL_EXPORTER_OTLP_HEADERS: "x-team=%E0%A4%A,not a header",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "1.5"
    })
    expect(result.status).toBe(1)
    for (const problem of [
      "OTEL_EXPORTER_OTLP_ENDPOINT: an http:// or https:// URL, not ftp:",
      "OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported",
      "OTEL_EXPORTER_OTLP_HEADERS: the value of x-team is not valid percent-encoding",
      "OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value",
      "OTEL_TRACES_SAMPLER_ARG: a ratio from 0 to 1, not \"1.5\""
    ]) {
      expect(result.stderr).toContain(problem)
    }
    expect(result.stderr).not.toContain("%E0")
    expect(result.stdout).not.toContain("listening")
  }, 60_000)

  it("serve: a second Ctrl-C during the drain stops at once (the first one drains)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-failover-sigint-"))
    const config = join(dir, "config.yaml")
    writeFileSync(config, ['providers: { slow: { type: simulated, latency: "40 seconds" } }', "models: { m: { provider: slow } }", ""].join("\n"))
    const { child, exited, until } = serveFromSource(config)
    try {
      const url = (await until(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!
      // a request the drain would wait 30 s for
      const pending = fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] })
      }).catch(() => undefined)
      await new Promise((resolve) => setTimeout(resolve, 500))
      child.kill("SIGINT")
      await until(/draining 1 request\(s\) in flight/)
      const second = Date.now()
      child.kill("SIGINT")
      // Node's own answer to a signal nobody listens for any more: the process ends by it
      expect(await exited).toBe("SIGINT")
      expect(Date.now() - second).toBeLessThan(5_000)
      await pending
    } finally {
      child.kill("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("serve: with gateway.shutdownDelay, SIGTERM keeps it serving with /readyz at 503, and a second Ctrl-C then stops at once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-failover-delay-"))
    const config = join(dir, "config.yaml")
    writeFileSync(
      config,
      ['providers: { p: { type: simulated, latency: "10 millis" } }', "models: { m: { provider: p } }", 'gateway: { shutdownDelay: "30 seconds" }', ""].join("\n")
    )
    const { child, exited, output, until } = serveFromSource(config)
    try {
      const url = (await until(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!
      child.kill("SIGTERM")
      await until(/serving for 30s before the drain/)
      const status = (path: string) => fetch(`${url}${path}`).then((res) => res.status, () => "refused")
      expect([await status("/readyz"), await status("/healthz")]).toEqual([503, 200])
      expect(output()).not.toContain("draining")
      const second = Date.now()
      child.kill("SIGINT")
      expect(await exited).toBe("SIGINT")
      expect(Date.now() - second).toBeLessThan(5_000)
    } finally {
      child.kill("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("serve warns when it listens beyond this machine with no gateway key, or with /status and /metrics open, and not on the loopback or with a key and an admin listener", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-failover-open-"))
    const open = join(dir, "open.yaml")
    const keyed = join(dir, "keyed.yaml")
    const admin = join(dir, "admin.yaml")
    const base = ["providers: { sim: { type: simulated } }", "models: { m: { provider: sim } }"]
    writeFileSync(open, [...base, ""].join("\n"))
    writeFileSync(keyed, [...base, 'gateway: { keys: ["env:GATEWAY_KEY"] }', ""].join("\n"))
    writeFileSync(admin, [...base, 'gateway: { keys: ["env:GATEWAY_KEY"], admin: { port: 0 } }', ""].join("\n"))
    const served = (args: ReadonlyArray<string>) => serveUntilBanner(args, { GATEWAY_KEY: "gw-open-test" })
    try {
      const noKey = /level=WARN .*message="gateway on 0\.0\.0\.0 with no gateway key: anyone who can reach the port can call its providers; set gateway\.keys/
      const openStatus = /level=WARN .*message="gateway on 0\.0\.0\.0 serves \/status and \/metrics to anyone who can reach the port; set gateway\.admin/
      const both = await served(["--config", open, "--host", "0.0.0.0"])
      expect(both).toMatch(noKey)
      expect(both).toMatch(openStatus)
      expect(await served(["--config", open])).not.toMatch(/level=WARN/)
      const keyedOpen = await served(["--config", keyed, "--host", "0.0.0.0"])
      expect(keyedOpen).not.toMatch(noKey)
      expect(keyedOpen).toMatch(openStatus)
      // the admin listener on the loopback: the banner sends operators there
      const private_ = await served(["--config", admin, "--host", "0.0.0.0"])
      expect(private_).not.toMatch(/level=WARN/)
      expect(private_).toMatch(/Operators: http:\/\/127\.0\.0\.1:\d+\/status .*http:\/\/127\.0\.0\.1:\d+\/metrics/)
      expect(private_).toMatch(/http:\/\/0\.0\.0\.0:\d+\/v1\/usage/)
      // an admin listener open to the network is said to be so
      writeFileSync(admin, [...base, 'gateway: { keys: ["env:GATEWAY_KEY"], admin: { host: 0.0.0.0, port: 0 } }', ""].join("\n"))
      expect(await served(["--config", admin])).toMatch(
        /level=WARN .*message="gateway's admin listener on 0\.0\.0\.0 serves \/status and \/metrics to anyone who can reach its port/
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000)

  it("serve warns when cors allows any page and the gateway asks no key (which the Host check of a keyless loopback gateway no longer guards), and not with a key or a list of origins", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-failover-cors-"))
    const base = ["providers: { sim: { type: simulated } }", "models: { m: { provider: sim } }"]
    const file = (name: string, gateway: string) => {
      const path = join(dir, name)
      writeFileSync(path, [...base, `gateway: ${gateway}`, ""].join("\n"))
      return path
    }
    const served = (path: string) => serveUntilBanner(["--config", path], { GATEWAY_KEY: "gw-cors-test" })
    const anyPage = /level=WARN .*message="gateway\.cors allows any origin \(\\"\*\\"\) and the gateway asks no key/
    try {
      expect(await served(file("open.yaml", '{ cors: { origins: ["*"] } }'))).toMatch(anyPage)
      expect(await served(file("keyed.yaml", '{ keys: ["env:GATEWAY_KEY"], cors: { origins: ["*"] } }'))).not.toMatch(/level=WARN/)
      expect(await served(file("listed.yaml", '{ cors: { origins: ["https://app.example.com"] } }'))).not.toMatch(/level=WARN/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 90_000)

  it("an empty --host is refused, not bound to every interface", async () => {
    const result = await cli(["serve", "--host", "", "--port", "0"])
    expect(result.status).toBe(2)
    expect(`${result.stdout}${result.stderr}`).toContain("--host must name an address")
  })

  it("a port already taken is one line and exit code 1, not a stack trace", async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve))
    try {
      const port = (taken.address() as AddressInfo).port
      const result = await cli(["serve", "--port", String(port)])
      expect(result.status).toBe(1)
      expect(result.stderr).toContain(`llm-failover serve: cannot listen: listen EADDRINUSE: address already in use 127.0.0.1:${port}`)
      expect(result.stderr + result.stdout).not.toMatch(/level=ERROR|    at /)
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()))
    }
  })

  it("the admin listener's port taken says it is the admin listener's; the same port as the gateway's is the config's problem", async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve))
    const dir = mkdtempSync(join(tmpdir(), "llm-failover-admin-"))
    try {
      const port = (taken.address() as AddressInfo).port
      const config = join(dir, "admin.yaml")
      const write = (gateway: string) =>
        writeFileSync(config, ["providers: { sim: { type: simulated } }", "models: { m: { provider: sim } }", `gateway: ${gateway}`, ""].join("\n"))
      write(`{ admin: { port: ${port} } }`)
      const result = await cli(["serve", "--config", config, "--port", "0"])
      expect(result.status).toBe(1)
      expect(result.stderr).toContain(
        `llm-failover serve: cannot listen (the admin listener, gateway.admin): listen EADDRINUSE: address already in use 127.0.0.1:${port}`
      )
      expect(result.stderr + result.stdout).not.toMatch(/level=ERROR|    at /)
      // --port over the file's, the admin listener's: it listens first, and the gateway's listener is told why it cannot
      const free = createServer()
      await new Promise<void>((resolve) => free.listen(0, "127.0.0.1", resolve))
      const freePort = (free.address() as AddressInfo).port
      await new Promise<void>((resolve) => free.close(() => resolve()))
      write(`{ admin: { port: ${freePort} } }`)
      const shared = await cli(["serve", "--config", config, "--port", String(freePort)])
      expect(shared.status).toBe(1)
      expect(shared.stderr).toContain(
        `llm-failover serve: cannot listen: listen EADDRINUSE: address already in use 127.0.0.1:${freePort} (the admin listener, gateway.admin, is on port ${freePort} too: give it a port of its own)`
      )
      // the file's own ports alike: refused before anything listens
      write(`{ port: ${port}, admin: { port: ${port} } }`)
      const same = await cli(["validate", "--config", config])
      expect(same.status).toBe(1)
      expect(same.stderr).toContain(`gateway.admin.port: ${port} is gateway.port too, on 127.0.0.1: the admin listener needs a port of its own`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
      await new Promise<void>((resolve) => taken.close(() => resolve()))
    }
  })
})
