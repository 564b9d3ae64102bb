"""Fuzz the web app's public surface over real HTTP: hostile requests in, crashes and 5xx counted.

Starts the web app the way ``crm serve`` does (uvicorn, ``bot.web.app:app_from_settings``,
:func:`bot.launch.start_web_app`) on a store seeded into a temporary directory
(``crm seed``, as ``tests/e2e/conftest.py`` does), with the demo routes on
(``CRM_DEMO=1``: production's routes plus the demo sign-in) and one operator
account whose real console cookie the fuzzer can use and tamper with. Then
hypothesis generates ``--examples`` requests from the app's own route table
(``app.routes`` and ``app.openapi()``):

- every route, with its method most of the time and any other method (or a
  made-up one) otherwise; path and query parameters that are huge, negative,
  non-numeric, Unicode, NUL, percent-encoded traversal, SQL/template/format
  strings; unknown query parameters, broken escapes;
- paths bent: dot segments, duplicate slashes, encoded dots and slashes,
  double encoding, backslashes, ``/static/../`` traversal (a ``200`` whose body
  holds a file from outside ``static/`` is counted as a leak);
- JSON bodies of each model's shape with wrong types, missing and extra
  fields, huge strings, invalid JSON, nesting 100,000 deep;
- form bodies for the sign-ins (urlencoded, multipart, broken multipart),
  with a Content-Type that lies now and then;
- cookies: none, the real console and shop cookies, the same with a character
  changed or the payload swapped, ``alg: none`` tokens, tokens signed with
  another key, garbage, 8 KB values;
- headers: Host, Origin (same site, another site, malformed), X-Forwarded-For,
  huge headers, odd bytes;
- about one request in twenty is raw malformed HTTP (bad request line,
  conflicting Content-Length / Transfer-Encoding, a header without a colon ...);
- about one in four is well-formed, as the page or the console would send it
  (signed in, same-site Origin), with hostile values only where values go, so
  requests get past the parser, the cross-site check and the sign-in to the
  handlers and the store. These carry a random ``X-Forwarded-For``, which
  uvicorn trusts from loopback, so per-client rate limits do not end the run.

Requests go over a plain socket, one connection each, so a path reaches the
server exactly as generated (HTTP client libraries tidy ``..`` and escapes away).

Counted: requests sent, answers by status class and code, 5xx (crashes; the first
reproducers are printed), 502s from routes that need the Rasa server when none
runs ("upstream unavailable", not crashes), requests with no answer, and
``Traceback`` in the app's log. Without ``--rasa-url`` the web app points at a
port where nothing listens; with it, at that Rasa server. Rasa's own channel
endpoints (``/webhooks/...``, socket.io) are not fuzzed here.

Results go to ``bench/out/fuzz-http.json`` (git-ignored) and a table is printed::

    .venv/bin/python bench/fuzz_http.py --examples 2000 --seed 13
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.launch import running_web_app  # noqa: E402

OUT = ROOT / "bench" / "out" / "fuzz-http.json"
OPERATOR = "fuzz-operator"
#: what no answer may hold: files outside ``bot/web/static`` (the project's, the system's)
LEAK_MARKERS = (b"[build-system]", b"def create_app", b"root:x:0:0")
UPSTREAM_UNAVAILABLE = b"The assistant's server did not answer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- the routes


@dataclass
class RouteSpec:
    """One route of the app as the fuzzer fills it in."""

    path: str
    methods: list[str]
    path_params: dict[str, str] = field(default_factory=dict)  # name -> "string" | "integer"
    query_params: dict[str, str] = field(default_factory=dict)
    body: Optional[str] = None  # "json" | "form" | None
    fields: dict[str, str] = field(default_factory=dict)  # body field -> type

    @property
    def label(self) -> str:
        return f"{'/'.join(self.methods)} {self.path}"


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """The process environment with ``env`` on top, for code that reads its settings from it."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def route_table(env: dict[str, str]) -> list[RouteSpec]:
    """Every route of the app built with ``env``: the OpenAPI operations, plus the routes outside the schema."""
    from starlette.routing import Mount, Route

    from analytics.core.settings import Settings
    from bot.web.app import create_app

    with environment(env):
        app = create_app(Settings(), warm_up=False)
        schema = app.openapi()
    components = schema.get("components", {}).get("schemas", {})
    specs: list[RouteSpec] = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            spec = RouteSpec(path=path, methods=[method.upper()])
            for param in operation.get("parameters", []):
                kind = param.get("schema", {}).get("type", "string")
                target = spec.path_params if param["in"] == "path" else spec.query_params
                if param["in"] in ("path", "query"):
                    target[param["name"]] = kind
            content = (operation.get("requestBody") or {}).get("content", {})
            for media, body in content.items():
                spec.body = "json" if media == "application/json" else "form"
                ref = body.get("schema", {}).get("$ref", "")
                properties = components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
                spec.fields = {name: prop.get("type", "string") for name, prop in properties.items()}
            specs.append(spec)
    in_schema = {s.path for s in specs}
    for route in app.routes:  # what the schema leaves out: mounts (``/static``) and the schema's own route
        if isinstance(route, Mount):
            specs.append(
                RouteSpec(path=f"{route.path}/{{file_path}}", methods=["GET"], path_params={"file_path": "string"})
            )
        elif isinstance(route, Route) and route.path not in in_schema:
            specs.append(RouteSpec(path=route.path, methods=sorted(route.methods or ["GET"])))
    return specs


# --------------------------------------------------------------------------- what an attacker sends


def strategies(specs: list[RouteSpec], port: int, cookies: dict[str, str]) -> Any:
    """The hypothesis strategy of one hostile request (raw bytes and a label)."""
    host = f"127.0.0.1:{port}"
    huge = st.builds(
        lambda unit, n: unit * n,
        st.sampled_from(["A", "é", "%", "../", "😀", "0", "\\", "<", "%00", " "]),
        st.integers(1_000, 300_000),
    )
    nasty = st.sampled_from(
        [
            "", " ", "0", "-1", "1e9999", "NaN", "Infinity", "-0", "99999999999999999999999999999",
            "-9223372036854775809", "0x1f", "1_000", "null", "true", "[]", "{}", "..", ".", "../../etc/passwd",
            "..%2f..%2fetc%2fpasswd", "%2e%2e", "%00", "\x00", "<script>alert(1)</script>", "' OR '1'='1",
            '"; DROP TABLE orders; --', "${jndi:ldap://x/a}", "{{7*7}}", "%s%s%s%n", "\r\nSet-Cookie: x=1",
            "é", "😀", "\u202e", "\ufeff", "C:\\Windows\\win.ini", "/dev/zero", "admin", "olivia", "fuzz-operator",
            "17850", "12347",
        ]
    )  # fmt: skip
    text = st.one_of(nasty, st.text(max_size=40), huge, st.integers().map(str), st.floats().map(repr))
    json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)
    json_value = st.recursive(
        json_scalar,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=10,
    )
    valid_session = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=8, max_size=128)

    def value_for(kind: str, name: str) -> Any:
        if kind == "integer":
            return st.one_of(st.integers(-(2**70), 2**70).map(str), st.integers(-2, 400).map(str), text)
        if name == "session_id":
            return st.one_of(valid_session, text)
        return text

    def encode_path_value(value: str, mode: str) -> str:
        if mode == "quote":
            return quote(value, safe="")
        if mode == "traversal":
            return quote(value, safe="/%.\\")
        return "".join(c if c not in " \r\n" else quote(c) for c in value)  # as typed, bar what ends the line

    path_tricks = st.sampled_from(
        [
            "/./", "//", "/../", "/%2e%2e/", "/%2E%2e%2F", "/..%2f", "%2f", "\\", "/..\\", "/%5c", "/%252e%252e/",
            "/..;/", ";jsessionid=1", "/.", "/..", "%00", "/%00/", "/~", "?", "#frag", "/static/../", "/%c0%ae%c0%ae/",
        ]
    )  # fmt: skip
    static_traversals = st.sampled_from(
        [
            "/static/../app.py", "/static/..%2fapp.py", "/static/%2e%2e/app.py",
            "/static/%2e%2e/%2e%2e/%2e%2e/pyproject.toml", "/static/..%2f..%2f..%2fpyproject.toml",
            "/static//etc/passwd", "/static/....//....//etc/passwd", "/static/%252e%252e/app.py",
            "/static/..\\app.py", "/static/%5c..%5capp.py", "/static/chat.js", "/static/", "/static", "/static/.",
            "/static/%00", "/static/chat.js%00.png", "/static/../../../../etc/passwd",
            "/static/..;/app.py", "/static/%c0%ae%c0%ae/app.py", "/vendor/../pyproject.toml", "/openapi.json",
        ]
    )  # fmt: skip

    @st.composite
    def path_and_query(draw: Any, spec: RouteSpec) -> str:
        path = spec.path
        for name, kind in spec.path_params.items():
            value = str(draw(value_for(kind, name)))
            mode = draw(st.sampled_from(["quote", "quote", "traversal", "raw"]))
            path = path.replace("{" + name + "}", encode_path_value(value, mode))
        for _ in range(draw(st.integers(0, 2)) if draw(st.integers(0, 3)) == 0 else 0):
            trick = draw(path_tricks)
            at = draw(st.integers(0, len(path)))
            path = path[:at] + trick + path[at:]
        if draw(st.integers(0, 9)) == 0:
            path = draw(st.sampled_from([path.upper(), path + "/", path.rstrip("/") + "/.", "/" + path]))
        pairs: list[tuple[str, str]] = []
        for name, kind in spec.query_params.items():
            if draw(st.integers(0, 4)):
                pairs.append((name, str(draw(value_for(kind, name)))))
        for _ in range(draw(st.integers(0, 2))):
            pairs.append((draw(st.one_of(st.text(max_size=10), nasty)), str(draw(text))))
        if not pairs:
            return path
        style = draw(st.sampled_from(["plus", "quote", "raw", "broken"]))
        if style == "plus":
            query = urlencode(pairs)
        elif style == "quote":
            query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
        elif style == "raw":
            query = "&".join(f"{encode_path_value(k, 'raw')}={encode_path_value(v, 'raw')}" for k, v in pairs)
        else:
            query = draw(st.sampled_from(["%zz", "&&&", "=", "a=%", "a=%G0", "a=1&a=2&a=3", "%%%", "a[]=1&a[x]=2"]))
        return f"{path}?{query}"

    def jwt_like(payload: dict[str, Any], signature: str = "", alg: str = "none") -> str:
        def part(obj: Any) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

        return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(payload)}.{signature}"

    def tampered(cookie: str, where: int, by: str) -> str:
        position = where % max(1, len(cookie))
        return cookie[:position] + by + cookie[position + 1 :]

    def swapped_payload(cookie: str, payload: dict[str, Any]) -> str:
        header, _, signature = [*cookie.split("."), "", ""][:3]
        body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
        return f"{header}.{body}.{signature}"

    claims = st.fixed_dictionaries(
        {
            "sub": st.one_of(st.sampled_from(["1", "2", "0", "-1", "1 OR 1=1", "99999999999999999999"]), json_scalar),
            "aud": st.sampled_from(["agent-console", "shop-web-login", "shop-assistant", "x"]),
            "exp": st.one_of(st.just(4_000_000_000), json_scalar),
            "iat": st.one_of(st.just(time.time()), json_scalar),
        }
    )
    real = [v for v in cookies.values() if v]
    signature = st.text(alphabet="abcdefABCDEF0123456789-_", max_size=43)
    cookie_value = st.one_of(
        st.sampled_from(real or [""]),
        st.builds(tampered, st.sampled_from(real or ["x"]), st.integers(0, 400), st.sampled_from("AZaz09-_.=")),
        st.builds(swapped_payload, st.sampled_from(real or ["a.b.c"]), claims),
        st.builds(jwt_like, claims),
        st.builds(jwt_like, claims, signature, st.sampled_from(["HS256", "none", "RS256", "None"])),
        text,
        st.builds(lambda n: "A" * n, st.integers(4_000, 9_000)),
    )
    cookie_header = st.lists(
        st.tuples(st.sampled_from(["console_session", "shop_login", "session", "x", ""]), cookie_value), max_size=3
    ).map(lambda pairs: "; ".join(f"{k}={v}" for k, v in pairs))

    hostile_origin = st.one_of(
        st.sampled_from(["http://evil.example", "null", "", "file://", f"https://{host}", f"http://{host}.evil"]),
        # URLs a parser may choke on: an unclosed IPv6 literal, stray brackets, ports that are not numbers
        st.sampled_from(
            ["http://[", "http://[::1", "http://a]", "http://a:b:c", "http://%zz", "//", "http://:", "http://@"]
        ),
        st.builds("{}://{}".format, st.sampled_from(["http", "https", "ftp", ""]), st.text(max_size=20)),
        text,
    )
    hostile_host = st.one_of(
        st.sampled_from(["evil.example", "", "localhost", "127.0.0.1:1", "[::1]", "a" * 5000, "127.0.0.1:0x50"]),
        st.text(max_size=30),
    )
    content_types = st.sampled_from(
        [
            "application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain",
            "multipart/form-data; boundary=", "application/json; charset=utf-7", "application/xml", "*/*",
            "application/x-www-form-urlencoded; charset=ebcdic", "multipart/form-data; boundary=" + "b" * 5000,
        ]
    )  # fmt: skip

    @st.composite
    def json_body(draw: Any, spec: RouteSpec) -> tuple[bytes, str]:
        shape = draw(st.integers(0, 9))
        if shape <= 4:
            body: Any = {}
            for name, kind in spec.fields.items():
                if draw(st.integers(0, 5)):
                    body[name] = draw(st.one_of(value_for(kind, name), json_value))
            for _ in range(draw(st.integers(0, 2))):
                body[draw(st.text(max_size=10))] = draw(json_value)
            return json.dumps(body).encode(), "application/json"
        if shape <= 6:
            return json.dumps(draw(json_value)).encode(), "application/json"
        if shape == 7:
            depth = draw(st.integers(100, 100_000))
            return b"[" * depth + b"]" * depth, "application/json"
        broken = draw(
            st.sampled_from([b"{", b'{"text": }', b"\xff\xfe", b"NaN", b'{"text": "\\ud800"}', b"", b"{" * 50, b"[1,]"])
        )
        return broken, draw(st.sampled_from(["application/json", "text/plain"]))

    @st.composite
    def form_body(draw: Any, spec: RouteSpec) -> tuple[bytes, str]:
        pairs = [
            (name, str(draw(value_for(kind, name)))) for name, kind in spec.fields.items() if draw(st.integers(0, 5))
        ]
        pairs += [(draw(st.text(max_size=8)), str(draw(text))) for _ in range(draw(st.integers(0, 1)))]
        shape = draw(st.integers(0, 5))
        if shape <= 2:
            return urlencode(pairs).encode("utf-8", "surrogatepass"), "application/x-www-form-urlencoded"
        if shape <= 4:
            boundary = f"fuzzboundary{draw(st.integers(0, 10**6))}"
            parts = [
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode(
                    "utf-8", "surrogatepass"
                )
                for k, v in pairs
            ]
            if shape == 4:  # a file where a field should be
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="password"; filename="../../x.txt"\r\n'
                    f"Content-Type: application/octet-stream\r\n\r\n".encode()
                    + draw(st.binary(max_size=2000))
                    + b"\r\n"
                )
            return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
        broken = draw(
            st.sampled_from([b"--x\r\n", b"--x\r\nContent-Disposition: form-data\r\n\r\n", b"a=%zz&b", b"=&=&"])
        )
        return broken, draw(st.sampled_from(["multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]))

    extra_header = st.sampled_from(
        ["X-Fuzz", "Accept", "Accept-Encoding", "User-Agent", "Referer", "Range", "Expect", "Authorization"]
    )
    methods = st.sampled_from(
        ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO", "get", "P" * 200]
    )
    raw_malformed = st.sampled_from(
        [
            b"GARBAGE\r\n\r\n",
            b"GET / HTTP/9.9\r\nHost: h\r\nConnection: close\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost h\r\nConnection: close\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n X-Folded: yes\r\nConnection: close\r\n\r\n",
            b"POST /api/chat/register HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n0\r\n\r\nGET /console HTTP/1.1\r\nHost: h\r\n\r\n",
            b"POST /api/chat/register HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n"
            b"Connection: close\r\n\r\nabcdef",
            b"POST /api/chat/register HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
            b"POST /api/chat/register HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"zz\r\nabc\r\n0\r\n\r\n",
            b"POST /api/chat/register HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n"
            b"Connection: close\r\n\r\n0\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: h\r\nX\x00Y: z\r\nConnection: close\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: h\r\nX-A: \xff\xfe\r\nConnection: close\r\n\r\n",
            b"GET /he\x7flth HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            b"GET http://evil.example/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            b"GET * HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            b"GET /health HTTP/1.1\nHost: h\nConnection: close\n\n",
            b"GET /health HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\r\n",
        ]
    )

    def polite_value(kind: str, name: str) -> Any:
        if kind == "integer":
            return st.one_of(st.integers(-2, 400), st.integers(-(2**70), 2**70)).map(str)
        known = {
            "session_id": valid_session,
            "username": st.sampled_from([OPERATOR, "olivia", "alice", "admin"]),
            "ref": st.sampled_from(["17850", "12748", "12347", "99999"]),
        }
        return st.one_of(known[name], known[name], text) if name in known else text

    @st.composite
    def well_formed(draw: Any) -> tuple[str, bytes]:
        """A request as the page or the console sends it, signed in, with hostile values where values go."""
        spec = draw(st.sampled_from([s for s in specs if s.path_params.keys() != {"file_path"}]))
        path = spec.path
        for name, kind in spec.path_params.items():
            path = path.replace("{" + name + "}", quote(str(draw(polite_value(kind, name))), safe=""))
        pairs = [(n, str(draw(polite_value(k, n)))) for n, k in spec.query_params.items() if draw(st.integers(0, 4))]
        target = f"{path}?{urlencode(pairs)}" if pairs else path
        body, content_type = b"", None
        if spec.body == "json":
            body = json.dumps({n: draw(polite_value(k, n)) for n, k in spec.fields.items()}).encode()
            content_type = "application/json"
        elif spec.body == "form":
            fields = [(n, str(draw(polite_value(k, n)))) for n, k in spec.fields.items()]
            body, content_type = urlencode(fields).encode("utf-8", "surrogatepass"), "application/x-www-form-urlencoded"
        # uvicorn trusts X-Forwarded-For from loopback: a different client each time, so the per-client
        # rate limits do not turn the rest of the run into 429s
        headers = [("Host", host), ("X-Forwarded-For", draw(st.ip_addresses(v=4)).exploded)]
        cookie = draw(st.sampled_from(["console_session", "console_session", "shop_login", ""]))
        if cookie in cookies:
            headers.append(("Cookie", f"{cookie}={cookies[cookie]}"))
        if spec.methods[0] not in ("GET", "HEAD"):
            headers.append(("Origin", f"http://{host}"))
        if content_type:
            headers.append(("Content-Type", content_type))
        headers += [("Content-Length", str(len(body))), ("Connection", "close")]
        head = f"{spec.methods[0]} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        return f"{spec.label} [well-formed]", head.encode("utf-8", "surrogatepass") + b"\r\n" + body

    @st.composite
    def request(draw: Any) -> tuple[str, bytes]:
        if draw(st.integers(0, 19)) == 0:
            return "raw malformed", draw(raw_malformed)
        if draw(st.integers(0, 3)) == 0:
            return draw(well_formed())
        if draw(st.integers(0, 14)) == 0:
            target, spec = draw(static_traversals), None
            method = "GET"
        else:
            spec = draw(st.sampled_from(specs))
            target = draw(path_and_query(spec))
            method = spec.methods[0] if draw(st.integers(0, 5)) else draw(methods)
        body, content_type = b"", None
        if spec is not None and spec.body and draw(st.integers(0, 7)):
            body, content_type = draw(json_body(spec) if spec.body == "json" else form_body(spec))
        elif draw(st.integers(0, 15)) == 0:
            body, content_type = draw(json_body(RouteSpec(path="", methods=[], fields={"text": "string"})))
        if body and draw(st.integers(0, 7)) == 0:
            content_type = draw(content_types)
        # mostly what a browser on the page sends, so requests get past the guards to the handlers
        headers: list[tuple[str, str]] = [("Host", host if draw(st.integers(0, 4)) else draw(hostile_host))]
        if draw(st.integers(0, 9)) == 0:
            headers = [] if draw(st.booleans()) else headers * 2
        cookie = draw(st.integers(0, 19))
        if cookie >= 13:
            headers.append(("Cookie", f"console_session={cookies.get('console_session', '')}"))
        elif cookie >= 11:
            headers.append(("Cookie", f"shop_login={cookies.get('shop_login', '')}"))
        elif cookie >= 6:
            headers.append(("Cookie", draw(cookie_header)))
        if method not in ("GET", "HEAD"):
            same_site = draw(st.integers(0, 9))
            if same_site >= 6:
                headers.append(("Origin", f"http://{host}"))
            elif same_site >= 3:
                headers.append(("Origin", draw(hostile_origin)))
        if draw(st.integers(0, 4)) == 0:
            headers.append(("X-Forwarded-For", draw(st.one_of(st.ip_addresses().map(str), text))))
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        for _ in range(draw(st.integers(0, 2)) if draw(st.integers(0, 5)) == 0 else 0):
            headers.append((draw(extra_header), draw(text)))
        headers.append(("Content-Length", str(len(body))))
        headers.append(("Connection", "close"))
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(
            f"{k}: {''.join(c if c not in chr(13) + chr(10) else ' ' for c in v)}\r\n" for k, v in headers
        )
        label = spec.label if spec is not None else "static traversal"
        return label, head.encode("utf-8", "surrogatepass") + b"\r\n" + body

    return request()


# --------------------------------------------------------------------------- sending and reading


@dataclass
class Answer:
    status: Optional[int]
    head: bytes = b""
    body: bytes = b""
    note: str = ""
    seconds: float = 0.0


def exchange(port: int, raw: bytes, method: str, timeout: float) -> Answer:
    """Send ``raw`` on a fresh connection; read one response (by Content-Length, chunks, or to the close)."""
    started = time.perf_counter()
    data = b""
    note = ""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            try:
                sock.sendall(raw)
            except (BrokenPipeError, ConnectionResetError):
                note = "server stopped reading"  # it may have answered already (413, 400)
            while True:
                try:
                    chunk = sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    note = note or "reset"
                    break
                if not chunk:
                    break
                data += chunk
                if _complete(data, method):
                    break
    except TimeoutError:
        note = "timeout"
    except OSError as exc:
        note = f"connect: {exc}"
    seconds = time.perf_counter() - started
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/\d\.\d (\d{3})", head)
    return Answer(int(match.group(1)) if match else None, head, body, note or ("closed" if not match else ""), seconds)


def _complete(data: bytes, method: str) -> bool:
    if b"\r\n\r\n" not in data:
        return False
    head, _, body = data.partition(b"\r\n\r\n")
    status = re.match(rb"HTTP/\d\.\d (\d{3})", head)
    if method == "HEAD" or (status and status.group(1) in (b"204", b"304")):
        return True
    length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    if length:
        return len(body) >= int(length.group(1))
    if re.search(rb"(?im)^transfer-encoding:.*chunked", head):
        return body.endswith(b"0\r\n\r\n")
    return False


def request_method(raw: bytes) -> str:
    return raw.split(b" ", 1)[0].decode("latin-1")


def shown(raw: bytes, limit: int = 600) -> str:
    text = raw[:limit].decode("utf-8", "backslashreplace")
    return text + (f" ... (+{len(raw) - limit:,} bytes)" if len(raw) > limit else "")


# --------------------------------------------------------------------------- the app under test


def seed_store(env: dict[str, str]) -> float:
    started = time.perf_counter()
    for command in (["seed"], ["users", "add", OPERATOR, "--role", "operator", "--password", env["FUZZ_PASSWORD"]]):
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", *command],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise SystemExit(f"`crm {' '.join(command[:2])}` failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def sign_in(port: int, password: str, demo_ref: str) -> dict[str, str]:
    """The real cookies: an operator's console session and a demo customer's shop login."""
    found: dict[str, str] = {}
    for path, form in (
        ("/console/login", {"username": OPERATOR, "password": password}),
        ("/demo/login", {"ref": demo_ref}),
    ):
        body = urlencode(form).encode()
        raw = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        answer = exchange(port, raw, "POST", 30)
        for name, value in re.findall(rb"(?im)^set-cookie:\s*([^=]+)=([^;\r\n]*)", answer.head):
            found[name.decode()] = value.decode()
    return found


def console_session(env: dict[str, str], cookie: str) -> str:
    """A fresh console cookie for the user ``cookie`` names. A fuzzed ``POST /console/logout`` signs that user
    out everywhere; signing in again would meet the lockout the fuzzed logins ran into, so sign it here."""
    from analytics.core.settings import Settings
    from bot.web import keys, sessions

    claims = json.loads(base64.urlsafe_b64decode(cookie.split(".")[1] + "=="))
    with environment(env):
        secret = keys.web_secret(Settings())
    return sessions.sign(int(claims["sub"]), secret=secret, audience=sessions.CONSOLE_AUDIENCE, ttl_seconds=3600)


def traceback_summary(log: Path) -> tuple[int, collections.Counter[str]]:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    count = 0
    kinds: collections.Counter[str] = collections.Counter()
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            count += 1
            for after in lines[i + 1 :]:
                if after and not after.startswith((" ", "Traceback")):
                    kinds[after[:160]] += 1
                    break
    return count, kinds


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="fuzz-http-"))
    # hypothesis keeps a cache next to the working directory unless told otherwise (read when first needed)
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(work / "hypothesis"))

    password = secrets.token_urlsafe(18)
    rasa_url = args.rasa_url or f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {
        "DATABASE_URL": f"sqlite:///{work / 'store.sqlite3'}",
        "CRM_ARTIFACTS_DIR": str(work / "artifacts"),
        "CRM_VAR_DIR": str(work / "var"),
        "CRM_TOKEN_SECRET": "fuzz-" + secrets.token_hex(24),
        "CRM_DEMO": "1",
        "CRM_RASA_URL": rasa_url,
        "FUZZ_PASSWORD": password,
    }
    print(f"seeding a store in {work} ...", flush=True)
    seed_seconds = seed_store(env)
    specs = route_table(env)
    port = free_port()
    log_path = work / "web.log"
    with running_web_app(port=port, rasa_url=rasa_url, rasa_token=None, env=env, log=log_path) as (_, proc):
        from analytics.core.settings import Settings

        demo_ref = Settings().demo_customers.split(",")[0].strip()
        cookies = sign_in(port, password, demo_ref)
        print(f"signed in: {sorted(cookies)}; fuzzing {len(specs)} routes on port {port} ...", flush=True)
        results = fuzz(args, specs, port, cookies, proc, env)
        healthy = exchange(
            port, f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode(), "GET", 10
        )
        results["alive_after"] = proc.poll() is None and healthy.status == 200
    tracebacks, kinds = traceback_summary(log_path)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    results.update(
        {
            "tracebacks_in_log": tracebacks,
            "traceback_kinds": dict(kinds.most_common(10)),
            "seed_seconds": round(seed_seconds, 1),
            "routes": [s.label for s in specs],
            "rasa": args.rasa_url or "none (the web app points at a closed port)",
            "log": str(log_path) if args.keep else "(removed; --keep keeps it)",
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
        }
    )
    return results


def fuzz(
    args: argparse.Namespace,
    specs: list[RouteSpec],
    port: int,
    cookies: dict[str, str],
    proc: subprocess.Popen[bytes],
    env: dict[str, str],
) -> dict[str, Any]:
    requests = strategies(specs, port, cookies)
    by_class: collections.Counter[str] = collections.Counter()
    by_code: collections.Counter[str] = collections.Counter()
    by_route: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    crashes: list[dict[str, Any]] = []
    silent: list[dict[str, Any]] = []
    leaks: list[dict[str, Any]] = []
    latencies: list[float] = []
    sent = resigned = 0
    started = time.perf_counter()

    @seed(args.seed)
    @settings(
        max_examples=args.examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one(data: Any) -> None:
        nonlocal sent, resigned
        label, raw = data.draw(requests)
        method = request_method(raw)
        answer = exchange(port, raw, method, args.timeout)
        sent += 1
        if answer.status == 303 and b"logout" in raw.split(b"\r\n", 1)[0] and "console_session" in cookies:
            cookies["console_session"] = console_session(env, cookies["console_session"])
            resigned += 1
        latencies.append(answer.seconds)
        if answer.status is None:
            kind = "no answer (malformed request)" if label == "raw malformed" else f"no answer ({answer.note})"
            if label != "raw malformed" and len(silent) < args.show:
                silent.append({"route": label, "request": shown(raw), "note": answer.note})
        elif answer.status in (502, 503) and UPSTREAM_UNAVAILABLE in answer.body:
            kind = "upstream unavailable"
        elif answer.status >= 500:
            kind = "5xx"
            seen = {(c["route"], c["status"]) for c in crashes}  # one reproducer per route and status
            if len(crashes) < args.show and (label, answer.status) not in seen:
                response = shown(answer.head + b"\r\n\r\n" + answer.body, 300)
                crashes.append({"route": label, "status": answer.status, "request": shown(raw), "response": response})
        else:
            kind = f"{answer.status // 100}xx"
        if answer.status == 200 and any(marker in answer.body for marker in LEAK_MARKERS):
            leaks.append({"request": shown(raw), "response": shown(answer.body, 200)})
        by_class[kind] += 1
        by_code[str(answer.status)] += 1
        by_route[label][kind if kind in ("upstream unavailable", "5xx") else str(answer.status)] += 1
        if sent % 250 == 0:
            print(f"  {sent:,} requests, {by_class['5xx']} 5xx, {time.perf_counter() - started:.0f} s", flush=True)
            if proc.poll() is not None:
                raise SystemExit(f"the web app exited with status {proc.returncode}")

    one()
    seconds = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else 0.0

    return {
        "seed": args.seed,
        "examples_asked": args.examples,
        "requests": sent,
        "seconds": round(seconds, 1),
        "by_class": dict(by_class.most_common()),
        "by_status": dict(sorted(by_code.items())),
        "by_route": {route: dict(counts) for route, counts in sorted(by_route.items())},
        "crashes_5xx": by_class["5xx"],
        "first_5xx": crashes,
        "no_answer_to_well_formed": silent,
        "static_leaks": leaks,
        "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)},
        "console_cookie_renewed": resigned,
    }


def print_table(results: dict[str, Any]) -> None:
    print()
    print(f"requests sent           {results['requests']:>8,}   ({results['seconds']} s, seed {results['seed']})")
    for kind, count in results["by_class"].items():
        print(f"  {kind:<22}{count:>8,}")
    print(f"5xx (crashes)           {results['crashes_5xx']:>8,}")
    print(f"Traceback in app log    {results['tracebacks_in_log']:>8,}")
    print(f"files leaked by static  {len(results['static_leaks']):>8,}")
    print(f"server alive after      {'yes' if results['alive_after'] else 'NO':>8}")
    lat = results["latency_ms"]
    print(f"latency ms p50/p99/max  {lat['p50']} / {lat['p99']} / {lat['max']}")
    print("status codes: " + ", ".join(f"{k}: {v}" for k, v in results["by_status"].items()))
    for crash in results["first_5xx"]:
        print(f"\n5xx on {crash['route']}:\n{crash['request']}\n-> {crash['response']}")
    for kind, count in results["traceback_kinds"].items():
        print(f"traceback x{count}: {kind}")


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000, help="requests to generate (default 2000)")
    parser.add_argument("--seed", type=int, default=13, help="hypothesis seed (default 13)")
    parser.add_argument("--rasa-url", default=None, help="a running Rasa server for the web app (default: none)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one answer")
    parser.add_argument("--show", type=int, default=5, help="reproducers kept per kind")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--keep", action="store_true", help="keep the temporary store and the app's log")
    args = parser.parse_args(argv)
    results = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print_table(results)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
