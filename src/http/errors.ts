import type { FastifyError, FastifyInstance } from "fastify";
import { errorBody, TugError } from "../core/errors.js";

function fromFastify(err: FastifyError): TugError | undefined {
  switch (err.code) {
    // The parser's own message quotes the body (which may hold a password): never echo it.
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new TugError("INVALID_JSON");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new TugError("INVALID_JSON", "The request body is empty; send a JSON object");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new TugError("UNSUPPORTED_MEDIA_TYPE");
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new TugError("BODY_TOO_LARGE");
    default:
      if (err instanceof SyntaxError && (err as { statusCode?: number }).statusCode === 400) {
        return new TugError("INVALID_JSON");
      }
      return undefined;
  }
}

/** One error shape everywhere: `{ error: { code, message, details? }, requestId }`. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, req, reply) => {
    const err = error instanceof TugError ? error : fromFastify(error);
    if (err) {
      if (err.status >= 500) req.log.error({ err: error }, err.message);
      return reply.code(err.status).send(errorBody(err, req.id));
    }
    req.log.error({ err: error }, "unhandled error");
    const internal = new TugError("INTERNAL");
    return reply.code(500).send(errorBody(internal, req.id));
  });
  app.setNotFoundHandler((req, reply) => {
    const err = new TugError("ROUTE_NOT_FOUND", `No route for ${req.method} ${req.url.split("?")[0]}`);
    return reply.code(404).send(errorBody(err, req.id));
  });
}
