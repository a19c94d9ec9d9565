import { describe, expect, it } from "vitest";
import { createScrubber, redactFields, redactUrl, secretValues } from "../../src/logs/redact.js";

describe("log redaction", () => {
  it("censors sensitive fields by name at any depth, copying only when needed", () => {
    const clean = { a: 1, b: { c: "x" } };
    expect(redactFields(clean)).toBe(clean);
    const dirty = {
      user: { email: "e", Password: "p1" },
      headers: { authorization: "Bearer abc", "X-Api-Key": "k" },
      list: [{ token: "t" }],
    };
    expect(redactFields(dirty)).toEqual({
      user: { email: "e", Password: "[REDACTED]" },
      headers: { authorization: "[REDACTED]", "X-Api-Key": "[REDACTED]" },
      list: [{ token: "[REDACTED]" }],
    });
    expect(dirty.user.Password).toBe("p1");
  });

  it("scrubs known secret values and secret shapes from whole lines", () => {
    const scrub = createScrubber(["s3cr3t-value", "short", undefined]);
    expect(scrub('{"msg":"x s3cr3t-value y"}')).toBe('{"msg":"x [REDACTED] y"}');
    expect(scrub('{"msg":"short"}')).toBe('{"msg":"short"}');
    expect(scrub('{"url":"/a?token=abc&limit=5&api_key=zz"}')).toBe(
      '{"url":"/a?token=[REDACTED]&limit=5&api_key=[REDACTED]"}',
    );
    expect(scrub('{"u":"postgres://tug:pw@db/x"}')).toBe('{"u":"postgres://[REDACTED]@db/x"}');
    expect(scrub('{"h":"Bearer abcdefghijkl"}')).toBe('{"h":"Bearer [REDACTED]"}');
    expect(scrub('{"w":"https://hooks.slack.com/services/T1/B2/xyz"}')).toBe(
      '{"w":"https://hooks.slack.com/services/[REDACTED]"}',
    );
    const plain = '{"level":"info","msg":"request completed","route":"/api/v1/users/me"}';
    expect(scrub(plain)).toBe(plain);
  });

  it("redacts URLs and collects passwords inside configured URLs", () => {
    expect(redactUrl("/x?password=p&q=1")).toBe("/x?password=[REDACTED]&q=1");
    expect(redactUrl("/x?q=1")).toBe("/x?q=1");
    expect(secretValues(["tok-123456"], ["sqlite:./data/x.db", undefined])).toEqual(["tok-123456"]);
    expect(secretValues([], ["postgres://u:p%40ss@h/d", undefined])).toEqual(["p%40ss", "p@ss"]);
  });
});
