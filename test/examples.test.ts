/**
 * Runs every program in `examples/` as a user would (`npm run example -- <name>`)
 * and checks that it exits 0 on its own.
 */
import { execFile } from "node:child_process"
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

const run = promisify(execFile)

/**
 * Examples run against 127.0.0.1 only: provider keys are removed from their
 * environment, so `provider-real` prints that it skipped. Set
 * LLM_FAILOVER_LIVE=1 to let it call the real APIs with your keys.
 */
const liveKeys = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"]
const exampleEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" }
  if (process.env["LLM_FAILOVER_LIVE"] !== "1") for (const key of liveKeys) delete env[key]
  return env
}
const root = join(import.meta.dirname, "..")
const examples = readdirSync(join(root, "examples"))
  .filter((file) => file.endsWith(".ts"))
  .sort()

// Each example is its own process, mostly waiting on startup: run a few at once.
describe.concurrent("examples", () => {
  it("has examples", () => {
    expect(examples.length).toBeGreaterThan(0)
  })

  it.each(examples)("%s runs and exits 0", async (file) => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", join(root, "examples", file)], {
      cwd: root,
      timeout: 90_000,
      env: exampleEnv()
    })
    expect(stdout.length).toBeGreaterThan(0)
    // the simulator's examples replay hours of traffic: up to 20 s alone, longer beside the other tests
  }, 100_000)
})
