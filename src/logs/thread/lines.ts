// The log thread's half of the ring: records back into lines, in the order they were logged.
import { accessTail, isoTimeFormatter } from "../access-line.js";
import type { AccessRecord, RecordHandler } from "./ring.js";

/**
 * Turns ring records into the lines pino would have written and hands each to `out`. An access
 * line is built here as src/logs/logger.ts builds it on the API's thread: the constant texts the
 * record names (level prefix, method and route, message ending) were defined earlier in the
 * ring; the free-form values (the request's bindings, the URL) are scrubbed here.
 */
export class RecordLines implements RecordHandler {
  private readonly texts = new Map<number, string>();
  private readonly bigLines = new Map<number, string>();
  private readonly iso = isoTimeFormatter();

  constructor(
    private readonly out: (line: string) => void,
    private readonly scrub: (text: string) => string,
    /** Told when a posted line (see `posted`) has been handed to `out`. */
    private readonly onPostedWritten?: (id: number) => void,
  ) {}

  text(line: string): void {
    this.out(line);
  }

  define(id: number, text: string): void {
    this.texts.set(id, text);
  }

  access(r: AccessRecord): void {
    this.out(
      (this.texts.get(r.prefixId) ?? "") +
        this.iso(r.timeMs) +
        this.scrub(r.chindings) +
        (this.texts.get(r.fieldsId) ?? "") +
        accessTail(this.scrub(r.url), r.status, r.durationMs, r.bytes) +
        (this.texts.get(r.endingId) ?? ""),
    );
  }

  /** A line too long for the ring, posted by the API's thread (see LogThread). */
  posted(id: number, line: string): void {
    this.bigLines.set(id, line);
  }

  big(id: number): boolean {
    const line = this.bigLines.get(id);
    if (line === undefined) return false;
    this.bigLines.delete(id);
    this.out(line);
    this.onPostedWritten?.(id);
    return true;
  }
}
