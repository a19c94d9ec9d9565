// What the Docker image runs, built and started here so that its path cannot rot unseen: `npm run
// build`'s compiler output in dist/, started through bin/tug.js from a folder laid out as the
// image's runtime stage lays it out (dist/, bin/, package.json, node_modules, the two monitoring
// files; no src/), answering its probes, its health and its dashboard.

import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./support/services.js";
import { waitFor } from "./support/wait.js";

const ROOT = new URL("..", import.meta.url).pathname;
let dir = "";
let child: ReturnType<typeof spawn> | undefined;
let base = "";
let output = "";

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.stderr.on("data", (d) => {
      out += d;
    });
    p.on("close", (code) => resolve({ code: code ?? -1, out }));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tug-image-"));
  // `npm run build` is `tsc -p tsconfig.build.json`; here into the image folder's dist/.
  const built = await run(
    process.execPath,
    [
      join(ROOT, "node_modules/typescript/bin/tsc"),
      "-p",
      join(ROOT, "tsconfig.build.json"),
      "--outDir",
      join(dir, "dist"),
    ],
    ROOT,
  );
  expect(built.code, built.out).toBe(0);
  cpSync(join(ROOT, "bin"), join(dir, "bin"), { recursive: true });
  cpSync(join(ROOT, "package.json"), join(dir, "package.json"));
  mkdirSync(join(dir, "monitoring"));
  for (const f of ["alert_rules.yml", "slo_rules.yml", "alertmanager.yml", "escalation.yml"])
    cpSync(join(ROOT, "monitoring", f), join(dir, "monitoring", f));
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, [join(dir, "bin/tug.js"), "serve"], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      NODE_ENV: "production",
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_URL: `sqlite:${join(dir, "data/tug.db")}`,
      LOG_FILE_PATH: join(dir, "logs/application.log"),
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
}, 300_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child?.on("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
});

describe("the built app, as the Docker image runs it", () => {
  it("starts from dist/ and turns ready", async () => {
    const ready = await waitFor(
      "the built app's readiness probe",
      async () => {
        if (child?.exitCode !== null) throw new Error(`the built app exited: ${output.slice(-2000)}`);
        const r = await fetch(`${base}/monitoring/health/ready`).catch(() => undefined);
        return r?.status === 200 ? r : undefined;
      },
      { timeoutMs: 60_000, last: () => output.slice(-500) },
    );
    expect(ready.status).toBe(200);
    expect((await fetch(`${base}/monitoring/health/live`)).status).toBe(200);
    const health = await fetch(`${base}/monitoring/health`);
    const body = (await health.json()) as { checks: Array<{ name: string; status: string }> };
    expect(body.checks.find((c) => c.name === "database")?.status).toBe("pass");
  });

  it("serves what the app serves from a checkout: the API and the dashboard page", async () => {
    const r = await fetch(`${base}/api/v1/users/me`);
    expect(r.status).toBe(401);
    const page = await fetch(`${base}/monitoring/`);
    expect(page.status, await page.clone().text()).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
  });
});
