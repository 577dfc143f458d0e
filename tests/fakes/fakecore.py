"""Shared machinery of the catalogsync fake HTTP servers (fake_meta.py, fake_woo.py).

What lives here: the HTTP server (threads, HTTP/1.1 keep-alive, optional TLS,
body cap -> 413), request recording, the control API under /_fake/, scripted
faults, stats counters and the command line (--port, --port-file, ...).

Each fake subclasses FakeApp and implements handle() (the API itself), and
optionally route_of(), fault_response(), decorate(), control(), state().
Threads: every connection runs in its own thread; all state, the recorded
requests and the faults are guarded by FakeApp.lock (one RLock). Sleeping
faults (slow, timeout) sleep outside the lock.

Python 3 standard library only; binds 127.0.0.1 only.
"""
import argparse
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

BIND_HOST = "127.0.0.1"

# Actions handled by the core for every fake. An app adds its own through
# FakeApp.extra_request_actions (consumed like these, one per request) and
# FakeApp.item_actions (consumed per item by the app itself).
CORE_REQUEST_ACTIONS = ("http_status", "rate_limit", "error", "timeout", "slow",
                        "drop_response")
REDACTED = "<redacted>"


def _no_constants(name):
    # json.loads accepts NaN/Infinity; PHP and Graph do not.
    raise ValueError("invalid JSON constant %s" % name)


def strict_json_loads(data):
    """json.loads that rejects NaN/Infinity like a real server would."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json.loads(data, parse_constant=_no_constants)


def json_dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Response:
    """One HTTP answer: status, headers (list of pairs), body bytes."""

    def __init__(self, status, body=b"", headers=None, content_type=None):
        self.status = int(status)
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.body = body or b""
        self.headers = list(headers or [])
        if content_type:
            self.set_header("Content-Type", content_type)

    def set_header(self, name, value):
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, str(value)))

    def get_header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def json_response(status, obj, headers=None):
    return Response(status, json_dumps(obj), headers,
                    "application/json; charset=UTF-8")


class Request:
    """A parsed request. `json` is set only for Content-Type application/json
    bodies that parse; `json_error` holds the parse error otherwise. `form` is
    set for application/x-www-form-urlencoded bodies (last value wins)."""

    def __init__(self, handler, body, tls):
        self.method = handler.command.upper()
        self.target = handler.path
        parts = urlsplit(handler.path)
        self.path = parts.path
        self.query_string = parts.query
        self.query = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            self.query.setdefault(k, []).append(v)
        self.headers = handler.headers
        self.body = body or b""
        self.tls = tls
        self.content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        self.json = None
        self.json_error = None
        self.form = None
        if self.content_type == "application/json" and self.body.strip():
            try:
                self.json = strict_json_loads(self.body)
            except (ValueError, UnicodeDecodeError) as exc:
                self.json_error = str(exc)
        elif self.content_type == "application/x-www-form-urlencoded":
            try:
                self.form = dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError as exc:
                self.json_error = str(exc)
        self.match_path = self.path   # what fault path_re is searched in
        self.fault = None             # the request-level fault being applied, if any
        self.record = None            # the recorded entry (apps may add keys)

    def q(self, name, default=None):
        vals = self.query.get(name)
        return vals[0] if vals else default

    def control_json(self):
        """Body of a control call: JSON whatever the Content-Type; {} if empty."""
        if not self.body.strip():
            return {}
        return strict_json_loads(self.body)

    def auth_scheme(self):
        auth = self.headers.get("Authorization")
        if not auth:
            return None
        return auth.strip().split(" ", 1)[0]


def _flat_query(query, redact):
    out = {}
    for k, vals in query.items():
        vals = [REDACTED if k in redact else v for v in vals]
        out[k] = vals[0] if len(vals) == 1 else vals
    return out


def _redact_obj(obj, redact):
    if isinstance(obj, dict):
        return {k: (REDACTED if k in redact else v) for k, v in obj.items()}
    return obj


class FakeApp:
    """Base class of a fake API. Subclasses set `name`, `description`,
    `redact_params`, `extra_request_actions`, `item_actions`, and implement
    handle(req) -> Response (called with self.lock held)."""

    name = "fake"
    description = ""
    epilog = ""
    redact_params = ()
    extra_request_actions = ()
    item_actions = ()
    default_max_body = 16 * 1024 * 1024
    stat_keys = ()   # app counters shown as 0 in /_fake/stats before their first use

    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.max_body = args.max_body if args.max_body else self.default_max_body
        self._reset_core()
        self.reset()

    # ---- to override -------------------------------------------------
    @classmethod
    def add_arguments(cls, parser):
        pass

    @classmethod
    def check_arguments(cls, parser, args):
        pass

    def reset(self):
        """Clear the app's own state (called at start and on POST /_fake/reset)."""

    def state(self):
        return {}

    def route_of(self, req):
        """Short route name used in stats and records."""
        return "%s %s" % (req.method, req.path)

    def handle(self, req):
        raise NotImplementedError

    def validate_fault(self, fault):
        """Return an error string if an app-specific fault is malformed."""
        return None

    def fault_response(self, req, fault):
        """Answer for http_status / rate_limit / error faults."""
        return http_status_fault_response(fault)

    def decorate(self, req, resp):
        """Add headers every API answer carries."""

    def control(self, req, name):
        """App-specific control routes; return None for unknown ones."""
        return None

    def too_large_response(self):
        return Response(413, "<html><head><title>413 Request Entity Too Large</title></head>"
                        "<body><center><h1>413 Request Entity Too Large</h1></center>"
                        "</body></html>\n", content_type="text/html")

    # ---- stats ---------------------------------------------------------
    def _reset_core(self):
        self.requests = []
        self.faults = []
        self.seq = 0
        self.fault_seq = 0
        self.stats = {"requests_total": 0, "requests_by_route": {},
                      "responses_by_status": {}, "faults_applied": {}}
        self.stats.update(dict.fromkeys(self.stat_keys, 0))

    def count(self, key, n=1):
        self.stats[key] = self.stats.get(key, 0) + n

    # ---- recording -------------------------------------------------------
    def record(self, req):
        self.seq += 1
        route = self.route_of(req)
        headers = {}
        for k, v in req.headers.items():
            if k.lower() == "authorization":
                continue
            headers[k] = v
        rec = {
            "seq": self.seq, "time": time.time(), "method": req.method,
            "path": req.path, "route": route,
            "query": _flat_query(req.query, self.redact_params),
            "headers": headers, "auth_scheme": req.auth_scheme(),
            "content_type": req.content_type, "body_len": len(req.body),
            "json": _redact_obj(req.json, self.redact_params),
            "form": _redact_obj(req.form, self.redact_params),
            "body_text": None, "tls": req.tls, "status": None, "fault": None,
        }
        if req.json is None and req.form is None and req.body:
            rec["body_text"] = req.body[:65536].decode("utf-8", "replace")
        req.record = rec
        self.requests.append(rec)
        self.stats["requests_total"] += 1
        by_route = self.stats["requests_by_route"]
        by_route[route] = by_route.get(route, 0) + 1

    def finish_record(self, req, status, action):
        with self.lock:
            req.record["status"] = status
            req.record["fault"] = action
            if status is not None:
                by = self.stats["responses_by_status"]
                by[str(status)] = by.get(str(status), 0) + 1
            if action:
                fa = self.stats["faults_applied"]
                fa[action] = fa.get(action, 0) + 1

    # ---- faults ----------------------------------------------------------
    def add_faults(self, faults):
        allowed = CORE_REQUEST_ACTIONS + tuple(self.extra_request_actions) + tuple(self.item_actions)
        if not isinstance(faults, list):
            raise ValueError('"faults" must be a list')
        prepared = []
        for f in faults:
            if not isinstance(f, dict):
                raise ValueError("each fault must be an object")
            action = f.get("action")
            if action not in allowed:
                raise ValueError("unknown action %r (allowed: %s)" % (action, ", ".join(allowed)))
            count = f.get("count", 1)
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise ValueError("count must be an integer >= 1")
            match = f.get("match") or {}
            if not isinstance(match, dict):
                raise ValueError("match must be an object")
            for key in ("path_re", "body_re"):
                if key in match:
                    try:
                        re.compile(match[key])
                    except (re.error, TypeError) as exc:
                        raise ValueError("bad %s: %s" % (key, exc))
            for key in ("delay_ms", "status", "retry_after"):
                if key in f and (not isinstance(f[key], (int, float)) or isinstance(f[key], bool)):
                    raise ValueError("%s must be a number" % key)
            if action == "http_status" and "status" not in f:
                raise ValueError("http_status needs status")
            err = self.validate_fault(f)
            if err:
                raise ValueError(err)
            g = dict(f)
            g["match"] = match
            g["count"] = count
            self.fault_seq += 1
            # (Not "id": item faults use that key for the product they hit.)
            g["fault_id"] = self.fault_seq
            g["remaining"] = count
            prepared.append(g)
        self.faults.extend(prepared)
        return prepared

    def fault_matches(self, fault, req):
        m = fault["match"]
        meth = m.get("method")
        if meth:
            meths = [meth] if isinstance(meth, str) else list(meth)
            if req.method not in [x.upper() for x in meths]:
                return False
        if "path_re" in m and not re.search(m["path_re"], req.match_path):
            return False
        if "body_re" in m and not re.search(m["body_re"], req.body.decode("utf-8", "replace")):
            return False
        return True

    def consume_fault(self, fault):
        fault["remaining"] -= 1
        if fault["remaining"] <= 0 and fault in self.faults:
            self.faults.remove(fault)

    def take_request_fault(self, req):
        actions = CORE_REQUEST_ACTIONS + tuple(self.extra_request_actions)
        for f in self.faults:
            if f["action"] in actions and self.fault_matches(f, req):
                self.consume_fault(f)
                return f
        return None

    def item_faults(self, req):
        """Live item-level faults matching this request, in registration order.
        The app calls consume_fault() on each one it actually applies."""
        return [f for f in self.faults
                if f["action"] in self.item_actions and self.fault_matches(f, req)]

    # ---- control API -----------------------------------------------------
    def control_dispatch(self, req):
        name = req.path[len("/_fake/"):].strip("/")
        try:
            with self.lock:
                resp = self._core_control(req, name)
                if resp is None:
                    resp = self.control(req, name)
        except ValueError as exc:
            return json_response(400, {"error": str(exc)})
        if resp is None:
            return json_response(404, {"error": "unknown control route %s %s" % (req.method, req.path)})
        return resp

    def _core_control(self, req, name):
        m = req.method
        if name == "health" and m == "GET":
            return json_response(200, {"ok": True, "fake": self.name})
        if name == "requests" and m == "GET":
            out = self.requests
            pc = req.q("path_contains")
            if pc is not None:
                out = [r for r in out if pc in r["path"] or pc in r["route"]]
            meth = req.q("method")
            if meth:
                out = [r for r in out if r["method"] == meth.upper()]
            since = req.q("since")
            if since:
                out = [r for r in out if r["seq"] > int(since)]
            return json_response(200, out)
        if name == "requests" and m == "DELETE":
            self.requests = []
            return json_response(200, {"ok": True})
        if name == "reset" and m == "POST":
            self._reset_core()
            self.reset()
            return json_response(200, {"ok": True})
        if name == "state" and m == "GET":
            return json_response(200, self.state())
        if name == "stats" and m == "GET":
            return json_response(200, self.stats)
        if name == "faults" and m == "GET":
            return json_response(200, {"faults": self.faults})
        if name == "faults" and m == "DELETE":
            self.faults = []
            return json_response(200, {"ok": True})
        if name == "faults" and m == "POST":
            body = req.control_json()
            added = self.add_faults(body.get("faults") if isinstance(body, dict) else None)
            return json_response(200, {"added": added, "faults": self.faults})
        return None


def http_status_fault_response(fault):
    """Answer of an http_status fault: `status`, optional `body` (a string is
    sent raw, as text/html unless `content_type` says otherwise; an object or
    list is sent as JSON) and optional `headers` (object)."""
    body = fault.get("body", "")
    if isinstance(body, (dict, list)):
        resp = json_response(fault["status"], body)
    else:
        resp = Response(fault["status"], body,
                        content_type=fault.get("content_type", "text/html; charset=UTF-8"))
    if fault.get("content_type"):
        resp.set_header("Content-Type", fault["content_type"])
    for k, v in (fault.get("headers") or {}).items():
        resp.set_header(k, v)
    return resp


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "catalogsync-fake/1.0"
    timeout = 120  # idle keep-alive connections are closed after this

    def setup(self):
        # Small header and body writes must not wait for delayed ACKs (40 ms each).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.server.tls:
            # Handshake here, in the connection's own thread, so a client that
            # connects and stays silent cannot block the accept loop.
            self.request.settimeout(10)
            self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *args):
        if self.server.app.args.verbose:
            sys.stderr.write("%s [%s] %s\n" % (self.server.app.name, self.log_date_time_string(), fmt % args))

    def handle_expect_100(self):
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.server.app.max_body:
            self._send(self.server.app.too_large_response(), close=True)
            return False
        return super().handle_expect_100()

    def _read_body(self, cap):
        """Return (body, too_big). Reads Content-Length or chunked bodies."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data = self.rfile.read(size)
                self.rfile.readline(3)
                total += size
                if total <= cap:
                    chunks.append(data)
            return (None, True) if total > cap else (b"".join(chunks), False)
        length = self.headers.get("Content-Length")
        if not length:
            return b"", False
        n = int(length)
        if n > cap:
            left = n
            while left > 0 and left <= 8 * cap:   # drain so the client can read the 413
                got = self.rfile.read(min(left, 1 << 20))
                if not got:
                    break
                left -= len(got)
            return None, True
        return self.rfile.read(n), False

    def _send(self, resp, close=False, head=False):
        self.send_response(resp.status)
        for k, v in resp.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        if close:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if not head and resp.body:
            self.wfile.write(resp.body)
        self.wfile.flush()

    def _serve(self):
        app = self.server.app
        try:
            body, too_big = self._read_body(app.max_body)
        except ValueError:
            self._send(Response(400, "bad request body framing\n", content_type="text/plain"), close=True)
            return
        if too_big:
            self._send(app.too_large_response(), close=True)
            return
        req = Request(self, body, self.server.tls)
        if req.path.startswith("/_fake/"):
            self._send(app.control_dispatch(req))
            return
        with app.lock:
            app.record(req)
            fault = app.take_request_fault(req)
        action = fault["action"] if fault else None
        if action in ("slow", "timeout"):
            time.sleep(float(fault.get("delay_ms", 10000 if action == "timeout" else 1000)) / 1000.0)
        if action == "timeout":
            app.finish_record(req, None, action)
            self.close_connection = True   # close without answering; nothing applied
            return
        try:
            with app.lock:
                if action in ("http_status", "rate_limit", "error"):
                    resp = app.fault_response(req, fault)
                else:
                    req.fault = fault
                    resp = app.handle(req)
                app.decorate(req, resp)
        except Exception:  # a bug in the fake: say so loudly
            tb = traceback.format_exc()
            sys.stderr.write(tb)
            resp = json_response(500, {"fake_internal_error": tb})
        if action == "drop_response":
            app.finish_record(req, None, action)
            self.close_connection = True   # applied, but the answer is lost
            return
        app.finish_record(req, resp.status, action)
        self._send(resp, head=(req.method == "HEAD"))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr, app, tls_context=None):
        self.app = app
        self.tls = tls_context is not None
        super().__init__(addr, FakeHandler, bind_and_activate=False)
        if tls_context is not None:
            self.socket = tls_context.wrap_socket(self.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self.server_bind()
        self.server_activate()

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, socket.timeout, TimeoutError, OSError)):
            return  # clients hanging up or failing the handshake are normal here
        super().handle_error(request, client_address)


def build_parser(app_cls):
    parser = argparse.ArgumentParser(
        prog=os.path.basename(sys.argv[0]), description=app_cls.description,
        epilog=app_cls.epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0,
                        help="TCP port on 127.0.0.1 (0 = pick a free one; default 0)")
    parser.add_argument("--port-file", metavar="PATH",
                        help="also write the chosen port number to PATH")
    parser.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate (chain)")
    parser.add_argument("--tls-key", metavar="FILE", help="private key of --tls-cert")
    parser.add_argument("--max-body", type=int, default=0, metavar="BYTES",
                        help="bodies larger than this get 413 (default %d)" % app_cls.default_max_body)
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    app_cls.add_arguments(parser)
    return parser


def main(app_cls, argv=None):
    parser = build_parser(app_cls)
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    app_cls.check_arguments(parser, args)
    ctx = None
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
    app = app_cls(args)
    server = FakeHTTPServer((BIND_HOST, args.port), app, ctx)
    port = server.server_address[1]
    app.port = port
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % port)
        os.replace(tmp, args.port_file)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write("LISTENING=%s:%d\n" % (BIND_HOST, port))
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0
