/**
 * What the README shows a new user holds: its TypeScript snippets type-check
 * as a user's module (the package's paths mapped to `src/`), its config
 * snippets validate, its `validate` output is what the command prints, and
 * every example and file it names exists.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { ConfigProvider, Effect } from "effect"
import ts from "typescript"
import * as Yaml from "yaml"
import { afterAll, describe, expect, it } from "vitest"
import { Config } from "../../src/config/index.js"
import { Report, Scenario, Simulator } from "../../src/simulator/index.js"
import { snippetProgram } from "../support/typecheck.js"

const root = join(import.meta.dirname, "..", "..")
const readme = readFileSync(join(root, "README.md"), "utf8")

/** The README's fenced blocks of one language, each with the line it starts at. */
const blocks = (language: string): ReadonlyArray<{ readonly line: number; readonly code: string }> => {
  const lines = readme.split("\n")
  const found: Array<{ readonly line: number; readonly code: string }> = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== "```" + language) continue
    const end = lines.findIndex((l, j) => j > i && l === "```")
    found.push({ line: i + 2, code: lines.slice(i + 1, end).join("\n") })
    i = end
  }
  return found
}

const env = new Map([
  ["OPENAI_API_KEY", "sk-readme-0001"],
  ["ANTHROPIC_API_KEY", "sk-ant-readme-0002"],
  ["GEMINI_API_KEY", "g-readme-0003"],
  ["GATEWAY_KEY", "gw-readme-0004"],
  ["SEARCH_TEAM_KEY", "gw-readme-0005"],
  ["BATCH_TEAM_KEY", "gw-readme-0006"],
  ["REDIS_URL", "redis://127.0.0.1:6379"]
])
const parse = (text: string, source?: string) =>
  Effect.runPromise(
    Config.parse(text, source === undefined ? {} : { source }).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(env)),
      Effect.either
    )
  )

const directory = mkdtempSync(join(tmpdir(), "readme-snippets-"))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

describe("README", () => {
  it("every TypeScript snippet type-checks as a user's module", () => {
    const snippets = blocks("ts")
    expect(snippets.length).toBeGreaterThanOrEqual(3)
    writeFileSync(join(directory, "package.json"), JSON.stringify({ type: "module" }))
    symlinkSync(join(root, "node_modules"), join(directory, "node_modules"), "dir")
    mkdirSync(join(directory, "snippets"))
    const files = snippets.map((snippet) => {
      const path = join(directory, "snippets", `readme-line-${snippet.line}.ts`)
      writeFileSync(path, `${snippet.code}\nexport {}\n`)
      return path
    })
    const program = snippetProgram(root, files)
    const problems = files.flatMap((path) => {
      const source = program.getSourceFile(path)!
      return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map(
        (d) => `${path.split("/").pop()}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`
      )
    })
    expect(problems).toEqual([])
  }, 120_000)

  it("the config snippet is valid, and so are the shared-state and gateway snippets over it", async () => {
    const yaml = blocks("yaml")
    const config = yaml[0]
    const state = yaml.find((block) => /^state:/m.test(block.code))
    // the gateway snippets (CORS, the admin listener), each over the config above
    const gateway = yaml.filter((block) => /^gateway:/.test(block.code))
    expect(config!.code).toContain("providers:")
    expect(gateway.map((block) => Object.keys(Yaml.parse(block.code).gateway)).flat()).toEqual(expect.arrayContaining(["cors", "admin"]))
    const parsed = await parse(config!.code)
    expect(parsed._tag, JSON.stringify(parsed)).toBe("Right")
    // the state snippet adds a section and a model's limits to a config like the one above
    const base = Yaml.parse(config!.code)
    const extra = Yaml.parse(state!.code)
    const merged = {
      ...base,
      state: extra.state,
      models: { ...base.models, sonnet: { ...base.models.sonnet, ...extra.models.sonnet } }
    }
    const withState = await parse(JSON.stringify(merged), "merged.json")
    expect(withState._tag, JSON.stringify(withState)).toBe("Right")
    for (const block of gateway) {
      const withGateway = await parse(JSON.stringify({ ...base, gateway: Yaml.parse(block.code).gateway }), "gateway.json")
      expect(withGateway._tag, JSON.stringify(withGateway)).toBe("Right")
    }
  })

  it("validate's output is what the README shows for the same mistakes", async () => {
    const shown = readme.match(/```\n(invalid config bad\.yaml[\s\S]*?)\n```/)?.[1]
    expect(shown).toBeDefined()
    const bad = [
      "providers:",
      "  openai: { type: openai, apiKey: \"env:OPENAI_API_KEY\" }",
      "models:",
      "  mini: { provider: opeani, model: gpt-4.1-mini }",
      "chains:",
      "  default: [mini, gpt5]"
    ].join("\n")
    const parsed = await parse(bad, "bad.yaml")
    expect(parsed._tag).toBe("Left")
    if (parsed._tag === "Left") expect(parsed.left.message).toBe(shown)
  })

  it("every example it names exists, and the examples table lists every example", () => {
    const examples = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".ts")).map((f) => f.replace(/\.ts$/, ""))
    const table = readme.slice(readme.indexOf("| example | shows |"), readme.indexOf("## Layout"))
    const listed = [...table.matchAll(/^\| (.*?) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([\w-]+)`/g)].map((n) => n[1]!))
    expect([...listed].sort()).toEqual([...examples].sort())
    for (const [, name] of readme.matchAll(/npm run example -- ([\w-]+)/g)) expect(examples).toContain(name)
    for (const [path] of readme.matchAll(/examples\/[\w./-]+\.(?:ya?ml|ts)/g)) {
      expect(existsSync(join(root, path)), path).toBe(true)
    }
  })

  it("points to the config reference, which holds every key the README names without its syntax", () => {
    expect(readme).toContain("`src/config/Config.ts`")
    expect(readme).toContain("`dist/config/Config.d.ts`")
    const source = readFileSync(join(root, "src/config/Config.ts"), "utf8")
    const reference = source.slice(0, source.indexOf("*/"))
    for (const key of ["race", "hedge", "contentPolicy", "fallbackResponse", "continueStreams", "weight", "shadowRate", "sendTimeout", "shutdownDelay"]) {
      expect(reference, key).toMatch(new RegExp(`\\b${key}\\b`))
    }
  })

  it("says what the simulator's report holds: the oracle's cost, and each column of the per-target table; and what x-llm-attempts counts", async () => {
    const section = readme.slice(readme.indexOf("### Replay an outage before it happens"), readme.indexOf("### Many instances"))
    expect(section).toMatch(/oracle's cost is[^.]*cheapest/)
    // the table's columns, as simulate prints them
    const scenario = await Effect.runPromise(
      Scenario.parse('seed: 1\nload: { duration: "5 seconds", requestsPerSecond: 1 }\nproviders: { a: { type: simulated } }\nmodels: { m: { provider: a } }\n')
    )
    const { report } = await Effect.runPromise(Simulator.run(scenario))
    const header = Report.format(report).split("\n").find((line) => /^\s*target\s+calls/.test(line))!
    const columns = header.trim().split(/\s+/).slice(1)
    expect(columns).toContain("budget")
    for (const column of columns) expect(section, column).toContain(`\`${column}\``)
    expect(readme).toMatch(/`x-llm-attempts` counts[^.]*breaker/)
  })

  it("npm run example takes an example's name, its file name or its path, as a shell's completion gives them", async () => {
    const run = promisify(execFile)
    for (const name of ["quickstart", "quickstart.ts", "examples/quickstart.ts"]) {
      const { stdout } = await run(process.execPath, ["--import", "tsx", join(root, "scripts/run-example.ts"), name], { cwd: root, timeout: 60_000 })
      expect(stdout, name).toContain("answer from openai/gpt-4.1-mini")
    }
    const unknown = await run(process.execPath, ["--import", "tsx", join(root, "scripts/run-example.ts"), "nope"], { cwd: root }).catch((e) => e)
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('unknown example "nope"')
    expect(unknown.stdout).toBe("")
    // no name: the list asked for, on stdout, as an answer
    const listed = await run(process.execPath, ["--import", "tsx", join(root, "scripts/run-example.ts")], { cwd: root })
    expect(listed.stdout).toContain("examples: ")
    expect(listed.stdout).toContain("quickstart")
    expect(listed.stderr).toBe("")
  }, 90_000)
})
