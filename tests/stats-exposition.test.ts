import { expect, test } from "bun:test";
import { Collector } from "../src/stats/collector.ts";
import { escapeLabel, Exposition } from "../src/stats/exposition.ts";
import { BUCKETS, Histogram } from "../src/stats/histogram.ts";

test("label values escape backslash, double quote and newline as the text format says", () => {
  expect(escapeLabel('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
});

test("a histogram counts every observation into the first bucket whose bound it does not exceed; cumulative counts end at the count", () => {
  const h = new Histogram();
  for (const v of [0.0001, 0.0005, 0.0006, 0.2, 100]) h.observe(v);
  const cum = h.cumulative();
  expect(cum.length).toBe(BUCKETS.length + 1);
  expect(cum[0]).toBe(2); // ≤ 0.5 ms: 0.1 ms and exactly 0.5 ms
  expect(cum[1]).toBe(3); // ≤ 1 ms
  expect(cum[BUCKETS.indexOf(0.25)]).toBe(4);
  expect(cum[BUCKETS.length - 1]).toBe(4); // ≤ 60 s: not the 100 s one
  expect(cum[BUCKETS.length]).toBe(5);
  expect(h.sum).toBeCloseTo(100.2012, 6);
});

test("text format: HELP and TYPE once per family, samples after; OpenMetrics names counter families without _total and ends with # EOF", () => {
  const build = (om: boolean) => {
    const x = new Exposition(om);
    x.counter("plb_x_total", "X.", { service: "a" }, 1);
    x.counter("plb_x_total", "X.", { service: "b" }, 2);
    x.gauge("plb_g", "G.", {}, 0.5);
    return x.render();
  };
  expect(build(false)).toBe('# HELP plb_x_total X.\n# TYPE plb_x_total counter\nplb_x_total{service="a"} 1\nplb_x_total{service="b"} 2\n# HELP plb_g G.\n# TYPE plb_g gauge\nplb_g 0.5\n');
  expect(build(true)).toBe('# HELP plb_x X.\n# TYPE plb_x counter\nplb_x_total{service="a"} 1\nplb_x_total{service="b"} 2\n# HELP plb_g G.\n# TYPE plb_g gauge\nplb_g 0.5\n# EOF\n');
});

test("collectors merge (the master sums its workers'): counts and histograms add up", () => {
  const a = new Collector();
  const b = new Collector();
  for (const [c, n] of [[a, 3], [b, 4]] as const) {
    const svc = c.service("web");
    svc.sessions += n;
    svc.responses["2xx"] += n;
    svc.proxyRefused.timeout += n;
    svc.total.observe(0.01 * n);
    const srv = c.server("web", "10.0.0.1:80");
    srv.failures.refused += n;
  }
  const sum = new Collector();
  sum.merge(JSON.parse(JSON.stringify(a.snapshot())));
  sum.merge(JSON.parse(JSON.stringify(b.snapshot())));
  expect(sum.service("web").sessions).toBe(7);
  expect(sum.service("web").responses["2xx"]).toBe(7);
  expect(sum.service("web").proxyRefused).toEqual({ source: 0, header: 0, timeout: 7 });
  expect(sum.service("web").total.count).toBe(2);
  expect(sum.service("web").total.sum).toBeCloseTo(0.07, 9);
  expect(sum.server("web", "10.0.0.1:80").failures.refused).toBe(7);
});
