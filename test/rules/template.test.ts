import { describe, expect, it } from "vitest";
import {
  expandTemplate,
  humanize,
  humanize1024,
  humanizeDuration,
  humanizePercentage,
  sprintf,
} from "../../src/alerts/rules/index.js";

const data = {
  labels: { instance: "api-1:3000", job: "tug" },
  value: 0.91234,
  externalLabels: { cluster: "eu-1" },
  externalURL: "http://prom:9090",
};

describe("alert templates", () => {
  it("humanizes like Prometheus", () => {
    expect(humanize(1234567)).toBe("1.235M");
    expect(humanize(0)).toBe("0");
    expect(humanize(1000)).toBe("1k");
    expect(humanize(0.001234)).toBe("1.234m");
    expect(humanize(12)).toBe("12");
    expect(humanize(Number.NaN)).toBe("NaN");
    expect(humanize(Infinity)).toBe("+Inf");
    expect(humanize1024(1048576)).toBe("1Mi");
    expect(humanize1024(1536)).toBe("1.5ki");
    expect(humanizePercentage(0.1234)).toBe("12.34%");
    expect(humanizePercentage(0.9)).toBe("90%");
    expect(humanizeDuration(90)).toBe("1m 30s");
    expect(humanizeDuration(0)).toBe("0s");
    expect(humanizeDuration(1.5)).toBe("1.5s");
    expect(humanizeDuration(0.25)).toBe("250ms");
    expect(humanizeDuration(93784)).toBe("1d 2h 3m 4s");
    expect(humanizeDuration(3600)).toBe("1h 0m 0s");
    expect(humanize("2048")).toBe("2.048k");
  });

  it("formats numbers like Go's fmt", () => {
    expect(sprintf("%.2f", 2.425)).toBe("2.42"); // 2.425 is 2.42499… in binary
    expect(sprintf("%.2f", 0.125)).toBe("0.12"); // exact tie: round half to even
    expect(sprintf("%.1f%%", 12.25)).toBe("12.2%");
    expect(sprintf("%d requests", 3)).toBe("3 requests");
    expect(sprintf("%s=%v", "a", 1e21)).toBe("a=1e+21");
    expect(sprintf("%5.1f|%-4s|", 3.26, "x")).toBe("  3.3|x   |");
    expect(expandTemplate("{{ $value }}", { labels: {}, value: 1234567 })).toBe("1.234567e+06");
    expect(expandTemplate("{{ $value }}", { labels: {}, value: 100000 })).toBe("100000");
    expect(expandTemplate("{{ $value }}", { labels: {}, value: 0.5 })).toBe("0.5");
  });

  it("expands $labels, $value, $externalLabels, pipes, printf and if", () => {
    const t = (s: string) => expandTemplate(s, data);
    expect(t("{{ $labels.instance }} at {{ $value | humanizePercentage }}")).toBe("api-1:3000 at 91.23%");
    expect(t("{{ .Labels.job }}/{{ .Value }}")).toBe("tug/0.91234");
    expect(t('{{ $value | printf "%.2f" }}')).toBe("0.91");
    expect(t('{{ printf "%.1f" $value }}')).toBe("0.9");
    expect(t("{{ $externalLabels.cluster }} {{ $externalURL }}")).toBe("eu-1 http://prom:9090");
    expect(t("[{{ $labels.missing }}]")).toBe("[]");
    expect(t("{{ if $labels.instance }}on {{ $labels.instance }}{{ end }}")).toBe("on api-1:3000");
    expect(t("{{ if $labels.missing }}yes{{ else }}no{{ end }}")).toBe("no");
    expect(t("{{ with $labels.job }}job {{ . }}{{ end }}")).toBe("job tug");
    expect(t("{{ if gt $value 0.5 }}high{{ end }}")).toBe("high");
    expect(t("a {{- ` b ` -}} c")).toBe("a b c");
    expect(t("{{ $labels.job | toUpper }}")).toBe("TUG");
    expect(t("no template")).toBe("no template");
  });

  it("reports errors the way Prometheus does", () => {
    expect(expandTemplate("{{ $labels.job | humanize }}", data)).toMatch(
      /^<error expanding template: template: template:1: strconv.ParseFloat: parsing "tug": invalid syntax>$/,
    );
  });
});
