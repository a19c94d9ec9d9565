import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import madge from "madge";
import ts from "typescript";
import { expect, it } from "vitest";

// The code's shape, kept by CI: no function too long to read at once, no import cycle.

const ROOT = join(import.meta.dirname, "..");
const SRC = join(ROOT, "src");
const MAX_OWN_LINES = 150;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

type FunctionLike = ts.FunctionLikeDeclaration & { body: ts.Node };

function isFunction(n: ts.Node): n is FunctionLike {
  return (
    (ts.isFunctionDeclaration(n) ||
      ts.isMethodDeclaration(n) ||
      ts.isArrowFunction(n) ||
      ts.isFunctionExpression(n) ||
      ts.isConstructorDeclaration(n) ||
      ts.isGetAccessor(n) ||
      ts.isSetAccessor(n)) &&
    n.body !== undefined
  );
}

/** Functions whose own body (the lines of functions nested in it left out) exceeds the limit. */
function longFunctions(file: string, max: number): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const line = (pos: number) => src.getLineAndCharacterOfPosition(pos).line;
  const span = (body: ts.Node) => line(body.end) - line(body.getStart()) + 1;
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (isFunction(n)) {
      let nested = 0;
      const sub = (m: ts.Node): void => {
        if (isFunction(m)) nested += span(m.body);
        else ts.forEachChild(m, sub);
      };
      ts.forEachChild(n.body, sub);
      const own = span(n.body) - nested;
      const name = n.name ? n.name.getText() : "(anonymous)";
      if (own > max) out.push(`${relative(ROOT, file)}:${line(n.getStart()) + 1} ${name}: ${own} lines`);
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

it(`no function's own body in src/ runs past ${MAX_OWN_LINES} lines (nested functions aside)`, () => {
  const files = sources(SRC);
  expect(files.length).toBeGreaterThan(50);
  expect(files.flatMap((f) => longFunctions(f, MAX_OWN_LINES))).toEqual([]);
});

it("the function-length check finds a long function (it can fail)", () => {
  // buildApp's own body is well over 5 lines: with that limit it must be reported.
  expect(longFunctions(join(SRC, "server.ts"), 5)).toContainEqual(
    expect.stringMatching(/^src\/server\.ts:\d+ buildApp: \d+ lines$/),
  );
});

it("src/ has no import cycle", async () => {
  const graph = await madge(SRC, { fileExtensions: ["ts"], tsConfig: join(ROOT, "tsconfig.json") });
  expect(Object.keys(graph.obj()).length).toBeGreaterThan(50);
  const cycles = graph.circular().map((c) => c.join(" > "));
  expect(cycles, "import cycles in src/ (madge --circular)").toEqual([]);
}, 60_000);
