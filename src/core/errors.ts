/**
 * The error catalog: every error a client or an operator can see has a stable code, an HTTP
 * status where it reaches a client, and a message that says what to do. docs/errors.md lists
 * the same codes; test/errors-doc.test.ts keeps the two in sync.
 */
export const ERROR_CATALOG = {
  CONFIG_INVALID: { status: 500, message: "The configuration is invalid" },
  VALIDATION_FAILED: { status: 400, message: "The request is invalid" },
  BAD_REQUEST: { status: 400, message: "The request is not valid HTTP" },
  INVALID_URL: {
    status: 400,
    message: "The URL is not valid: every % must start a UTF-8 escape such as %2F",
  },
  INVALID_JSON: { status: 400, message: "The request body is not valid JSON" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "Send the body as application/json" },
  BODY_TOO_LARGE: { status: 413, message: "The request body is too large" },
  URL_TOO_LONG: { status: 414, message: "A path segment of the URL is too long" },
  HEADERS_TOO_LARGE: { status: 431, message: "The request headers are too large" },
  REQUEST_TIMEOUT: { status: 408, message: "The request did not arrive in time" },
  EXPECTATION_FAILED: { status: 417, message: "Only Expect: 100-continue is supported" },
  METHOD_NOT_ALLOWED: {
    status: 405,
    message: "This method is not allowed here; the Allow header lists those that are",
  },
  UNAUTHENTICATED: { status: 401, message: "Authentication is required" },
  SESSION_EXPIRED: { status: 401, message: "The session has expired; log in again" },
  INVALID_CREDENTIALS: { status: 401, message: "The email or password is wrong" },
  FORBIDDEN: { status: 403, message: "You may not access this resource" },
  MONITORING_TOKEN_INVALID: { status: 403, message: "The monitoring token is wrong" },
  NOT_FOUND: { status: 404, message: "The resource does not exist" },
  ROUTE_NOT_FOUND: { status: 404, message: "No route matches this method and path" },
  EMAIL_TAKEN: { status: 409, message: "An account with this email exists already" },
  LOGIN_THROTTLED: { status: 429, message: "Too many login attempts; retry after Retry-After seconds" },
  LIMIT_EXCEEDED: {
    status: 429,
    message: "A bound on what the server accepts or stores is reached; details name it",
  },
  DATABASE_UNAVAILABLE: { status: 503, message: "The database is unavailable; retry later" },
  INTERNAL: { status: 500, message: "Something went wrong on our side" },
  METRIC_NAME_INVALID: { status: 500, message: "The metric or label name is invalid" },
  METRIC_TYPE_CONFLICT: { status: 500, message: "The metric name is already used with another type" },
  METRIC_LABELS_CONFLICT: { status: 500, message: "The metric name is already used with other label names" },
  METRIC_VALUE_INVALID: { status: 500, message: "The metric value is invalid" },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface FieldError {
  field: string;
  message: string;
}

/** An error with a catalog code; `details` carries per-field problems for 400s. */
export class TugError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: FieldError[] | undefined;

  constructor(code: ErrorCode, message?: string, details?: FieldError[], options?: { cause?: unknown }) {
    // A client error (4xx) is built without a stack trace: it only says where the input was
    // refused, nothing logs it, and capturing it was the largest single cost of a refusal (a 429
    // in a login flood). Server errors keep theirs.
    const limit = Error.stackTraceLimit;
    if (ERROR_CATALOG[code].status < 500) Error.stackTraceLimit = 0;
    try {
      super(message ?? ERROR_CATALOG[code].message, options);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = "TugError";
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    this.details = details;
  }
}

/** The one error body every endpoint returns. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: FieldError[] };
  requestId?: string;
}

export function errorBody(err: TugError, requestId?: string): ErrorBody {
  const body: ErrorBody = { error: { code: err.code, message: err.message } };
  if (err.details && err.details.length > 0) body.error.details = err.details;
  if (requestId) body.requestId = requestId;
  return body;
}
