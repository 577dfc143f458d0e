"""Start a fake server as a child process and talk to its control API.

For Python tests (unittest). Usage:

    from fakeproc import FakeProcess
    fake = FakeProcess("fake_meta.py", ["--token", "T", "--catalog", "123"])
    self.addCleanup(fake.stop)          # always: kills the child even on failure
    fake.control("POST", "faults", {"faults": [...]})
    status, headers, body = fake.http("GET", "/v25.0/123/products")

Only 127.0.0.1 is used. The child inherits stderr (tracebacks show up in the
test output); stdout carries only the LISTENING= line.
"""
import http.client
import json
import os
import select
import subprocess
import time
from urllib.parse import quote

FAKES_DIR = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"


class FakeProcess:
    def __init__(self, script, args=(), start_timeout=10.0, tls_context=None):
        path = script if os.path.isabs(script) else os.path.join(FAKES_DIR, script)
        self.proc = subprocess.Popen([PYTHON, path, "--port", "0"] + list(args),
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.tls_context = tls_context
        self.port = None
        try:
            self.port = self._read_port(start_timeout)
        except Exception:
            self.stop()
            raise
        self.host = "127.0.0.1"
        scheme = "https" if tls_context is not None else "http"
        self.base_url = "%s://127.0.0.1:%d" % (scheme, self.port)

    def _read_port(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("fake did not print LISTENING= within %.1fs" % timeout)
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError("fake exited early (rc=%s)" % self.proc.poll())
                buf += chunk
        line = buf.split(b"\n", 1)[0].decode()
        if not line.startswith("LISTENING=127.0.0.1:"):
            raise RuntimeError("unexpected first line from fake: %r" % line)
        return int(line.rsplit(":", 1)[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()

    def connection(self, timeout=10.0, tls_context=None):
        ctx = tls_context or self.tls_context
        if ctx is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def http(self, method, path, body=None, headers=None, timeout=10.0, tls_context=None):
        """One request on a fresh connection. `body` may be bytes, str or a
        JSON-able object (then Content-Type application/json is added unless
        given). Returns (status, headers as dict with lower-case names, body bytes)."""
        headers = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = self.connection(timeout, tls_context)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None, **kw):
        status, hdrs, data = self.http(method, path, body, headers, **kw)
        return status, hdrs, (json.loads(data) if data else None)

    def control(self, method, name, body=None):
        """Call /_fake/<name>; returns the decoded JSON answer; raises on non-200."""
        status, _, data = self.json(method, "/_fake/" + name, body)
        if status != 200:
            raise RuntimeError("control %s %s -> %d %r" % (method, name, status, data))
        return data

    def add_faults(self, *faults):
        return self.control("POST", "faults", {"faults": list(faults)})

    def requests(self, path_contains=None):
        q = "" if path_contains is None else "?path_contains=" + quote(path_contains)
        return self.control("GET", "requests" + q)

    def state(self):
        return self.control("GET", "state")

    def stats(self):
        return self.control("GET", "stats")

    def reset(self):
        return self.control("POST", "reset")
