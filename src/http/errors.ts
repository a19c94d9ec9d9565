/**
 * One error shape for everything a client can get wrong, from a request line HTTP's parser
 * refuses to a field of a JSON body: `{ error: { code, message, details? }, requestId }` with
 * the `x-request-id` header, one access line and one count in http_requests_total.
 *
 * Only server faults become 5xx: a Fastify error that carries a 4xx status (a QUERY without a
 * Content-Type, a body shorter than its Content-Length, ...) is answered as that 4xx, never as
 * `INTERNAL`, so that a client's mistakes cannot page on-call through the error-rate rule.
 *
 * Three kinds of request never reach Fastify's hooks by themselves; each is brought back:
 * - a malformed URL (`/%`, `/%E0%A4%A`, a bad escape in the query string): `rewriteUrl` sends it
 *   to a path no route has, marked, and the request then runs the normal hooks (request id,
 *   metrics, access line) and is answered 400 `INVALID_URL`;
 * - an HTTP parse error on the socket (an unknown method such as BREW, an invalid
 *   Content-Length, headers over Node's limit): `clientErrorHandler` writes the response itself
 *   and records it through the HttpMetrics installed on the instance;
 * - the router's own errors (a path parameter over `maxParamLength`): `frameworkErrors`, recorded
 *   the same way.
 * Requests for a path with routes but not for this method get 405 with `Allow`; OPTIONS on such a
 * path gets 204 with `Allow`.
 */
import { randomUUID } from "node:crypto";
import { type IncomingMessage, METHODS, type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type {
  ConnectionError,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from "fastify";
import { errorBody, type FieldError, TugError } from "../core/errors.js";
import { httpMetricsOf, markAnsweredOnSocket } from "../metrics/http.js";

/** Where `rewriteUrl` sends a malformed URL: no route has it, so it is answered as unmatched. */
const INVALID_URL_PATH = "/__tug_invalid_url__";
/** A problem found before routing, answered by the preParsing hook with the normal hooks run. */
const PROBLEM = Symbol("tug.requestProblem");
/** The request id, for a parse error in the body that clientErrorHandler answers on the socket. */
const REQUEST_ID = Symbol("tug.requestId");
type MarkedRequest = IncomingMessage & { [PROBLEM]?: TugError; [REQUEST_ID]?: string };

function mark(req: IncomingMessage, problem: TugError): void {
  (req as MarkedRequest)[PROBLEM] = problem;
}

/** Fastify codes whose own message is safe and useful to pass on (they never quote input). */
const PASS_ON_MESSAGE = new Set(["FST_ERR_ROUTE_MISSING_CONTENT_TYPE"]);

function byStatus(status: number, message?: string): TugError {
  switch (status) {
    case 405:
      return new TugError("METHOD_NOT_ALLOWED", message);
    case 408:
      return new TugError("REQUEST_TIMEOUT", message);
    case 413:
      return new TugError("BODY_TOO_LARGE", message);
    case 414:
      return new TugError("URL_TOO_LONG", message);
    case 415:
      return new TugError("UNSUPPORTED_MEDIA_TYPE", message);
    case 417:
      return new TugError("EXPECTATION_FAILED", message);
    case 431:
      return new TugError("HEADERS_TOO_LARGE", message);
    default:
      return new TugError("BAD_REQUEST", message);
  }
}

interface ErrorLike {
  code?: unknown;
  statusCode?: unknown;
  status?: unknown;
  validation?: unknown;
  name?: unknown;
  message?: unknown;
}

/** The client's mistake this error stands for, or undefined when it is a server fault. */
function classify(error: unknown, req?: FastifyRequest): TugError | undefined {
  if (error instanceof TugError) return error;
  const e = (typeof error === "object" && error !== null ? error : {}) as ErrorLike;
  switch (e.code) {
    // The parser's own message quotes the body (which may hold a password): never echo it.
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new TugError("INVALID_JSON");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new TugError("INVALID_JSON", "The request body is empty; send a JSON object");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new TugError("UNSUPPORTED_MEDIA_TYPE");
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new TugError("BODY_TOO_LARGE");
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new TugError("BAD_REQUEST", "The request body is not as long as its Content-Length says");
    case "FST_ERR_BAD_URL":
      return new TugError("INVALID_URL");
    case "FST_ERR_MAX_PARAM_LENGTH":
      return new TugError("URL_TOO_LONG");
    // The request ended early: the client closed the connection or sent less than it declared.
    case "ECONNRESET":
    case "ERR_STREAM_PREMATURE_CLOSE":
      return new TugError("BAD_REQUEST", "The request ended before its body was complete");
  }
  if (req?.raw.aborted) return new TugError("BAD_REQUEST", "The client closed the connection");
  const status =
    typeof e.statusCode === "number" ? e.statusCode : typeof e.status === "number" ? e.status : 0;
  if (status < 400 || status > 499) return undefined;
  if (Array.isArray(e.validation)) {
    const details: FieldError[] = (e.validation as Array<{ instancePath?: string; message?: string }>).map(
      (v) => ({
        field: (v.instancePath ?? "").replace(/^\//, "").replace(/\//g, ".") || "body",
        message: v.message ?? "is invalid",
      }),
    );
    return new TugError("VALIDATION_FAILED", undefined, details);
  }
  if (e.name === "SyntaxError" && status === 400) return new TugError("INVALID_JSON");
  const message =
    typeof e.code === "string" && PASS_ON_MESSAGE.has(e.code) && typeof e.message === "string"
      ? e.message
      : undefined;
  return byStatus(status, message);
}

/** The routes' methods by path pattern, to tell 404 (no such path) from 405 (not this method). */
class RouteTable {
  private readonly routes: Array<{ url: string; methods: string[] }> = [];
  private compiled: Array<{ re: RegExp; methods: string[] }> | undefined;

  add(url: string, method: string | string[]): void {
    this.routes.push({ url, methods: Array.isArray(method) ? method : [method] });
    this.compiled = undefined;
  }

  /** Methods some route accepts on `path` (HEAD with GET, OPTIONS when there is any), sorted. */
  allowed(path: string): string[] {
    this.compiled ??= this.routes.map((r) => ({ re: patternRegExp(r.url), methods: r.methods }));
    const found = new Set<string>();
    for (const r of this.compiled) if (r.re.test(path)) for (const m of r.methods) found.add(m);
    if (found.size === 0) return [];
    if (found.has("GET")) found.add("HEAD");
    found.add("OPTIONS");
    return [...found].sort();
  }

  /** Every method any route accepts (for `OPTIONS *` and unknown methods on unknown paths). */
  all(): string[] {
    const found = new Set<string>(["OPTIONS"]);
    for (const r of this.routes) for (const m of r.methods) found.add(m);
    if (found.has("GET")) found.add("HEAD");
    return [...found].sort();
  }
}

/** A Fastify path pattern (`/a/:id/b`, `/files/*`) as an anchored RegExp over a decoded path. */
function patternRegExp(url: string): RegExp {
  let out = "";
  for (let i = 0; i < url.length; i++) {
    const c = url[i] as string;
    if (c === ":" && url[i + 1] !== ":") {
      while (i + 1 < url.length && /[A-Za-z0-9_]/.test(url[i + 1] as string)) i++;
      out += "[^/]+";
    } else if (c === ":") {
      out += ":";
      i++; // "::" is a literal colon in Fastify's syntax
    } else if (c === "*") {
      out += ".*";
    } else {
      out += c.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${out}$`);
}

const routeTables = new WeakMap<object, RouteTable>();

function pathOf(url: string): string {
  const q = url.indexOf("?");
  const raw = q === -1 ? url : url.slice(0, q);
  try {
    return decodeURI(raw);
  } catch {
    return raw; // rewriteUrl already sent undecodable URLs elsewhere; compare it as it came
  }
}

/**
 * The answer for a request no route matched: 404, 405 with `Allow` when the path has routes for
 * other methods, or (OPTIONS) 204 with `Allow`. Returns the error to send, or undefined when it
 * answered itself.
 */
function unmatched(
  table: RouteTable | undefined,
  req: FastifyRequest,
  reply: FastifyReply,
): TugError | undefined {
  const path = pathOf(req.url);
  const allow =
    path === "*" && req.method === "OPTIONS" ? (table?.all() ?? []) : (table?.allowed(path) ?? []);
  const notFound = new TugError("ROUTE_NOT_FOUND", `No route for ${req.method} ${path}`);
  if (allow.length === 0) return notFound;
  if (req.method === "OPTIONS") {
    reply.header("allow", allow.join(", ")).code(204).send();
    return undefined;
  }
  // A route that exists for this method but declined (reply.callNotFound()): 404 all the same.
  if (allow.includes(req.method)) return notFound;
  reply.header("allow", allow.join(", "));
  return new TugError(
    "METHOD_NOT_ALLOWED",
    `${req.method} is not allowed on ${path}; use ${allow.join(", ")}`,
  );
}

/** The `method path` of a request line that HTTP's parser gave up on, when it can be read. */
function requestLine(err: ConnectionError): { method: string; url: string } {
  const raw = (err as { rawPacket?: unknown }).rawPacket;
  const text = Buffer.isBuffer(raw) ? raw.subarray(0, 8300).toString("latin1") : "";
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}) (\S{1,8192}) HTTP\/\d\.\d\r?\n/.exec(text);
  return m ? { method: m[1] as string, url: m[2] as string } : { method: "", url: "" };
}

const KNOWN_METHODS = new Set(METHODS);

/** The answer to an HTTP parse error on the socket (Node gives no request or response then). */
function clientErrorFor(err: ConnectionError, method: string, allow: string[]): TugError {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return new TugError("HEADERS_TOO_LARGE", "The request line and headers exceed the server's limit");
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return new TugError("BODY_TOO_LARGE", "The chunk extensions are too large");
    case "ERR_HTTP_REQUEST_TIMEOUT":
    case "ERR_HTTP_HEADERS_TIMEOUT":
      return new TugError("REQUEST_TIMEOUT");
    case "HPE_INVALID_METHOD":
      // A request line with a method HTTP does not know (BREW): 405. Bytes that are no request
      // line at all (TLS to the plain port, a scanner's junk): 400.
      if (!method || KNOWN_METHODS.has(method))
        return new TugError("BAD_REQUEST", "The request line is not valid HTTP");
      return new TugError(
        "METHOD_NOT_ALLOWED",
        `This server does not know that method; use ${allow.join(", ")}`,
      );
    case "HPE_INVALID_CONTENT_LENGTH":
    case "HPE_UNEXPECTED_CONTENT_LENGTH":
      return new TugError(
        "BAD_REQUEST",
        "The Content-Length header is invalid (or sent with Transfer-Encoding)",
      );
    case "HPE_INVALID_CHUNK_SIZE":
      return new TugError("BAD_REQUEST", "The chunked body is malformed");
    case "HPE_INVALID_EOF_STATE":
      return new TugError("BAD_REQUEST", "The connection ended before the request was complete");
    default:
      return new TugError("BAD_REQUEST", `The request is not valid HTTP (${String(err.code).slice(0, 40)})`);
  }
}

/**
 * Answers an HTTP parse error in the API's error shape, with a fresh request id, one access line
 * and one count; `this` is the Fastify instance (Fastify binds it).
 */
function clientErrorHandler(this: FastifyInstance, err: ConnectionError, socket: Socket): void {
  // A reset connection has no one to answer: Fastify's default does nothing either.
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  // As Node's own handler: never write into a response that has already started on this socket.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  // A parse error inside the body of a request Fastify is serving (a malformed chunk): the answer
  // carries that request's id, and the request's own hooks count it and write its access line.
  const current = inFlight?.req as MarkedRequest | undefined;
  const line = requestLine(err);
  const table = routeTables.get(this);
  const allow = line.url ? (table?.allowed(pathOf(line.url)) ?? []) : [];
  const problem = clientErrorFor(err, line.method, allow.length > 0 ? allow : (table?.all() ?? ["GET"]));
  const id = current?.[REQUEST_ID] ?? randomUUID();
  const body = JSON.stringify(errorBody(problem, id));
  const headers = [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? "Error"}`,
    "content-type: application/json; charset=utf-8",
    `content-length: ${Buffer.byteLength(body)}`,
    `x-request-id: ${id}`,
    ...(problem.code === "METHOD_NOT_ALLOWED"
      ? [`allow: ${(allow.length > 0 ? allow : (table?.all() ?? [])).join(", ")}`]
      : []),
    "connection: close",
  ];
  if (socket.writable) socket.write(`${headers.join("\r\n")}\r\n\r\n${body}`);
  socket.destroy();
  if (current) {
    markAnsweredOnSocket(current, problem.status);
    return;
  }
  const log = this.log.child({ reqId: id });
  httpMetricsOf(this)?.recordOutside(
    { method: line.method, url: line.url, log },
    { getHeader: (name) => (name === "content-length" ? Buffer.byteLength(body) : undefined) },
    problem.status,
  );
}

/** The router's own errors (a bad URL it was given anyway, a parameter over maxParamLength). */
function frameworkErrors(error: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const problem = classify(error);
  if (!problem) req.log.error({ err: error }, "framework error");
  const err = problem ?? new TugError("INTERNAL");
  reply.header("x-request-id", req.id).code(err.status).send(errorBody(err, req.id));
  httpMetricsOf(req.server)?.recordOutside(req, reply, err.status);
}

/** Sends a malformed URL to INVALID_URL_PATH, marked, so that it is answered 400 by the hooks. */
function rewriteUrl(req: IncomingMessage): string {
  const url = req.url ?? "/";
  if (!url.includes("%")) return url;
  try {
    decodeURIComponent(url);
    return url;
  } catch {
    // A % that does not start a valid UTF-8 escape: neither the router nor the query parser can read it.
    mark(req, new TugError("INVALID_URL"));
    return INVALID_URL_PATH;
  }
}

/**
 * Constructor options for Fastify: `Fastify({ ...fastifyErrorOptions(), ... })`. Together with
 * installErrorHandling they answer every client error in the API's shape.
 */
export function fastifyErrorOptions(): Pick<
  FastifyServerOptions,
  "clientErrorHandler" | "frameworkErrors" | "rewriteUrl"
> {
  return {
    clientErrorHandler: clientErrorHandler as FastifyServerOptions["clientErrorHandler"],
    frameworkErrors: frameworkErrors as FastifyServerOptions["frameworkErrors"],
    rewriteUrl,
  };
}

/** One error shape everywhere: `{ error: { code, message, details? }, requestId }`. */
export function installErrorHandling(app: FastifyInstance): void {
  const table = new RouteTable();
  routeTables.set(app, table);
  app.addHook("onRoute", (route) => table.add(route.url, route.method));

  // `Expect` other than 100-continue: 417 (Node would answer it alone, with no id, line or count).
  // 100-continue with a declared body over the limit: 413 at once instead of "100 Continue".
  const bodyLimit = app.initialConfig.bodyLimit ?? 1_048_576;
  const server = app.server;
  const route = (req: IncomingMessage, res: ServerResponse) => server.emit("request", req, res);
  server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
    mark(req, new TugError("EXPECTATION_FAILED"));
    route(req, res);
  });
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    const declared = Number(req.headers["content-length"]);
    if (declared > bodyLimit) mark(req, new TugError("BODY_TOO_LARGE"));
    else res.writeContinue();
    route(req, res);
  });

  // After every onRequest hook (request id, metrics, auth) and before the body is read: problems
  // found before routing, and requests no route matched, are answered here — an unknown path
  // never has its body parsed, and a QUERY without Content-Type is a 404/405, not a 400.
  // Synchronously on arrival (the parser may hit a malformed chunk in the same packet): the id
  // clientErrorHandler answers with if this request's body turns out not to be valid HTTP.
  app.addHook("onRequest", (req, _reply, done) => {
    (req.raw as MarkedRequest)[REQUEST_ID] = req.id;
    done();
  });
  app.addHook("preParsing", (req, reply, payload, done) => {
    const problem = (req.raw as MarkedRequest)[PROBLEM];
    if (problem) return done(problem);
    if (!req.is404) return done(null, payload);
    const err = unmatched(table, req, reply);
    if (err) return done(err);
  });

  app.setErrorHandler((error: FastifyError, req, reply) => {
    const err = classify(error, req);
    if (err) {
      if (err.status >= 500) req.log.error({ err: error }, err.message);
      return reply.code(err.status).send(errorBody(err, req.id));
    }
    req.log.error({ err: error }, "unhandled error");
    const internal = new TugError("INTERNAL");
    return reply.code(500).send(errorBody(internal, req.id));
  });
  app.setNotFoundHandler((req, reply) => {
    const problem = (req.raw as MarkedRequest)[PROBLEM];
    const err = problem ?? unmatched(table, req, reply);
    if (err) return reply.code(err.status).send(errorBody(err, req.id));
    return reply;
  });
}
