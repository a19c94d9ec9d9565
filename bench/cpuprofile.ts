/**
 * Summarise V8 .cpuprofile files (from `npm run bench -- --profile <variants>`): where the
 * busy time goes, per function (self and inclusive) and per source file or package.
 *
 *   npx tsx bench/cpuprofile.ts bench/results/profiles/monitored-r1/CPU.*.cpuprofile [--top 30]
 *   npx tsx bench/cpuprofile.ts --match src/metrics/ <profile>   # only frames whose file matches
 *   npx tsx bench/cpuprofile.ts --versus <baseline profile> --requests 180000 <profile>
 *
 * Percentages are of busy time (idle excluded). With --requests (requests served while the
 * profile ran, the same in both) times are also given in µs per request, and --versus prints
 * where self time grew against a baseline profile: the cost a variant adds per request.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  if (url === "") return "(native/vm)";
  if (url.startsWith("node:")) return url;
  let path = url;
  try {
    if (url.startsWith("file:")) path = fileURLToPath(url);
  } catch {
    // keep the URL as it is
  }
  const nm = path.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = path.slice(nm + "node_modules/".length).split("/");
    return `npm:${rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  return relative(process.cwd(), path);
}

const fnKey = (f: CallFrame) =>
  `${f.functionName || "(anonymous)"} ${where(f.url)}${f.url ? `:${f.lineNumber + 1}` : ""}`;

interface Summary {
  busyMs: number;
  idleMs: number;
  selfByFn: Map<string, number>;
  totalByFn: Map<string, number>;
  selfByFile: Map<string, number>;
  totalByFile: Map<string, number>;
}

function summarise(profile: CpuProfile): Summary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const s: Summary = {
    busyMs: 0,
    idleMs: 0,
    selfByFn: new Map(),
    totalByFn: new Map(),
    selfByFile: new Map(),
    totalByFile: new Map(),
  };
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  // timeDeltas[i] is the gap before sample i: charge it to the sample before, as DevTools does.
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const node = byId.get(profile.samples[i] as number);
    if (!node) continue;
    if (node.callFrame.functionName === "(idle)") {
      s.idleMs += ms;
      continue;
    }
    s.busyMs += ms;
    add(s.selfByFn, fnKey(node.callFrame), ms);
    add(s.selfByFile, where(node.callFrame.url), ms);
    const fns = new Set<string>();
    const files = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = (byId.get(id) as ProfileNode).callFrame;
      if (f.functionName === "(root)") continue;
      fns.add(fnKey(f));
      files.add(where(f.url));
    }
    for (const k of fns) add(s.totalByFn, k, ms);
    for (const k of files) add(s.totalByFile, k, ms);
  }
  return s;
}

function table(
  title: string,
  m: Map<string, number>,
  busyMs: number,
  top: number,
  match?: string,
  per?: number,
): void {
  console.log(`\n${title}`);
  const rows = [...m.entries()].filter(([k]) => !match || k.includes(match)).sort((a, b) => b[1] - a[1]);
  for (const [k, ms] of rows.slice(0, top)) {
    const us = per ? `${(ms * per).toFixed(2).padStart(7)} µs/req  ` : "";
    console.log(
      `  ${((ms / busyMs) * 100).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(6)} ms  ${us}${k}`,
    );
  }
}

function delta(
  title: string,
  base: Map<string, number>,
  m: Map<string, number>,
  per: number,
  top: number,
): void {
  console.log(`\n${title} (µs per request: variant - baseline)`);
  const keys = new Set([...base.keys(), ...m.keys()]);
  const rows = [...keys]
    .map((k) => [k, ((m.get(k) ?? 0) - (base.get(k) ?? 0)) * per] as const)
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  for (const [k, us] of rows.slice(0, top))
    console.log(`  ${us >= 0 ? "+" : ""}${us.toFixed(2).padStart(6)} µs  ${k}`);
}

const load = (file: string) => summarise(JSON.parse(readFileSync(file, "utf8")) as CpuProfile);

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: "string", default: "25" },
      match: { type: "string" },
      versus: { type: "string" },
      requests: { type: "string" },
    },
  });
  const top = Number(values.top);
  const requests = values.requests ? Number(values.requests) : undefined;
  const per = requests ? 1000 / requests : undefined;
  const base = values.versus ? load(values.versus) : undefined;
  for (const file of positionals) {
    const s = load(file);
    if (base && per) {
      console.log(
        `\n=== ${file} vs ${values.versus}: busy ${(s.busyMs * per).toFixed(1)} vs ${(base.busyMs * per).toFixed(1)} µs/request`,
      );
      delta("self time by file / package", base.selfByFile, s.selfByFile, per, top);
      delta("self time by function", base.selfByFn, s.selfByFn, per, top);
      continue;
    }
    console.log(`\n=== ${file}: busy ${s.busyMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms`);
    table("inclusive time by file / package", s.totalByFile, s.busyMs, top, values.match, per);
    table("self time by file / package", s.selfByFile, s.busyMs, top, values.match, per);
    table("self time by function", s.selfByFn, s.busyMs, top, values.match, per);
    table("inclusive time by function", s.totalByFn, s.busyMs, top, values.match, per);
  }
}

main();
