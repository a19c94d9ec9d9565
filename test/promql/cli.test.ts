import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { promqlCommand } from "../../src/cli/promql.js";
import { runSync } from "../support/cli.js";

const run = (argv: string[]) => runSync(promqlCommand, argv);

describe("tug promql test", () => {
  const dir = mkdtempSync(join(tmpdir(), "promql-cli-"));
  const good = join(dir, "good.test");
  const bad = join(dir, "bad.test");
  writeFileSync(good, 'load 1m\n  m{a="1"} 1 2\n\neval instant at 1m m\n  m{a="1"} 2\n');
  writeFileSync(bad, 'load 1m\n  m{a="1"} 1 2\n\neval instant at 1m m * 2\n  {a="1"} 5\n');

  it("prints per-file counts and exits 0 when all cases pass", () => {
    expect(run(["test", good])).toEqual({ code: 0, out: `${good}: 1 passed, 0 failed\n`, err: "" });
  });

  it("prints the differences and exits 1 on a failure", () => {
    const r = run(["test", good, bad]);
    expect(r.code).toBe(1);
    expect(r.out).toBe(
      `${good}: 1 passed, 0 failed\n${bad}: 0 passed, 1 failed\n  ${bad}:4: m * 2: expected 5 for {a="1"} but got 4\n`,
    );
  });

  it("exits 1 on an unreadable or malformed file and 2 on bad usage", () => {
    const broken = join(dir, "broken.test");
    writeFileSync(broken, "frobnicate\n");
    expect(run(["test", join(dir, "missing.test")]).code).toBe(1);
    const r = run(["test", broken]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/broken\.test:1: invalid command/);
    expect(run(["test"]).code).toBe(2);
    expect(run(["frob", good]).code).toBe(2);
  });
});
