#!/usr/bin/python3
"""A real Prometheus server scrapes the embedded exporter and the metric reads back.

Starts prometheus_target (a registered pool "scraped" with two connections in use, served by
connpool_exporter_start), then Debian's prometheus on a free loopback port with a temporary
config and storage directory, scraping the target's /metrics every second. Polls the query
API until db_client_connections_usage{pool_name="scraped",state="used"} reads 2 (bounded),
then stops both and removes the directory.

    prometheus_scrape_test.py PROMETHEUS_TARGET_BINARY
Environment: CONNPOOL_TEST_PG_DIR (the fixture's server), PROMETHEUS (default
/usr/bin/prometheus), CONNPOOL_TEST_SLACK_SCALE (stretches the deadlines).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

QUERY = 'db_client_connections_usage{pool_name="scraped",state="used"}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port, expression):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (
        port, urllib.parse.urlencode({"query": expression}))
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.load(reply)


def stop(process, name):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print("%s did not stop within 15 s; killed" % name)
            process.kill()
            process.wait()


def main():
    target_binary = sys.argv[1]
    prometheus = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
    if not os.access(prometheus, os.X_OK):
        print("no %s: install Debian's prometheus (scripts/install-deps)" % prometheus)
        return 1
    slack = float(os.environ.get("CONNPOOL_TEST_SLACK_SCALE", "1"))
    with open(os.path.join(os.environ["CONNPOOL_TEST_PG_DIR"], "conninfo")) as f:
        conninfo = f.readline().strip()

    work = tempfile.mkdtemp(prefix="connpool-prometheus-")
    target = subprocess.Popen([target_binary, conninfo], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    server = None
    try:
        line = target.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            print("prometheus_target did not start (said %r)" % line)
            return 1
        target_port = int(line[1])
        with open(os.path.join(work, "prometheus.yml"), "w") as config:
            config.write(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: connpool\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % target_port)
        prometheus_port = free_port()
        log = open(os.path.join(work, "prometheus.log"), "w")
        server = subprocess.Popen(
            [prometheus, "--config.file=" + os.path.join(work, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(work, "data"),
             "--web.listen-address=127.0.0.1:%d" % prometheus_port, "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT)

        deadline = time.monotonic() + 30 * slack
        last = None
        while time.monotonic() < deadline:
            if server.poll() is not None:
                break
            try:
                last = query(prometheus_port, QUERY)
                results = last.get("data", {}).get("result", [])
                if results and results[0]["value"][1] == "2":
                    up = query(prometheus_port, 'up{job="connpool"}')["data"]["result"]
                    print("prometheus read %s = 2 (scrape up = %s)"
                          % (QUERY, up[0]["value"][1] if up else "?"))
                    return 0
            except OSError:
                pass  # not listening yet
            time.sleep(0.5)
        print("prometheus never reported %s = 2 within %.0f s; last answer: %s"
              % (QUERY, 30 * slack, last))
        if server.poll() is not None:
            print("prometheus exited with %s" % server.returncode)
        log.flush()
        with open(os.path.join(work, "prometheus.log")) as f:
            print(f.read()[-3000:])
        return 1
    finally:
        if server is not None:
            stop(server, "prometheus")
        target.stdin.close()
        try:
            if target.wait(timeout=30) != 0:
                print("prometheus_target exited with %d" % target.returncode)
        except subprocess.TimeoutExpired:
            target.kill()
            target.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
