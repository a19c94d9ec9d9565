import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// src/promql's modules import each other one way (docs/architecture.md): functions get evaluated
// arguments instead of calling back into the evaluator, and the range plan reads the store
// through an interface. This keeps it so without running madge over the whole tree.

const DIR = fileURLToPath(new URL("../../src/promql/", import.meta.url));

/** Each module's sibling imports (type-only imports included: they tie modules together too). */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of readdirSync(DIR).filter((x) => x.endsWith(".ts") && !x.endsWith(".d.ts"))) {
    const text = readFileSync(join(DIR, f), "utf8");
    const deps = [...text.matchAll(/from "\.\/([\w-]+)\.js"/g)].map((m) => `${m[1]}.ts`);
    g.set(f, [...new Set(deps)]);
  }
  return g;
}

/** A cycle as a list of modules, or null. */
function findCycle(g: Map<string, string[]>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === "done") return null;
    if (state.get(n) === "open") return [...path.slice(path.indexOf(n)), n];
    state.set(n, "open");
    path.push(n);
    for (const d of g.get(n) ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    state.set(n, "done");
    return null;
  };
  for (const n of g.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

describe("src/promql's imports", () => {
  const g = graph();

  it("form no cycle", () => {
    expect(g.size).toBeGreaterThan(10);
    expect(findCycle(g)).toBeNull();
  });

  it("keep the evaluator out of the functions, the range plan and the shared kernels", () => {
    for (const m of ["function-implementations.ts", "rangeeval.ts", "kernels.ts"])
      expect(g.get(m), m).not.toContain("engine.ts");
    // The kernels are a leaf: only the limits' guard type and the value module's error.
    expect(g.get("kernels.ts")?.sort()).toEqual(["limits.ts", "value.ts"]);
  });

  it("finds a cycle when there is one (the check itself can fail)", () => {
    const bad = new Map(g);
    bad.set("kernels.ts", [...(g.get("kernels.ts") ?? []), "engine.ts"]);
    expect(findCycle(bad)).not.toBeNull();
  });
});
