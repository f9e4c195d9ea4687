#!/usr/bin/python3
"""Reads an OpenMetrics exposition on stdin and fails unless python3-prometheus-client's strict
OpenMetrics parser accepts it and it holds at least one sample of the families named on the
command line (promtool checks only the Prometheus text format)."""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    missing = [name for name in sys.argv[1:] if not families.get(name) or not families[name].samples]
    if missing:
        print("families without samples: " + ", ".join(missing), file=sys.stderr)
        return 1
    print(f"OpenMetrics OK: {len(families)} families")
    return 0


if __name__ == "__main__":
    sys.exit(main())
