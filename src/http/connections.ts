// Sockets of the HTTP server and whether a request is in flight on them. Node's
// `closeIdleConnections()` (what Fastify's forceCloseConnections: "idle" calls) does not see a
// connection that was opened but has not sent a request yet — an HTTP client's spare keep-alive
// socket is one — so `server.close()` waited for it until the client gave up (~70 s measured
// with undici after an aborted fetch). At shutdown those are destroyed; sockets with a request
// in flight are left to finish it (their responses carry `connection: close`).

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

export interface ConnectionTracker {
  /** Destroys every socket that has no request in flight; returns how many. */
  closeIdle(): number;
}

export interface TrackOptions {
  /**
   * Told when a response closes, finished or not (the HTTP metrics count one that did not finish
   * as 499): the listener this module adds to every response anyway, so nothing else needs one.
   */
  onResponseClosed?: (req: IncomingMessage, res: ServerResponse) => void;
}

export function trackConnections(server: Server, opts: TrackOptions = {}): ConnectionTracker {
  const closed = opts.onResponseClosed;
  const inFlight = new Map<Socket, number>();
  server.on("connection", (socket: Socket) => {
    inFlight.set(socket, 0);
    socket.once("close", () => inFlight.delete(socket));
  });
  server.on("request", (req, res) => {
    const socket = req.socket;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.once("close", () => {
      const n = (inFlight.get(socket) ?? 1) - 1;
      if (inFlight.has(socket)) inFlight.set(socket, n);
      closed?.(req, res);
    });
  });
  return {
    closeIdle() {
      let closed = 0;
      for (const [socket, n] of inFlight) {
        if (n === 0) {
          socket.destroy();
          closed++;
        }
      }
      return closed;
    },
  };
}
