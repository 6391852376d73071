/**
 * The three deadlines of a provider call, as consecutive phases:
 *
 * - `connect`: from sending the request to its response headers;
 * - `firstToken`: from the headers to the first content chunk of a stream
 *   (pings and other events without content do not count);
 * - `idle`: after that, the longest gap between two chunks, counted while
 *   the stream's consumer waits for the next (not while it is busy); it also bounds
 *   each wait for the next piece of a JSON body once its headers came (not
 *   the whole body: one that trickles is read as long as it keeps coming).
 *
 * @internal
 */
import * as Duration from "effect/Duration"

/**
 * The deadlines a caller may set; each absent one takes its default.
 *
 * @internal
 */
export interface Timeouts {
  /** Until the response headers. Default 60 seconds. */
  readonly connect?: Duration.DurationInput | undefined
  /** From the headers to the first content chunk of a stream. Default 60 seconds. */
  readonly firstToken?: Duration.DurationInput | undefined
  /** The longest gap between two chunks, or between two pieces of a JSON body. Default 30 seconds. */
  readonly idle?: Duration.DurationInput | undefined
}

/** @internal */
export interface Resolved {
  readonly connect: Duration.Duration
  readonly firstToken: Duration.Duration
  readonly idle: Duration.Duration
}

/** @internal */
export const defaults: Resolved = {
  connect: Duration.seconds(60),
  firstToken: Duration.seconds(60),
  idle: Duration.seconds(30)
}

/** @internal */
export const resolve = (timeouts: Timeouts | undefined): Resolved => ({
  connect: timeouts?.connect !== undefined ? Duration.decode(timeouts.connect) : defaults.connect,
  firstToken: timeouts?.firstToken !== undefined ? Duration.decode(timeouts.firstToken) : defaults.firstToken,
  idle: timeouts?.idle !== undefined ? Duration.decode(timeouts.idle) : defaults.idle
})
