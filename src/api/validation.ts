import type { z } from "zod";
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
