"""connpool.monitor: the WSGI app (served by wsgiref, queried with urllib) and the ASGI app
(driven by a minimal in-test ASGI server loop), every route including the refusals."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid
import wsgiref.simple_server

from support import PgTestCase, conninfo

import connpool
import connpool.monitor
from connpool import pools

TOKEN = "s3cret-token"
UNREACHABLE = "host=/nonexistent-connpool-dir port=1 dbname=x user=x"


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output readable
        pass


class WsgiServer:
    """A wsgiref server on a free loopback port, serving in a thread."""

    def __init__(self, app) -> None:
        self.httpd = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.thread.join(5)
        self.httpd.server_close()

    def request(self, method: str, path: str, headers: dict | None = None):
        """(status, content type, body text), also for 4xx/5xx answers."""
        req = urllib.request.Request(self.base + path, method=method, headers=headers or {})
        if method == "POST":
            req.data = b""
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.headers["Content-Type"], resp.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers["Content-Type"], exc.read().decode()


def unique_name() -> str:
    return f"pym-{uuid.uuid4().hex[:10]}"


class MonitorTestCase(PgTestCase):
    def registered(self, conninfo_: str | None = None, **options):
        name = unique_name()
        pool = pools.get_or_create(name, conninfo_ or conninfo(), **options)
        self.addCleanup(self._close_quietly, name)
        return name, pool

    @staticmethod
    def _close_quietly(name: str) -> None:
        try:
            pools.close(name)
        except connpool.PoolNotFound:
            pass

    def assertJsonError(self, answer, status: int) -> None:
        code, content_type, body = answer
        self.assertEqual(code, status, body)
        self.assertTrue(content_type.startswith("application/json"), content_type)
        self.assertTrue(json.loads(body)["error"])

    def make_unhealthy(self) -> str:
        name, pool = self.registered(UNREACHABLE, breaker_threshold=1, connect_timeout=1)
        with self.assertRaises(connpool.Error):
            pool.getconn(timeout=3)
        deadline = time.monotonic() + 5
        while pool.get_stats()["breaker_state"] != 1:
            self.assertLess(time.monotonic(), deadline, "the breaker did not open")
            time.sleep(0.01)
        return name


class WsgiAppTest(MonitorTestCase):
    def setUp(self) -> None:
        self.off = WsgiServer(connpool.monitor.wsgi_app())
        self.addCleanup(self.off.stop)
        self.on = WsgiServer(connpool.monitor.wsgi_app(admin_token=TOKEN))
        self.addCleanup(self.on.stop)

    def test_read_routes(self):
        name, pool = self.registered(max_size=2)
        with pool.connection() as conn:
            conn.execute("SELECT 1")
        code, ctype, body = self.off.request("GET", "/pools")
        self.assertEqual(code, 200, body)
        self.assertTrue(ctype.startswith("application/json"))
        everything = json.loads(body)
        self.assertEqual(everything["pools"][name]["acquired"], 1)
        self.assertIn("aggregate", everything)

        code, ctype, body = self.off.request("GET", f"/pools/{name}")
        self.assertEqual(code, 200, body)
        json.loads(body)
        self.assertIn(f'"{name}"', body)
        self.assertJsonError(self.off.request("GET", "/pools/pym-no-such-pool"), 404)

        code, _, body = self.off.request("GET", "/health?verbose=1")  # query string ignored
        self.assertEqual(code, 200, body)
        self.assertEqual(json.loads(body)["status"], "healthy")

        code, ctype, body = self.off.request("GET", "/metrics")
        self.assertEqual(code, 200)
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.assertIn(f'pool_name="{name}"', body)
        code, ctype, body = self.off.request(
            "GET", "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        self.assertEqual(code, 200)
        self.assertTrue(ctype.startswith("application/openmetrics-text"), ctype)
        self.assertTrue(body.endswith("# EOF\n"))

    def test_bad_paths_and_methods(self):
        self.assertJsonError(self.off.request("GET", "/nothing"), 404)
        self.assertJsonError(self.off.request("GET", "/"), 404)
        self.assertJsonError(self.off.request("DELETE", "/pools"), 405)
        self.assertJsonError(self.off.request("POST", "/health"), 405)
        self.assertJsonError(self.off.request("PUT", "/metrics"), 405)

    def test_mutating_routes_need_a_configured_token_and_the_bearer(self):
        name, pool = self.registered()
        other, second = self.registered()
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        self.assertJsonError(self.off.request("POST", f"/pools/{name}/close", bearer), 403)
        self.assertJsonError(self.off.request("POST", "/pools/close-all", bearer), 403)
        self.assertJsonError(self.on.request("POST", f"/pools/{name}/close"), 401)
        self.assertJsonError(
            self.on.request("POST", f"/pools/{name}/close", {"Authorization": "Bearer s3cret-tokex"}), 401
        )
        self.assertJsonError(
            self.on.request("POST", f"/pools/{name}/close", {"Authorization": "Basic czNjcmV0"}), 401
        )
        self.assertJsonError(self.on.request("GET", f"/pools/{name}/close", bearer), 405)
        self.assertFalse(pool.closed, "a refused request closed the pool")

        code, _, body = self.on.request("POST", f"/pools/{name}/close", bearer)
        self.assertEqual(code, 200, body)
        json.loads(body)
        self.assertTrue(pool.closed)
        self.assertNotIn(name, pools.names())
        self.assertJsonError(self.on.request("POST", f"/pools/{name}/close", bearer), 404)

        code, _, body = self.on.request("POST", "/pools/close-all", bearer)
        self.assertEqual(code, 200, body)
        self.assertTrue(second.closed)
        self.assertEqual(pools.names(), [])

    def test_health_is_503_when_a_pool_is_unhealthy(self):
        name = self.make_unhealthy()
        code, ctype, body = self.off.request("GET", "/health")
        self.assertEqual(code, 503, body)
        self.assertTrue(ctype.startswith("application/json"))
        verdict = json.loads(body)
        self.assertEqual(verdict["status"], "unhealthy")
        self.assertTrue(any(w.startswith(f"{name}: ") for w in verdict["warnings"]), verdict)

    def test_token_and_request_values_that_cannot_reach_c(self):
        for bad in ("with space", "nul\0byte"):
            with self.subTest(token=bad), self.assertRaises(connpool.InvalidArgument):
                connpool.monitor.wsgi_app(admin_token=bad)
        code, _, body = connpool.monitor.handle("GET", "/health\0/x")
        self.assertEqual(code, 400, body)
        code, _, _ = connpool.monitor.handle("GET", "/health")
        self.assertIn(code, (200, 503))


class AsgiHarness:
    """Drives an ASGI app for one request as an ASGI server would: scope, receive, send."""

    def __init__(self, app) -> None:
        self.app = app

    async def request(self, method: str, path: str, headers: dict | None = None, raw_path=True):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path.split("?")[0],
            "query_string": path.partition("?")[2].encode(),
            "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()],
        }
        if raw_path:
            scope["raw_path"] = path.split("?")[0].encode()
        sent = []
        requests = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive():
            if requests:
                return requests.pop(0)
            await asyncio.sleep(3600)  # a disconnect would come here; never in these tests

        async def send(message):
            sent.append(message)

        await asyncio.wait_for(self.app(scope, receive, send), 10)
        # exactly one start and one final body, with a matching Content-Length
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"], sent
        start, body = sent
        assert not body.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        assert int(headers["content-length"]) == len(body["body"]), headers
        return start["status"], headers["content-type"], body["body"].decode()


class AsgiAppTest(MonitorTestCase):
    def test_routes_and_refusals(self):
        name, pool = self.registered()
        with pool.connection() as conn:
            conn.execute("SELECT 1")
        off = AsgiHarness(connpool.monitor.asgi_app())
        on = AsgiHarness(connpool.monitor.asgi_app(admin_token=TOKEN))
        bearer = {"Authorization": f"Bearer {TOKEN}"}

        async def main() -> None:
            code, ctype, body = await off.request("GET", "/pools")
            self.assertEqual(code, 200, body)
            self.assertTrue(ctype.startswith("application/json"))
            self.assertEqual(json.loads(body)["pools"][name]["acquired"], 1)
            code, _, body = await off.request("GET", f"/pools/{name}", raw_path=False)
            self.assertEqual(code, 200, body)
            self.assertJsonError(await off.request("GET", "/pools/pym-no-such-pool"), 404)
            code, _, body = await off.request("GET", "/health?x=1")
            self.assertEqual((code, json.loads(body)["status"]), (200, "healthy"))
            code, ctype, body = await off.request("GET", "/metrics")
            self.assertTrue(ctype.startswith("text/plain") and f'pool_name="{name}"' in body, (code, ctype))
            code, ctype, body = await off.request("GET", "/metrics", {"Accept": "application/openmetrics-text"})
            self.assertTrue(ctype.startswith("application/openmetrics-text") and body.endswith("# EOF\n"))
            self.assertJsonError(await off.request("GET", "/nothing"), 404)
            self.assertJsonError(await off.request("PATCH", "/pools"), 405)
            self.assertJsonError(await off.request("POST", f"/pools/{name}/close", bearer), 403)
            self.assertJsonError(await on.request("POST", f"/pools/{name}/close"), 401)
            self.assertJsonError(await on.request("POST", "/pools/close-all", {"Authorization": "Bearer no"}), 401)
            # "close-all" is also a valid pool name: GET reads that pool (there is none)
            self.assertJsonError(await on.request("GET", "/pools/close-all", bearer), 404)
            self.assertJsonError(await off.request("GET", "/pools/bad%20name"), 400)
            code, ctype, body = await off.request("HEAD", "/health")
            self.assertEqual((code, body), (200, ""))
            self.assertJsonError(await on.request("POST", "/pools/x", {"Authorization": "Bearer a\0b"}), 400)
            self.assertFalse(pool.closed)
            code, _, body = await on.request("POST", f"/pools/{name}/close", bearer)
            self.assertEqual(code, 200, body)
            self.assertTrue(pool.closed)
            _, second = self.registered()
            code, _, body = await on.request("POST", "/pools/close-all", bearer)
            self.assertEqual(code, 200, body)
            self.assertTrue(second.closed)
            unhealthy = self.make_unhealthy()
            code, _, body = await off.request("GET", "/health")
            self.assertEqual(code, 503, body)
            self.assertIn(unhealthy, body)

        asyncio.run(main())

    def test_lifespan_and_other_scopes(self):
        app = connpool.monitor.asgi_app()

        async def main() -> None:
            inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
            sent = []

            async def receive():
                return inbox.pop(0)

            async def send(message):
                sent.append(message["type"])

            await asyncio.wait_for(app({"type": "lifespan"}, receive, send), 5)
            self.assertEqual(sent, ["lifespan.startup.complete", "lifespan.shutdown.complete"])
            with self.assertRaises(ValueError):
                await app({"type": "websocket"}, receive, send)

        asyncio.run(main())


class ExporterTest(MonitorTestCase):
    """connpool.monitor.start_exporter: the library's embedded server, same routes."""

    def test_start_serve_stop(self):
        name, pool = self.registered()
        with pool.connection() as conn:
            conn.execute("SELECT 1")
        exporter = connpool.monitor.start_exporter(admin_token=TOKEN)
        self.addCleanup(exporter.stop)
        self.assertGreater(exporter.port, 0)
        client = WsgiServer.__new__(WsgiServer)  # reuse its urllib helper only
        client.base = f"http://127.0.0.1:{exporter.port}"
        code, _, body = client.request("GET", "/pools")
        self.assertEqual(code, 200, body)
        self.assertEqual(json.loads(body)["pools"][name]["acquired"], 1)
        self.assertJsonError(client.request("POST", f"/pools/{name}/close"), 401)
        code, _, body = client.request("POST", f"/pools/{name}/close", {"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual(code, 200, body)
        self.assertTrue(pool.closed)
        exporter.stop()
        exporter.stop()  # idempotent
        with self.assertRaises(OSError):
            urllib.request.urlopen(client.base + "/health", timeout=2)

    def test_bad_address(self):
        for bad in ("not-an-address", "127.0.0.1:99999", "nul\0:1"):
            with self.subTest(address=bad), self.assertRaises(connpool.InvalidArgument):
                connpool.monitor.start_exporter(bad)


if __name__ == "__main__":
    unittest.main()
