// A hostile client for the abuse suite: n HTTP/1.1 requests at once, each on a fresh TCP
// connection (`connection: close`), written in one piece and read to the end with node:net.
//
// Why not fetch: undici spent ~1 ms of CPU per request on this 2-core machine (45-52 ms for a
// burst of 50 logins, measured with process.cpuUsage around the burst), three times what the
// server spent answering them, on the cores the server and the probes share; so a probe's p99
// measured the test's own client as much as the server. A raw socket costs the client a third of
// that, and the attack is no gentler: every request opens its own connection, as a flood would.

import { connect } from "node:net";

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface RawResponse {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  /** The body as received. */
  text: string;
  /** The body, parsed when it is JSON. */
  body: any;
  /** Interim responses seen first (e.g. 100). */
  interim: number[];
}

/**
 * Parses what an HTTP/1.1 server wrote on a connection read to its end, interim responses
 * (1xx) first. Whatever is not HTTP gives status 0 (a test of malformed input may expect that).
 */
export function parseHttpResponse(text: string): RawResponse {
  const interim: number[] = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf("\r\n\r\n");
    const head = end === -1 ? rest : rest.slice(0, end);
    const [statusLine = "", ...headerLines] = head.split("\r\n");
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
    const headers: Record<string, string> = {};
    for (const l of headerLines) {
      const i = l.indexOf(":");
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const body = end === -1 ? "" : rest.slice(end + 4);
    if (status >= 100 && status < 200) {
      interim.push(status);
      rest = body;
      continue;
    }
    let parsed: unknown = body;
    if ((headers["content-type"] ?? "").includes("json") && body) parsed = JSON.parse(body);
    return { status, headers, text: body, body: parsed, interim };
  }
}

/** As parseHttpResponse, but what is not a whole HTTP/1.1 response is an error naming it. */
export function parseRawResponse(raw: string): RawResponse {
  if (!raw.startsWith("HTTP/1.1 ") || !raw.includes("\r\n\r\n")) {
    throw new Error(`not an HTTP/1.1 response: ${JSON.stringify(raw.slice(0, 80))}`);
  }
  return parseHttpResponse(raw);
}

/** Sends `count` copies of `req` to `base` (http://host:port) at once; resolves with every response. */
export function rawRequests(
  base: string,
  req: RawRequest,
  count: number,
  timeoutMs = 30_000,
): Promise<RawResponse[]> {
  const url = new URL(base);
  const body = req.body ?? "";
  const head = [
    `${req.method} ${req.path} HTTP/1.1`,
    `host: ${url.host}`,
    "connection: close",
    ...Object.entries(req.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    ...(body === "" ? [] : [`content-length: ${Buffer.byteLength(body)}`]),
  ].join("\r\n");
  const bytes = Buffer.from(`${head}\r\n\r\n${body}`);
  const one = () =>
    new Promise<RawResponse>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname);
      const chunks: Buffer[] = [];
      socket.setTimeout(timeoutMs, () =>
        socket.destroy(new Error(`${req.method} ${req.path}: no complete answer within ${timeoutMs} ms`)),
      );
      socket.on("connect", () => socket.write(bytes));
      socket.on("data", (d: Buffer) => chunks.push(d));
      socket.on("error", reject);
      socket.on("close", (hadError) => {
        if (hadError) return; // "error" rejected already
        try {
          resolve(parseRawResponse(Buffer.concat(chunks).toString("latin1")));
        } catch (err) {
          reject(err);
        }
      });
    });
  return Promise.all(Array.from({ length: count }, one));
}
