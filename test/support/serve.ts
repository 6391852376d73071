/**
 * A real `llm-failover serve` process run from the source, for the tests
 * that need the process itself (signals, its banner, its exit).
 */
import { spawn } from "node:child_process"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")

/**
 * `serve --config config --port 0` run from the source (the signal tests
 * need the process itself, not the bundle's), with its output so far and
 * `until`, which waits up to 45 s for a pattern in it (failing early if the
 * process ends).
 */
export const serveFromSource = (config: string, env: Readonly<Record<string, string>> = {}) => {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "src/cli/bin.ts"), "serve", "--config", config, "--port", "0"], {
    cwd: root,
    env: { ...process.env, ...env }
  })
  let output = ""
  child.stdout.on("data", (chunk) => (output += chunk))
  child.stderr.on("data", (chunk) => (output += chunk))
  const exited = new Promise<string>((resolve) => child.on("close", (code, signal) => resolve(signal ?? String(code))))
  const until = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const deadline = Date.now() + 45_000
      const check = () => {
        const match = pattern.exec(output)
        if (match) resolve(match)
        else if (child.exitCode !== null || Date.now() > deadline) reject(new Error(`${pattern} not in:\n${output}`))
        else setTimeout(check, 50)
      }
      check()
    })
  return { child, exited, output: () => output, until }
}

/** A whole Claude answer ("hello", 3 tokens in, 1 out), for a stand-in of Claude's API behind a real `serve`. */
export const claudeHello = JSON.stringify({
  id: "msg_1",
  type: "message",
  role: "assistant",
  model: "claude-test",
  content: [{ type: "text", text: "hello" }],
  stop_reason: "end_turn",
  usage: { input_tokens: 3, output_tokens: 1 }
})
