import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/core/config/index.js";
import { type App, type AppOptions, buildApp } from "../../src/server.js";

export interface TestApp {
  app: App;
  url: string;
  dir: string;
  /** fetch against the app, JSON in and out. */
  call(
    method: string,
    path: string,
    opts?: { body?: unknown; token?: string; headers?: Record<string, string>; raw?: string },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** An app built but not yet listening (see `buildTestApp`). */
export interface BuiltTestApp {
  app: App;
  dir: string;
  /** Listen on 127.0.0.1 and port 0 and finish start-up; resolves once the app is ready. */
  listen(): Promise<TestApp>;
  /** The bound address once the socket listens (start-up may still be running), else undefined. */
  address(): string | undefined;
}

/** A real app on 127.0.0.1 and port 0, with its own temp dir for SQLite and logs. */
export async function startTestApp(
  env: Record<string, string> = {},
  opts: TestAppOptions = {},
): Promise<TestApp> {
  return (await buildTestApp(env, opts)).listen();
}

export interface TestAppOptions {
  now?: () => number;
  timers?: AppOptions["timers"];
  monitoring?: boolean;
  yaml?: string;
  plugins?: AppOptions["plugins"];
  omit?: AppOptions["omit"];
}

/**
 * As `startTestApp`, in two steps: for tests that must reach the app while its start-up is still
 * running (the socket listens before migrations and first checks finish) without choosing a port.
 */
export async function buildTestApp(
  env: Record<string, string> = {},
  opts: TestAppOptions = {},
): Promise<BuiltTestApp> {
  const dir = mkdtempSync(join(tmpdir(), "tug-test-"));
  // Logs go to the file only: tests read them there, and the test output stays readable.
  const yaml = join(dir, "tug.yml");
  writeFileSync(yaml, `log:\n  stdout: false\n${opts.yaml ?? ""}`);
  const config = loadConfig({
    MONITORING_CONFIG: yaml,
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: `sqlite:${join(dir, "tug.db")}`,
    LOG_FILE_PATH: join(dir, "app.log"),
    LOG_LEVEL: "warn",
    ...env,
  });
  const app = await buildApp({
    config,
    now: opts.now,
    timers: opts.timers,
    monitoring: opts.monitoring,
    plugins: opts.plugins,
    omit: opts.omit,
  });
  const address = (): string | undefined => {
    const a = app.fastify.server.address();
    return a && typeof a === "object" ? `http://${a.address}:${a.port}` : undefined;
  };
  const listen = async (): Promise<TestApp> => {
    const url = await app.listen();
    const call: TestApp["call"] = async (method, path, o = {}) => {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      let body: string | undefined = o.raw;
      if (o.body !== undefined) {
        headers["content-type"] = "application/json";
        body = JSON.stringify(o.body);
      }
      const res = await fetch(`${url}${path}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      if ((res.headers.get("content-type") ?? "").includes("json") && text) parsed = JSON.parse(text);
      return { status: res.status, body: parsed, headers: res.headers };
    };
    return { app, url, dir, call, close: () => app.close() };
  };
  return { app, dir, listen, address };
}
