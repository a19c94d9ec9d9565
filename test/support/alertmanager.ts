/**
 * A real Alertmanager 0.25 (Debian's prometheus-alertmanager, installed on demand) on a free
 * loopback port with clustering off, and a local HTTP server that records what receivers get.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePackage, freePort } from "./services.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RealAlertmanager {
  url: string;
  post(alerts: unknown[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startAlertmanager(configYaml: string, externalUrl?: string): Promise<RealAlertmanager> {
  const binary = await ensurePackage("prometheus-alertmanager", "prometheus-alertmanager");
  const dir = mkdtempSync(join(tmpdir(), "tug-am-"));
  writeFileSync(join(dir, "alertmanager.yml"), configYaml);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = "";
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${join(dir, "alertmanager.yml")}`,
      `--storage.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--web.external-url=${externalUrl ?? url}`,
      // No gossip: a single instance, nothing listening beyond loopback, no settle wait.
      "--cluster.listen-address=",
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  child.stderr?.on("data", (d) => {
    log = (log + d).slice(-8000);
  });
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  const deadline = Date.now() + 60_000;
  while (
    !(await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline || child.exitCode !== null) {
      kill();
      throw new Error(`alertmanager did not start: ${log.slice(-2000)}`);
    }
    await sleep(100);
  }
  return {
    url,
    async post(alerts) {
      const r = await fetch(`${url}/api/v2/alerts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(alerts),
      });
      if (!r.ok) throw new Error(`alertmanager refused alerts: ${r.status} ${await r.text()}`);
    },
    async stop() {
      process.removeListener("exit", kill);
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Received {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  /** The status this recorder answered. */
  answered: number;
}

export interface Recorder {
  url: string;
  received: Received[];
  /** Answer with this status (or refuse connections when "down"). */
  mode: { status: number; down: boolean };
  close(): Promise<void>;
  /** Closes the listening socket (connections refused) until `up`. */
  down(): Promise<void>;
  up(): Promise<void>;
}

/** A local receiver that records every request; it can answer errors or go away. */
export async function startRecorder(port = 0): Promise<Recorder> {
  const received: Received[] = [];
  const mode = { status: 200, down: false };
  const make = (): Server =>
    createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        received.push({
          at: Date.now(),
          path: req.url ?? "",
          headers: req.headers,
          body,
          json,
          answered: mode.status,
        });
        res.writeHead(mode.status, { "content-type": "text/plain" }).end(mode.status < 300 ? "ok" : "error");
      });
    });
  let server = make();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  const actualPort = (server.address() as { port: number }).port;
  const closeServer = (s: Server) =>
    new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });
  return {
    url: `http://127.0.0.1:${actualPort}`,
    received,
    mode,
    close: () => closeServer(server),
    async down() {
      mode.down = true;
      await closeServer(server);
    },
    async up() {
      mode.down = false;
      server = make();
      await new Promise<void>((r) => server.listen(actualPort, "127.0.0.1", r));
    },
  };
}
