import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_FORM_FIELDS, parseForm } from "../src/http/form.js";

const pairs = (p: URLSearchParams) => [...p];

describe("parseForm (application/x-www-form-urlencoded from bytes)", () => {
  it("gives the pairs URLSearchParams gives, for any text made of the form's own characters", () => {
    // Heavy on the characters that matter: separators, "+", escapes good and broken, non-ASCII
    // as escapes. (Raw non-ASCII before a "%" is left to the next property: Node 20's
    // URLSearchParams garbles it, e.g. "😀%4" → "=\u0000%4".)
    const ascii = [
      "&",
      "=",
      "+",
      "%",
      "%2B",
      "%26",
      "%3D",
      "%e2%82%ac",
      "%F0%9F%98%80",
      "%zz",
      "%4",
      "a",
      " ",
    ];
    const text = (pieces: string[]) =>
      fc.array(fc.constantFrom(...pieces), { maxLength: 40 }).map((xs) => xs.join(""));
    const same = (t: string) => {
      expect(pairs(parseForm(Buffer.from(t, "utf8")))).toEqual(pairs(new URLSearchParams(t)));
    };
    fc.assert(fc.property(text(ascii), same), { numRuns: 2000 });
    // Raw non-ASCII with every separator and "+", no escapes.
    fc.assert(fc.property(text(["&", "=", "+", "a", "é", "€", "😀", " "]), same), { numRuns: 1000 });
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 60 }).filter((t) => !t.includes("%")),
        same,
      ),
      { numRuns: 1000 },
    );
  });

  it("reads escapes that are not UTF-8 as the standard says (Node's URLSearchParams garbles them after a non-ASCII character)", () => {
    // WHATWG: percent-decode to bytes, then UTF-8 decode with U+FFFD for each maximal bad subpart.
    expect(pairs(parseForm(Buffer.from("%E2%82")))).toEqual([["\uFFFD", ""]]);
    expect(pairs(parseForm(Buffer.from("é%E2%82=😀%E2%82b")))).toEqual([["é\uFFFD", "😀\uFFFDb"]]);
    expect(pairs(parseForm(Buffer.from("x=%FF%41")))).toEqual([["x", "\uFFFDA"]]);
    expect(pairs(parseForm(Buffer.from("😀%4%2B=é%zz")))).toEqual([["😀%4+", "é%zz"]]);
  });

  it("round-trips what URLSearchParams encodes, a PromQL query with every operator included", () => {
    const q = 'sum by (job) (rate(http_requests_total{code=~"5..",path!="/a&b=c"}[5m])) / 2 + 1 % 3';
    const body = new URLSearchParams({ query: q, time: "1.5", "match[]": "up" }).toString();
    const p = parseForm(Buffer.from(body));
    expect(p.get("query")).toBe(q);
    expect(p.get("time")).toBe("1.5");
    expect(p.get("match[]")).toBe("up");
  });

  it("keeps repeated names in order and skips empty pieces", () => {
    expect(pairs(parseForm(Buffer.from("&&a=1&&a=2&b&=x&")))).toEqual([
      ["a", "1"],
      ["a", "2"],
      ["b", ""],
      ["", "x"],
    ]);
  });

  it("refuses more than MAX_FORM_FIELDS pairs with a 400 naming the bound", () => {
    expect(parseForm(Buffer.from("a&".repeat(MAX_FORM_FIELDS))).getAll("a")).toHaveLength(MAX_FORM_FIELDS);
    let thrown: unknown;
    try {
      parseForm(Buffer.from("a&".repeat(MAX_FORM_FIELDS + 1)));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({
      code: "VALIDATION_FAILED",
      status: 400,
      details: [{ field: "body", message: `must hold at most ${MAX_FORM_FIELDS} name=value pairs` }],
    });
  });
});
