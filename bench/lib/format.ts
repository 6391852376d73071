/**
 * Text formatting for result tables: durations, ratios, bytes, and a plain
 * aligned table that reads the same in a terminal and pasted into Markdown.
 */
import type { Ratio } from "./measure.js"
import type { Table } from "./suite.js"

/** Nanoseconds as "850 ns" or "1.23 µs". */
export const duration = (ns: number): string =>
  ns < 1_000 ? `${ns.toFixed(0)} ns` : ns < 1_000_000 ? `${(ns / 1_000).toFixed(2)} µs` : `${(ns / 1_000_000).toFixed(2)} ms`

/** A ratio as "1.23x (1.18-1.30)": the median and, in brackets, the interquartile range over rounds. */
export const ratio = (r: Ratio): string => `${r.median.toFixed(2)}x (${r.p25.toFixed(2)}-${r.p75.toFixed(2)})`

/** A plain ratio as "1.23x". */
export const times = (x: number): string => `${x.toFixed(2)}x`

/** Bytes as "312 B" or "4.1 KiB". */
export const bytes = (n: number): string => (Math.abs(n) < 1024 ? `${n.toFixed(0)} B` : `${(n / 1024).toFixed(1)} KiB`)

/** A percentage as "±1.2%". */
export const margin = (percent: number): string => `±${percent.toFixed(1)}%`

const isNumeric = (text: string): boolean => /^[-+±]?[\d.]/.test(text)

/** Renders a table as a Markdown pipe table with aligned columns. */
export const markdown = (table: Table): string => {
  const cells = [table.columns, ...table.rows].map((row) => row.map((cell) => String(cell)))
  const widths = table.columns.map((_, i) => Math.max(3, ...cells.map((row) => (row[i] ?? "").length)))
  const numeric = table.columns.map((_, i) => table.rows.length > 0 && table.rows.every((row) => isNumeric(String(row[i] ?? ""))))
  const line = (row: ReadonlyArray<string>) =>
    `| ${widths.map((w, i) => (numeric[i] ? (row[i] ?? "").padStart(w) : (row[i] ?? "").padEnd(w))).join(" | ")} |`
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`
  const [header, ...body] = cells
  return [line(header!), rule, ...body.map(line)].join("\n")
}

/** A table with its title and note, for the terminal. */
export const render = (table: Table): string =>
  [`### ${table.title}`, "", markdown(table), ...(table.note === undefined ? [] : ["", table.note])].join("\n")
