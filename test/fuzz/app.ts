/**
 * The real app the HTTP fuzz properties send to, and a request with a client-side time limit
 * (a server that does not answer within it has hung, which the properties report).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestApp, type TestApp } from "../support/app.js";

/**
 * An app whose notifier delivers nowhere (one receiver, no integrations), that samples every
 * second, and whose query timeout (5 s) is well below the properties' client-side limit, so that
 * a query without a `timeout` of its own ends before the client would call it a hang.
 */
export async function startFuzzApp(): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), "tug-fuzz-app-"));
  const am = join(dir, "alertmanager.yml");
  writeFileSync(am, "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n");
  return startTestApp(
    {},
    {
      yaml: [
        "tsdb:",
        "  scrapeIntervalMs: 1000",
        "engine:",
        "  queryTimeoutMs: 5000",
        "notifications:",
        `  alertmanagerConfig: ${JSON.stringify(am)}`,
        "",
      ].join("\n"),
    },
  );
}

export interface Answer {
  status: number;
  /** Parsed JSON when the answer was JSON, else the text. */
  body: unknown;
  contentType: string;
}

/** One request; throws "no answer within N ms" when the server does not answer in time. */
export async function send(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string },
  limitMs: number,
): Promise<Answer> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(limitMs) });
    text = await res.text();
  } catch (err) {
    const e = err as Error;
    if (e.name === "TimeoutError" || e.name === "AbortError")
      throw new Error(`no answer within ${limitMs} ms`);
    throw err;
  }
  const contentType = res.headers.get("content-type") ?? "";
  let body: unknown = text;
  if (contentType.includes("json") && text !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      body = text; // reported by the caller as a malformed JSON answer
    }
  }
  return { status: res.status, body, contentType };
}

/** The liveness probe answers 200 within `limitMs`. */
export async function live(base: string, limitMs: number): Promise<true> {
  const r = await send(`${base}/monitoring/health/live`, {}, limitMs);
  if (r.status !== 200) throw new Error(`/monitoring/health/live answered ${r.status}`);
  return true;
}
