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
const root = join(import.meta.dirname, "..")
const examples = readdirSync(join(root, "examples"))
  .filter((file) => file.endsWith(".ts"))
  .sort()

describe("examples", () => {
  it("has examples", () => {
    expect(examples.length).toBeGreaterThan(0)
  })

  it.each(examples)("%s runs and exits 0", async (file) => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", join(root, "examples", file)], {
      cwd: root,
      timeout: 60_000,
      env: { ...process.env, NO_COLOR: "1" }
    })
    expect(stdout.length).toBeGreaterThan(0)
  })
})
