"""Monitoring endpoints as a WSGI app and an ASGI app (standard library only).

Both are thin faces of the library's router (``connpool_monitor_handle``), so they answer
exactly as the embedded C exporter and the Go handler do (README "Monitoring endpoints"):

    GET  /pools                 statistics of all registered pools + aggregate (JSON)
    GET  /pools/{name}          one pool's statistics and health (JSON; 404 if unknown)
    GET  /health                registry verdict (JSON): 200 healthy or degraded, 503 unhealthy
    GET  /metrics               Prometheus text (OpenMetrics if Accept asks for it)
    POST /pools/{name}/close    close one pool    } only with an admin token, and the request's
    POST /pools/close-all       close every pool  } "Authorization: Bearer <token>"

Other paths get 404, other methods 405; mutating routes without ``admin_token``: 403; with a
token but a missing or wrong Authorization: 401. Mount one in a web framework, or serve it::

    from wsgiref.simple_server import make_server
    import connpool.monitor

    make_server("127.0.0.1", 9187, connpool.monitor.wsgi_app()).serve_forever()
"""

from __future__ import annotations

import asyncio
import ctypes
import http
import json
import urllib.parse

from . import _ffi
from .errors import Error, InvalidArgument, error_from_status

__all__ = ["Exporter", "asgi_app", "handle", "start_exporter", "wsgi_app"]

_lib = _ffi.lib
_free = _ffi.fast.connpool_string_free
_byref = ctypes.byref
_c_void_p = ctypes.c_void_p

# Characters a request target's path keeps unescaped (RFC 3986 pchar and "/"): the WSGI server
# hands over PATH_INFO percent-decoded; quoting it back gives the router the raw form the C
# exporter and the Go handler see.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _text_arg(value: str | None, what: str) -> bytes | None:
    """A request value for the router: latin-1 bytes as HTTP carries them. NUL cannot cross
    into C (it would cut the string short), so a value holding one is refused."""
    if value is None:
        return None
    if "\0" in value:
        raise _BadRequest(f"the request's {what} contains a NUL character")
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


class _BadRequest(Exception):
    pass


def _token_bytes(admin_token: str | None) -> bytes | None:
    if admin_token is None or admin_token == "":
        return None
    if not isinstance(admin_token, str):
        raise InvalidArgument(f"admin_token must be a str or None, not {type(admin_token).__name__}")
    if "\0" in admin_token or any(c.isspace() for c in admin_token):
        raise InvalidArgument("admin_token cannot contain NUL or whitespace characters")
    return admin_token.encode("utf-8")


def _error_reply(code: int, message: str) -> tuple[int, str, bytes]:
    return code, "application/json", json.dumps({"error": message}).encode("utf-8")


def handle(
    method: str,
    target: str,
    authorization: str | None = None,
    accept: str | None = None,
    admin_token: str | None = None,
) -> tuple[int, str, bytes]:
    """Answers one request: (HTTP status, Content-Type, body). ``target`` is the request
    target (``"/pools/main"``; a query string is ignored). Blocks only for the close routes
    (as :func:`connpool.pools.close`)."""
    try:
        args = (
            _text_arg(method, "method"),
            _text_arg(target, "target"),
            _text_arg(authorization, "Authorization header"),
            _text_arg(accept, "Accept header"),
        )
    except _BadRequest as exc:
        return _error_reply(400, str(exc))
    return _handle_raw(*args, _token_bytes(admin_token))


def _handle_raw(method, target, authorization, accept, token) -> tuple[int, str, bytes]:
    code = ctypes.c_int32()
    content_type = _c_void_p()
    body = _c_void_p()
    err = _c_void_p()
    status = _lib.connpool_monitor_handle(
        _byref(code), _byref(content_type), _byref(body),
        method, target, authorization, accept, token, _byref(err),
    )  # fmt: skip
    if status:
        raise error_from_status(status, err)
    try:  # the body as bytes, untouched; both strings freed whatever happens
        return (
            code.value,
            ctypes.string_at(content_type.value).decode("latin-1"),
            ctypes.string_at(body.value),
        )
    finally:
        _free(content_type)
        _free(body)


def _answer(args, token) -> tuple[int, str, bytes]:
    """The router's reply; a failure of the router itself (a library bug, no memory) becomes a
    500 with the library's message, like the C exporter's and the Go handler's."""
    try:
        return _handle_raw(*args, token)
    except Error as exc:
        return _error_reply(500, f"connpool_monitor_handle failed: {exc}")


def _reason(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def wsgi_app(admin_token: str | None = None):
    """A WSGI application serving the monitoring routes. ``admin_token`` None or "" leaves the
    mutating routes (close one pool, close all) off; otherwise they need
    ``Authorization: Bearer <admin_token>``."""
    token = _token_bytes(admin_token)

    def app(environ, start_response):
        path = urllib.parse.quote(environ.get("PATH_INFO", "") or "/", safe=_PATH_SAFE)
        try:
            args = (
                _text_arg(environ.get("REQUEST_METHOD", "GET"), "method"),
                _text_arg(path, "target"),
                _text_arg(environ.get("HTTP_AUTHORIZATION"), "Authorization header"),
                _text_arg(environ.get("HTTP_ACCEPT"), "Accept header"),
            )
        except _BadRequest as exc:
            code, content_type, body = _error_reply(400, str(exc))
        else:
            code, content_type, body = _answer(args, token)
        start_response(
            f"{code} {_reason(code)}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]

    return app


def _asgi_header(headers, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def asgi_app(admin_token: str | None = None):
    """An ASGI (3.0) application serving the monitoring routes; ``admin_token`` as for
    :func:`wsgi_app`. The router runs in the loop's default executor, so a close route never
    blocks the event loop. Lifespan events are acknowledged."""
    token = _token_bytes(admin_token)

    async def app(scope, receive, send):
        kind = scope.get("type")
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            raise ValueError(f"connpool.monitor.asgi_app serves HTTP only, not {kind!r}")
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else urllib.parse.quote(scope.get("path") or "/", safe=_PATH_SAFE)
        headers = scope.get("headers") or []
        try:
            args = (
                _text_arg(scope.get("method", "GET"), "method"),
                _text_arg(path, "target"),
                _text_arg(_asgi_header(headers, b"authorization"), "Authorization header"),
                _text_arg(_asgi_header(headers, b"accept"), "Accept header"),
            )
        except _BadRequest as exc:
            code, content_type, body = _error_reply(400, str(exc))
        else:
            loop = asyncio.get_running_loop()
            code, content_type, body = await loop.run_in_executor(None, _answer, args, token)
        await send(
            {
                "type": "http.response.start",
                "status": code,
                "headers": [
                    (b"content-type", content_type.encode("latin-1")),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class Exporter:
    """The library's embedded HTTP exporter (``connpool_exporter_start``): the same routes,
    served by the library's own threads, no Python code per request. Stop it with
    :meth:`stop` (or ``with``); one still running at process exit is stopped then."""

    def __init__(self, handle: int) -> None:
        self._handle = handle
        port = ctypes.c_int32()
        err = _c_void_p()
        status = _lib.connpool_exporter_port(_byref(port), handle, _byref(err))
        if status:
            _lib.connpool_exporter_stop(handle)
            raise error_from_status(status, err)
        #: The TCP port it listens on.
        self.port = port.value

    def stop(self) -> None:
        """Stops the server (requests in progress finish, bounded). Idempotent."""
        handle, self._handle = self._handle, None
        if handle is not None:
            status = _lib.connpool_exporter_stop(handle)
            if status:
                raise error_from_status(status, None)

    def __enter__(self) -> "Exporter":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._handle is None else f"port {self.port}"
        return f"<connpool.monitor.Exporter {state}>"


def start_exporter(address: str | None = None, admin_token: str | None = None) -> Exporter:
    """Starts the embedded exporter on ``address`` ("HOST:PORT"; None: ``127.0.0.1:0``, a free
    loopback port, see :attr:`Exporter.port`); ``admin_token`` as for :func:`wsgi_app`."""
    if address is not None and (not isinstance(address, str) or "\0" in address):
        raise InvalidArgument(f"address must be a \"HOST:PORT\" str or None, not {address!r}")
    out = _c_void_p()
    err = _c_void_p()
    status = _lib.connpool_exporter_start(
        _byref(out), None if address is None else address.encode("utf-8"),
        _token_bytes(admin_token), _byref(err),
    )  # fmt: skip
    if status:
        raise error_from_status(status, err)
    return Exporter(out.value)

