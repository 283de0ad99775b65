#!/usr/bin/env python3
"""Reads a /metrics page with prometheus_client's own parser (the text format as Prometheus
defines it) and checks what the server promises to export.

    python3 tests/tools/check_metrics.py < metrics.txt

Prints the metric families it read; exits 1 on a parse error or a broken promise. Run by
tests/tools.rs.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
families = {family.name: family for family in text_string_to_metric_families(text)}

expected = {
    "protocol_http_requests": "counter",
    "protocol_http_request_duration_seconds": "histogram",
    "protocol_writer_batch_size": "histogram",
    "protocol_writer_queue_wait_seconds": "histogram",
    "protocol_event_streams_open": "gauge",
    "protocol_database_bytes": "gauge",
    "protocol_database_wal_bytes": "gauge",
    "protocol_attachments": "gauge",
    "protocol_attachment_bytes": "gauge",
    "protocol_webhook_backlog_events": "gauge",
    "protocol_webhook_deliveries": "counter",
    "protocol_webhook_retries": "counter",
    "protocol_webhook_failures": "counter",
    "protocol_build_info": "gauge",
}
problems = []
for name, kind in expected.items():
    if name not in families:
        problems.append(f"{name} is missing")
    elif families[name].type != kind:
        problems.append(f"{name} is a {families[name].type}, not a {kind}")

# Histograms: cumulative buckets that end at +Inf with the count.
for family in families.values():
    if family.type != "histogram":
        continue
    series = {}
    for sample in family.samples:
        labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        series.setdefault(labels, {"buckets": [], "count": None})
        if sample.name.endswith("_bucket"):
            series[labels]["buckets"].append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_count"):
            series[labels]["count"] = sample.value
    for labels, found in series.items():
        values = [value for _, value in sorted(found["buckets"])]
        if values != sorted(values):
            problems.append(f"{family.name}{dict(labels)}: buckets are not cumulative")
        if not found["buckets"] or found["buckets"][-1][0] != float("inf") or values[-1] != found["count"]:
            problems.append(f"{family.name}{dict(labels)}: +Inf bucket and count disagree")

requests = families["protocol_http_requests"].samples if "protocol_http_requests" in families else []
if not any(s.labels.get("route") == "/v1/messages" and s.labels.get("method") == "POST" for s in requests):
    problems.append("no POST /v1/messages in protocol_http_requests_total")

for name in sorted(families):
    print(f"{name} ({families[name].type}, {len(families[name].samples)} samples)")
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
