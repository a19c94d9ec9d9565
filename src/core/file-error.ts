// The one shape of "this file is wrong here": FILE:LINE:COL: reason, on one line, as compilers and
// promtool print it, so an editor or a terminal can jump to the place. The rule, SLO and
// escalation loaders each throw their own subclass (callers tell them apart with instanceof).

/** A mistake at a place in a file. `message` is one line: `FILE:LINE:COL: reason` (1-based). */
export class FileLineError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}:${column}: ${reason}`);
    this.name = "FileLineError";
  }
}
