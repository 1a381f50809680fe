"""Parse Prometheus text (or OpenMetrics with --openmetrics) from stdin with
the Prometheus Python client's own parsers; print every sample as JSON.
A malformed exposition raises (exit 1 with the parser's message)."""
import json
import sys

if "--openmetrics" in sys.argv:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families

out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
