import { z } from "zod";
import { type FieldError, TugError } from "../core/errors.js";

/** Parse `input` with `schema`; a 400 naming every field that is wrong otherwise. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, where = "body"): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const details: FieldError[] = r.error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      return { field: [path, ...issue.keys].filter(Boolean).join("."), message: "is not a known field" };
    }
    return { field: path || where, message: issue.message };
  });
  const fields = [...new Set(details.map((d) => d.field))].join(", ");
  throw new TugError("VALIDATION_FAILED", `Invalid ${where}: check ${fields}`, details);
}

/**
 * Whole numbers as a query string writes them: decimal digits, an optional minus, no leading
 * zeros. `Number()` (what z.coerce uses) would also read `0x10`, `1e2`, ` 5`, `5.0`, `+5`, `-0`
 * and `` (as 0); each of those is a client's mistake, answered 400 naming the parameter.
 */
const DECIMAL_INTEGER = /^(?:0|-?[1-9]\d{0,14})$/;

/** A strict integer query parameter within [min, max] (messages name the bound). */
export function queryInt(bounds: { min?: number; max?: number } = {}) {
  let n = z.number().int();
  if (bounds.min !== undefined) {
    n = n.min(bounds.min, bounds.min === 0 ? "must be 0 or more" : `must be at least ${bounds.min}`);
  }
  if (bounds.max !== undefined) n = n.max(bounds.max, `must be at most ${bounds.max}`);
  return z
    .string({ error: "must be given once, as a whole number" })
    .regex(DECIMAL_INTEGER, "must be a whole number in decimal digits, e.g. 20")
    .transform(Number)
    .pipe(n);
}

/** A UUID path or query parameter; upper- and lower-case spell the same id (ids are stored lower-case). */
export function uuidParam(message: string) {
  return z.uuid({ error: message }).transform((s) => s.toLowerCase());
}
