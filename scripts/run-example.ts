/**
 * Runs one program from `examples/` by name: `npm run example -- <name>`.
 * With no name, lists the examples.
 */
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const names = readdirSync(join(root, "examples"))
  .filter((file) => file.endsWith(".ts"))
  .map((file) => file.slice(0, -3))
  .sort()

const [given, ...rest] = process.argv.slice(2)
// a name, or the file a shell's completion gives: `quickstart.ts`, `examples/quickstart.ts`
const name = given === undefined ? undefined : basename(given).replace(/\.ts$/, "")
const list = `examples: ${names.join(", ")}\nrun one with: npm run example -- <name>`
if (name === undefined) {
  // the list was asked for: an answer, on stdout
  console.log(list)
  process.exit(0)
}
if (!names.includes(name)) {
  console.error(`unknown example "${given}"\n${list}`)
  process.exit(1)
}
const result = spawnSync(process.execPath, ["--import", "tsx", join(root, "examples", `${name}.ts`), ...rest], {
  stdio: "inherit"
})
process.exit(result.status ?? 1)
