/**
 * The built-in dashboard's cost (issue 15), on a real app in its own process (bench/server.ts,
 * monitored, default configuration: 5 s scrapes, so one evaluation per view every 5 s):
 *
 * - weight: the bytes the page transfers (HTML, script, stylesheet; gzip as served). Target ≤ 200 kB.
 * - server CPU of live clients: the app process's CPU time (/proc/<pid>/stat, all its threads:
 *   API, engine worker, esbuild excluded as it ran at start) while N pages watch, against 1 page
 *   watching the same view in the same run, interleaved over rounds. Target: 100 clients cost
 *   ≤ 5 % of one core more than 1. Also 100 pages spread over the 7 views against 7 (one each).
 * - first view rendered (with --browser, Debian's chromium): from navigation to the Overview's
 *   figures and first chart drawn, on loopback. Target ≤ 1 s.
 *
 * - throughput while they watch: req/s of GET /api/v1/users/me (autocannon, 50 connections) with
 *   100 pages watching against none, interleaved. bench/run.ts's target is monitored / no
 *   monitoring ≥ 0.90; this ratio is what the watchers take off the monitored side of it.
 *
 *   npx tsx bench/dashboard.ts [--seconds 20] [--rounds 2] [--clients 100] [--browser]
 */
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { startBenchChild } from "./variants.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    rounds: { type: "string", default: "2" },
    clients: { type: "string", default: "100" },
    browser: { type: "boolean", default: false },
  },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const clients = Number(values.clients);
const VIEWS = ["overview", "traffic", "errors", "resources", "alerts", "deployments", "users"];

const { child, ready } = await startBenchChild("monitored");

/** CPU seconds (user + system, every thread) of the app's process. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Bytes on the wire of a GET with gzip accepted (node:http does not decompress). */
function wireBytes(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(`${ready.url}${path}`, { headers: { "accept-encoding": "gzip" } }, (res) => {
      let n = 0;
      res.on("data", (c: Buffer) => {
        n += c.length;
      });
      res.on("end", () => resolve(n));
    })
      .on("error", reject)
      .end();
  });
}

async function weight(): Promise<{ html: number; js: number; css: number; total: number }> {
  const page = await (await fetch(`${ready.url}/monitoring/`)).text();
  const js = /src="([^"]+\.js)"/.exec(page)?.[1] as string;
  const css = /href="([^"]+\.css)"/.exec(page)?.[1] as string;
  const [h, j, c] = await Promise.all([wireBytes("/monitoring/"), wireBytes(js), wireBytes(css)]);
  return { html: h, js: j, css: c, total: h + j + c };
}

/** `n` pages watching, spread over `views`; resolves once each got its first frame. */
async function watch(n: number, views: string[]): Promise<() => void> {
  const ctl = new AbortController();
  const firsts = Array.from({ length: n }, (_, i) => {
    const view = views[i % views.length];
    return new Promise<void>((resolve, reject) => {
      void (async () => {
        try {
          const res = await fetch(`${ready.url}/monitoring/dashboard/live?view=${view}&range=1h`, {
            signal: ctl.signal,
          });
          if (!res.ok || !res.body) throw new Error(`live answered ${res.status}`);
          const reader = res.body.getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            if (Buffer.from(value).includes("event: data")) resolve();
          }
        } catch (err) {
          reject(err); // after the first frame: the phase's end aborted it, and this is a no-op
        }
      })();
    });
  });
  await Promise.all(firsts);
  return () => ctl.abort();
}

/** Waits until the app counts no live page (the previous phase's streams are gone). */
async function drained(): Promise<void> {
  let seen: string | undefined;
  for (let i = 0; i < 600; i++) {
    const text = await (await fetch(`${ready.url}/monitoring/metrics`)).text();
    seen = /^dashboard_live_clients (\S+)$/m.exec(text)?.[1];
    if (seen === "0") return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the app still counts ${seen} live pages 60 s after they left`);
}

async function phase(n: number, views: string[]): Promise<number> {
  const stop = await watch(n, views);
  const c0 = cpuSeconds(ready.pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const share = (cpuSeconds(ready.pid) - c0) / ((performance.now() - t0) / 1000);
  stop();
  await drained();
  return share;
}

function load(): Promise<number> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${ready.url}/api/v1/users/me`,
        connections: 50,
        duration: seconds,
        headers: { authorization: `Bearer ${ready.token}` },
      },
      (err, r) =>
        err
          ? reject(err)
          : r.non2xx > 0
            ? reject(new Error(`${r.non2xx} non-2xx`))
            : resolve(r.requests.average),
    );
  });
}

/** req/s with no page watching, then with `clients` pages spread over the views. */
async function throughput(): Promise<{ alone: number; watched: number }> {
  const alone = await load();
  const stop = await watch(clients, VIEWS);
  const watched = await load();
  stop();
  await drained();
  return { alone, watched };
}

async function firstView(): Promise<number[]> {
  const { default: puppeteer } = await import("puppeteer-core");
  const browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],
  });
  const times: number[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const page = await browser.newPage();
      await page.setViewport({ width: 1400, height: 1000 });
      const t0 = performance.now();
      await page.goto(`${ready.url}/monitoring/#/overview`, { waitUntil: "domcontentloaded" });
      await page.waitForFunction(
        () =>
          Array.from(document.querySelectorAll(".card .value")).every((e) => !e.textContent?.includes("…")) &&
          document.querySelector("[data-panel] canvas") !== null,
        { timeout: 30_000, polling: "raf" },
      );
      times.push(performance.now() - t0);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  return times;
}

try {
  const w = await weight();
  console.log(
    `weight (gzip, on the wire): html ${w.html} B, script ${w.js} B, stylesheet ${w.css} B, total ${(w.total / 1000).toFixed(1)} kB`,
  );
  const rows: Array<{ one: number; many: number; seven: number; spread: number }> = [];
  for (let r = 0; r < rounds; r++) {
    const one = await phase(1, ["overview"]);
    const many = await phase(clients, ["overview"]);
    const seven = await phase(VIEWS.length, VIEWS);
    const spread = await phase(clients, VIEWS);
    rows.push({ one, many, seven, spread });
    console.log(
      `round ${r + 1}: CPU share of one core — 1 page ${(one * 100).toFixed(2)} %, ${clients} pages ${(many * 100).toFixed(2)} %; ` +
        `7 pages (one a view) ${(seven * 100).toFixed(2)} %, ${clients} over 7 views ${(spread * 100).toFixed(2)} %`,
    );
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const tp: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const { alone, watched } = await throughput();
    tp.push(watched / alone);
    console.log(
      `round ${r + 1}: GET /api/v1/users/me ${Math.round(alone)} req/s alone, ${Math.round(watched)} with ${clients} pages watching`,
    );
  }
  const extra = med(rows.map((x) => x.many - x.one)) * 100;
  const extraSpread = med(rows.map((x) => x.spread - x.seven)) * 100;
  console.log(
    `${extra <= 5 ? "PASS" : "MISS"}  ${clients} pages cost ${extra.toFixed(2)} % of a core more than 1 (median; target ≤ 5 %)`,
  );
  console.log(`      ${clients} pages over 7 views cost ${extraSpread.toFixed(2)} % of a core more than 7`);
  console.log(
    `${w.total <= 200_000 ? "PASS" : "MISS"}  page weight ${(w.total / 1000).toFixed(1)} kB gzipped (target ≤ 200 kB)`,
  );
  console.log(`      throughput with ${clients} pages watching / without: ${med(tp).toFixed(3)} (median)`);
  if (values.browser) {
    const t = await firstView();
    const m = med(t);
    console.log(
      `${m <= 1000 ? "PASS" : "MISS"}  first view rendered: median ${Math.round(m)} ms of ${t.map((x) => Math.round(x)).join(", ")} (target ≤ 1 s)`,
    );
  }
} finally {
  child.kill("SIGTERM");
}
