/**
 * A preload (`node --import <this, compiled>`) that binds every TCP server
 * of the process to 127.0.0.1, for servers that listen on every interface
 * and take no host option (the Portkey gateway's `start-server.js` calls
 * `serve({ fetch, port })`, which listens without a hostname). It wraps
 * `net.Server.prototype.listen`: a port without a host gets host
 * 127.0.0.1, and an options object without a host gets one. Unix sockets
 * and handles pass through unchanged. Nothing in the server's code changes.
 */
import * as net from "node:net"

const loopback = "127.0.0.1"

type Listen = (this: net.Server, ...args: Array<unknown>) => net.Server

const original = net.Server.prototype.listen as unknown as Listen

const isPort = (u: unknown): boolean => typeof u === "number" || (typeof u === "string" && /^\d+$/.test(u))

const bound = function (this: net.Server, ...args: Array<unknown>): net.Server {
  const [first, second] = args
  if (isPort(first) && typeof second !== "string") {
    // listen(port), listen(port, backlog), listen(port, callback), listen(port, undefined, ...)
    const rest = second === undefined ? args.slice(2) : args.slice(1)
    return original.call(this, Number(first), loopback, ...rest)
  }
  if (typeof first === "object" && first !== null && !("fd" in first) && !("_handle" in first)) {
    const options = first as net.ListenOptions
    if (options.path === undefined && options.host === undefined) {
      return original.call(this, { ...options, host: loopback }, ...args.slice(1))
    }
  }
  return original.apply(this, args)
}

net.Server.prototype.listen = bound as unknown as typeof net.Server.prototype.listen
