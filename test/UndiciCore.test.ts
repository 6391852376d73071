/**
 * `scripts/undici-core.mjs`, what the executable takes of undici in place of
 * its index: the same objects as undici's own, the request API on every
 * dispatcher, and every name the bundled platform reads of undici.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
// first, before undici's index is loaded by anything in this file
import * as core from "../scripts/undici-core.mjs"

const platformEsm = join(import.meta.dirname, "..", "node_modules", "@effect", "platform-node", "dist", "esm")

/** The names the platform's modules read off undici (`import * as Undici from "./Undici.js"`, then `Undici.X`). */
const namesThePlatformReads = (): Set<string> => {
  const names = new Set<string>()
  const files = [...readdirSync(platformEsm), ...readdirSync(join(platformEsm, "internal")).map((f) => join("internal", f))]
  for (const file of files.filter((f) => f.endsWith(".js"))) {
    const text = readFileSync(join(platformEsm, file), "utf8")
    const alias = /import \* as (\w+) from "(?:\.\.?\/)+Undici\.js"/.exec(text)?.[1]
    if (alias === undefined) continue
    for (const match of text.matchAll(new RegExp(`(?<![\\w/])${alias}\\.(\\w+)`, "g"))) names.add(match[1]!)
  }
  return names
}

describe("undici-core", () => {
  it("puts the request API on every dispatcher by itself, as undici's index does", () => {
    expect(typeof (core.Dispatcher.prototype as { request?: unknown }).request).toBe("function")
    expect(typeof (core.Dispatcher.prototype as { stream?: unknown }).stream).toBe("function")
    expect(typeof core.getGlobalDispatcher()?.dispatch).toBe("function")
  })

  it("exports undici's own objects", async () => {
    const undici = await import("undici")
    expect(core.Agent).toBe(undici.Agent)
    expect(core.Dispatcher).toBe(undici.Dispatcher)
    expect(core.getGlobalDispatcher).toBe(undici.getGlobalDispatcher)
    expect(core.setGlobalDispatcher).toBe(undici.setGlobalDispatcher)
    expect(core.default).toEqual({
      Agent: undici.Agent,
      Dispatcher: undici.Dispatcher,
      getGlobalDispatcher: undici.getGlobalDispatcher,
      setGlobalDispatcher: undici.setGlobalDispatcher
    })
  })

  it("exports every name the bundled platform reads of undici", () => {
    const names = namesThePlatformReads()
    expect(names.size).toBeGreaterThan(0)
    for (const name of names) expect(Object.keys(core), name).toContain(name)
  })
})
