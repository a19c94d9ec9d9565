/// <reference lib="dom" />
// The page's only way to the server: fetch with the monitoring token in the Authorization header,
// never in a URL (so never in an access log or the browser's history). The token lives in
// sessionStorage: gone when the tab closes, not sent by the browser on its own (no cookie), so
// another site cannot make the browser use it. The live stream is read with fetch too, because
// EventSource cannot send a header.

const TOKEN_KEY = "tug.monitoring.token";

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage refused (privacy mode): the page asks for the token each time
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused: the token lasts as long as this page's memory (below).
  }
  memoryToken = token;
}

let memoryToken: string | null = null;

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = getToken() ?? memoryToken;
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

/** An HTTP error with the API's message (`{error:{code,message}}`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function failure(res: Response): Promise<ApiError> {
  let code = `HTTP_${res.status}`;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as {
      error?:
        | { code?: string; message?: string; details?: Array<{ field: string; message: string }> }
        | string;
    };
    if (typeof body.error === "object" && body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
      // Each wrong field and why (a 400's details): "Invalid query: check from (from must be before to)".
      const d = (body.error.details ?? []).map((x) => `${x.field} ${x.message}`);
      if (d.length > 0) message = `${message} (${d.join("; ")})`;
    } else if (typeof body.error === "string") message = body.error;
  } catch {
    // Not JSON (a proxy's page): the status line says enough.
  }
  return new ApiError(res.status, code, message);
}

/** GET or send JSON; resolves the JSON body, rejects with ApiError. */
export async function api<T = unknown>(
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? "GET",
    headers: headers(init.body !== undefined ? { "content-type": "application/json" } : {}),
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    credentials: "omit",
    cache: "no-store",
  });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

export interface StreamHandlers {
  onEvent(event: string, data: string): void;
  onOpen(): void;
  onError(err: Error): void;
}

/**
 * Reads a server-sent event stream with fetch (so the token goes in a header), reconnecting
 * after a pause when it ends; returns a function that stops it.
 */
export function stream(path: string, h: StreamHandlers): () => void {
  const ctl = new AbortController();
  let stopped = false;
  const run = async () => {
    while (!stopped) {
      try {
        const res = await fetch(path, {
          headers: headers({ accept: "text/event-stream" }),
          signal: ctl.signal,
          cache: "no-store",
        });
        if (!res.ok || !res.body) throw await failure(res);
        h.onOpen();
        await readEvents(res.body, h.onEvent);
        if (!stopped) h.onError(new Error("the live stream ended; reconnecting"));
      } catch (err) {
        if (stopped) return;
        h.onError(err as Error);
        if (err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 400))
          return;
      }
      await new Promise((r) => setTimeout(r, 3000));
    }
  };
  void run();
  return () => {
    stopped = true;
    ctl.abort();
  };
}

async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (e: string, d: string) => void) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    for (let end = buf.indexOf("\n\n"); end >= 0; end = buf.indexOf("\n\n")) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length > 0) onEvent(event, data.join("\n"));
    }
  }
}
