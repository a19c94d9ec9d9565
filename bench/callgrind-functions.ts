/**
 * Own instructions per function from a callgrind dump, with V8's compiled JavaScript named: the
 * dump knows JIT code only by address, and node's `--perf-basic-prof` writes the names of those
 * addresses to /tmp/perf-<pid>.map (start, size, name per line). Used by `bench/instructions.ts
 * --functions N` to say where two variants' request paths differ, function by function.
 *
 * A function's name keeps its file and position (`finish src/metrics/http.ts:1:3200`) but not
 * V8's tier marker (`*` optimized, `^` baseline, `~` interpreted), so the same function compiled
 * twice counts as one. Native functions keep callgrind's name.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

interface JitRange {
  start: number;
  end: number;
  name: string;
}

function readPerfMap(path: string): JitRange[] {
  if (!existsSync(path)) return [];
  const ranges: JitRange[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const [start, size, ...name] = line.split(" ");
    if (!start || !size || name.length === 0) continue;
    const s = Number.parseInt(start, 16);
    ranges.push({ start: s, end: s + Number.parseInt(size, 16), name: name.join(" ") });
  }
  return ranges.sort((a, b) => a.start - b.start);
}

function nameAt(ranges: JitRange[], address: number): string {
  let lo = 0;
  let hi = ranges.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((ranges[mid] as JitRange).start <= address) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  const r = ranges[best];
  return r && address < r.end ? r.name : "(JIT code not in the perf map)";
}

const cleanJsName = (name: string, root: string) =>
  name
    .replace(/^(JS|LazyCompile|Function|Script):[*~^+]?/, "")
    .replaceAll(`file://${root}/`, "")
    .replaceAll(`${root}/`, "");

/** Own (exclusive) instructions by function name in `dump`, JIT code named through `perfMap`. */
export function selfByFunction(dump: string, perfMap: string, root: string): Map<string, number> {
  const ranges = readPerfMap(perfMap);
  const annotated = execFileSync("callgrind_annotate", ["--show=Ir", "--threshold=100", dump], {
    maxBuffer: 1 << 28,
    stdio: ["ignore", "pipe", "ignore"],
  }).toString();
  const own = new Map<string, number>();
  for (const line of annotated.split("\n")) {
    const m = /^\s*([\d,]+) \([^)]*\)\s+(.*)$/.exec(line);
    if (!m || (m[2] as string).includes("PROGRAM TOTALS")) continue;
    const count = Number((m[1] as string).replaceAll(",", ""));
    const fn = m[2] as string;
    const jit = /^\?\?\?:0x([0-9a-f]+) \[\?\?\?\]/.exec(fn);
    const name = jit
      ? cleanJsName(nameAt(ranges, Number.parseInt(jit[1] as string, 16)), root)
      : fn.replace(/\s*\[.*$/, "").replace(/^\?\?\?:/, "");
    own.set(name, (own.get(name) ?? 0) + count);
  }
  return own;
}

/** The `top` functions whose own count per request differs most between `a` and `b`. */
export function largestDifferences(
  a: Map<string, number>,
  b: Map<string, number>,
  perRequestA: number,
  perRequestB: number,
  top: number,
): Array<{ name: string; a: number; b: number; diff: number }> {
  const names = new Set([...a.keys(), ...b.keys()]);
  return [...names]
    .map((name) => {
      const x = (a.get(name) ?? 0) / perRequestA;
      const y = (b.get(name) ?? 0) / perRequestB;
      return { name, a: x, b: y, diff: y - x };
    })
    .sort((p, q) => Math.abs(q.diff) - Math.abs(p.diff))
    .slice(0, top);
}
