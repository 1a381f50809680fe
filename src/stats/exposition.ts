/**
 * Prometheus exposition: the text format 0.0.4, or OpenMetrics 1.0 when the
 * scraper asks for it (counters named without `_total` in their TYPE line,
 * a final `# EOF`). Label values are escaped per the format (backslash,
 * double quote, newline). Names and labels follow HAProxy's exporter with a
 * `plb_` prefix and `service`, `server` labels.
 */
import { BUCKETS, type Histogram } from "./histogram.ts";

export type Labels = Readonly<Record<string, string>>;
type Kind = "gauge" | "counter" | "histogram";

export const TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length > 0 ? `{${parts.join(",")}}` : "";
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Collects the families of one scrape, each written once with its HELP and TYPE. */
export class Exposition {
  private readonly families = new Map<string, { kind: Kind; help: string; lines: string[] }>();

  constructor(private readonly openMetrics: boolean) {}

  private family(name: string, kind: Kind, help: string): string[] {
    let f = this.families.get(name);
    if (!f) this.families.set(name, (f = { kind, help, lines: [] }));
    return f.lines;
  }

  gauge(name: string, help: string, labels: Labels, value: number): void {
    this.family(name, "gauge", help).push(`${name}${labelText(labels)} ${num(value)}`);
  }

  /** `name` ends in `_total`. */
  counter(name: string, help: string, labels: Labels, value: number): void {
    this.family(name, "counter", help).push(`${name}${labelText(labels)} ${num(value)}`);
  }

  histogram(name: string, help: string, labels: Labels, h: Histogram): void {
    const lines = this.family(name, "histogram", help);
    const cum = h.cumulative();
    BUCKETS.forEach((le, i) => lines.push(`${name}_bucket${labelText(labels, ["le", String(le)])} ${cum[i]}`));
    lines.push(`${name}_bucket${labelText(labels, ["le", "+Inf"])} ${cum[BUCKETS.length]}`);
    lines.push(`${name}_sum${labelText(labels)} ${num(h.sum)}`);
    lines.push(`${name}_count${labelText(labels)} ${h.count}`);
  }

  render(): string {
    const out: string[] = [];
    for (const [name, f] of this.families) {
      const typeName = this.openMetrics && f.kind === "counter" ? name.replace(/_total$/, "") : name;
      out.push(`# HELP ${typeName} ${f.help}`, `# TYPE ${typeName} ${f.kind}`, ...f.lines);
    }
    if (this.openMetrics) out.push("# EOF");
    return `${out.join("\n")}\n`;
  }
}
