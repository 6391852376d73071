/**
 * What a benchmark suite is: a name, a one-line description and a `run`
 * that measures and returns tables. `bench/index.ts` keeps the registry of
 * suites, prints their tables and writes `bench/results/<name>.json`.
 *
 * A suite computes every ratio it reports from measurements of the same
 * run (same process, same machine state), never against stored figures.
 */

/** One cell of a table: text, or a number printed as is. */
export type Cell = string | number

/** A printed table; also written, as is, to the suite's result JSON. */
export interface Table {
  readonly title: string
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<Cell>>
  /** Printed under the table: how to read it. */
  readonly note?: string
}

/** What a suite returns. */
export interface SuiteResult {
  readonly tables: ReadonlyArray<Table>
  /** Lines printed after the tables (the headline, a verdict, caveats). */
  readonly summary?: ReadonlyArray<string>
  /** Raw figures for the result JSON (every round, every sample statistic). */
  readonly data?: Readonly<Record<string, unknown>>
}

/** What the runner gives a suite. */
export interface SuiteContext {
  /** Progress lines (to stderr, so stdout stays the tables). */
  readonly log: (line: string) => void
}

/** A benchmark suite. Register it in `bench/index.ts`. */
export interface Suite {
  /** The name on the command line (`npm run bench -- <name>`) and of the result file. */
  readonly name: string
  readonly description: string
  /** Packages it compares against, whose installed versions the result file records. */
  readonly packages?: ReadonlyArray<string>
  readonly run: (context: SuiteContext) => Promise<SuiteResult>
}
