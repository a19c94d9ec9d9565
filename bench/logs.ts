// Throughput of `tug logs analyze` (template mining with CSV output) on 1,000,000-line files built
// from the Loghub-2k samples: HDFS alone, all eight datasets concatenated, and HDFS given a format
// that fits none of its lines (every line is then mined whole; the format scan must still cost a
// line's length, not a search to the end of the chunk). Runs logsCommand in this process, a few
// times each, and reports the median lines per second and lines per CPU second.
//   npx tsx bench/logs.ts [--runs N] [--lines N]

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { logsCommand } from "../src/cli/logs.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const base = resolve(process.env.CONFORMANCE_DIR ?? resolve(repoRoot, "../shared/conformance"), "loghub2k");
if (!existsSync(base)) {
  console.error(`Loghub-2k data not found at ${base}: set CONFORMANCE_DIR to the folder holding loghub2k/`);
  process.exit(1);
}
const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const RUNS = opt("--runs", 3);
const LINES = opt("--lines", 1_000_000);
const settings = JSON.parse(readFileSync(join(base, "settings.json"), "utf8")) as Record<
  string,
  { log_format: string }
>;

function sample(ds: string): string[] {
  return readFileSync(join(base, ds, `${ds}_2k.log`), "utf8")
    .split("\n")
    .filter((l) => l.length > 0);
}

function build(path: string, lines: string[]): void {
  const block = `${lines.join("\n")}\n`;
  const reps = Math.ceil(LINES / lines.length);
  const parts: string[] = [];
  for (let r = 0; r < reps; r++) parts.push(block);
  const all = parts.join("");
  // Cut at exactly LINES lines.
  let pos = 0;
  for (let i = 0; i < LINES; i++) pos = all.indexOf("\n", pos) + 1;
  writeFileSync(path, all.slice(0, pos));
}

const dir = mkdtempSync(join(tmpdir(), "tug-logs-bench-"));
try {
  const hdfs = join(dir, "hdfs.log");
  build(hdfs, sample("HDFS"));
  // The eight datasets have different formats: the mixed file is mined as bare lines (no format).
  const mixed = join(dir, "mixed.log");
  build(
    mixed,
    Object.keys(settings).flatMap((ds) => sample(ds)),
  );
  const cases: Array<{ name: string; file: string; format: string | undefined }> = [
    { name: "HDFS x500 (--format)", file: hdfs, format: settings.HDFS?.log_format },
    { name: "all eight x62.5 (no format)", file: mixed, format: undefined },
    {
      name: "HDFS x500, a format that fits no line",
      file: hdfs,
      format: "<Date> <Time> <Pid> <Level> <Component>| <Content>",
    },
  ];
  for (const c of cases) {
    const rates: number[] = [];
    const cpuRates: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const out = join(dir, "out.csv");
      let text = "";
      const args = ["analyze", c.file, "--output", out, "--top", "3"];
      if (c.format !== undefined) args.push("--format", c.format);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const code = await logsCommand(
        args,
        (s) => {
          text += s;
        },
        (s) => process.stderr.write(s),
      );
      const secs = (performance.now() - t0) / 1000;
      // CPU seconds of this process: on a shared, loaded machine wall time measures the other
      // processes too; the CPU-time rate is what one free core does.
      const cu = process.cpuUsage(c0);
      const cpuSecs = (cu.user + cu.system) / 1e6;
      cpuRates.push(LINES / cpuSecs);
      if (code !== 0) throw new Error(`logsCommand exited ${code}`);
      rates.push(LINES / secs);
      if (r === 0) {
        const first = text.split("\n")[0];
        console.log(`${c.name}: ${(statSync(c.file).size / 1e6).toFixed(0)} MB; ${first}`);
      }
      console.log(
        `  run ${r + 1}: ${secs.toFixed(2)} s, ${Math.round(LINES / secs).toLocaleString("en-US")} lines/s; ${cpuSecs.toFixed(2)} CPU s, ${Math.round(LINES / cpuSecs).toLocaleString("en-US")} lines per CPU second`,
      );
    }
    rates.sort((a, b) => a - b);
    const median = rates[Math.floor(rates.length / 2)] as number;
    cpuRates.sort((a, b) => a - b);
    const cpuMedian = cpuRates[Math.floor(cpuRates.length / 2)] as number;
    console.log(
      `  median: ${Math.round(median).toLocaleString("en-US")} lines/s, ${Math.round(cpuMedian).toLocaleString("en-US")} lines per CPU second (${RUNS} runs, with CSV output; load average ${loadavg()[0]?.toFixed(1)})`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
