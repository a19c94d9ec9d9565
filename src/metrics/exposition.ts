import type { MetricObjectWithValues, MetricValue, Registry } from "prom-client";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/**
 * Which format the client's Accept header prefers. Prometheus itself sends
 * `application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`.
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  let om = -1;
  let text = -1;
  for (const part of accept.split(",")) {
    const [type = "", ...params] = part.trim().split(";");
    let q = 1;
    for (const p of params) {
      const [k, v] = p.trim().split("=");
      if (k === "q" && v !== undefined) q = Number(v);
    }
    const t = type.trim().toLowerCase();
    if (t === "application/openmetrics-text") om = Math.max(om, q);
    else if (t === "text/plain" || t === "*/*") text = Math.max(text, q);
  }
  return om > 0 && om >= text;
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

function labelString(labels: MetricValue<string>["labels"], defaults: Record<string, string>): string {
  const all = { ...defaults, ...labels } as Record<string, string | number | undefined>;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(all)) {
    if (v === undefined) continue;
    parts.push(`${k}="${escapeLabel(typeof v === "number" ? num(v) : String(v))}"`);
  }
  return parts.length ? `{${parts.join(",")}}` : "";
}

/**
 * Render the registry in OpenMetrics 1.0 text. Written here rather than taken from
 * prom-client because prom-client's OpenMetrics mode appends `_total` to every counter
 * sample (our contract already names counters `*_total`, which would give `*_total_total`)
 * and fixes the format per registry, where we serve both formats from one registry.
 */
export async function renderOpenMetrics(registry: Registry): Promise<string> {
  const families = (await registry.getMetricsAsJSON()) as MetricObjectWithValues<MetricValue<string>>[];
  const defaults = ((registry as unknown as { _defaultLabels?: Record<string, string> })._defaultLabels ??
    {}) as Record<string, string>;
  const out: string[] = [];
  for (const fam of families) {
    const type = String(fam.type);
    let family = fam.name;
    if (type === "counter" && family.endsWith("_total")) family = family.slice(0, -"_total".length);
    out.push(
      `# TYPE ${family} ${type === "histogram" || type === "counter" || type === "gauge" || type === "summary" ? type : "unknown"}`,
    );
    out.push(`# HELP ${family} ${escapeHelp(fam.help)}`);
    for (const v of fam.values ?? []) {
      const sampleName =
        (v as { metricName?: string }).metricName ?? (type === "counter" ? `${family}_total` : fam.name);
      out.push(`${sampleName}${labelString(v.labels, defaults)} ${num(v.value)}`);
    }
  }
  out.push("# EOF");
  return `${out.join("\n")}\n`;
}
