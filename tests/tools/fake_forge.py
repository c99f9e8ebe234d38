#!/usr/bin/env python3
"""A fake forge API and notification hook for the integration tests.

usage: fake_forge.py --port-file FILE --log FILE [--port N] [--fail N]

Listens on 127.0.0.1 (port 0, the default, picks a free one; the port is
written to --port-file once listening). Every request except to /__ctl is
appended to --log as one JSON line: {"method", "path", "headers" (names
lowercased), "body" (text), "json" (the body parsed, or null), "status"
(the answer sent)}. It answers 201 {"ok": true}, except:

  --fail N              the first N requests of every path get 502
  POST /__ctl {"fail": {"PATH": N}}   the next N requests of PATH get 502
  POST /__ctl {"throttle": {"PATH": [N, S]}}   the next N get 429 with
                                     Retry-After: S (after any 502s)
  POST /__ctl {"down": true|false}    every request gets 502 while down

Runs until killed.
"""

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"fail": {}, "throttle": {}, "down": False, "fail_each": 0,
         "seen": {}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _answer(self, status, obj, retry_after=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _control(self, raw):
        req = json.loads(raw or b"{}")
        with LOCK:
            for path, n in req.get("fail", {}).items():
                STATE["fail"][path] = int(n)
            for path, (n, secs) in req.get("throttle", {}).items():
                STATE["throttle"][path] = [int(n), int(secs)]
            if "down" in req:
                STATE["down"] = bool(req["down"])
        self._answer(200, {"ok": True})

    def _handle(self):
        raw = self._body()
        path = self.path
        if path == "/__ctl":
            self._control(raw)
            return
        retry_after = None
        with LOCK:
            seen = STATE["seen"].get(path, 0) + 1
            STATE["seen"][path] = seen
            status = 201
            if STATE["down"] or seen <= STATE["fail_each"]:
                status = 502
            elif STATE["fail"].get(path, 0) > 0:
                STATE["fail"][path] -= 1
                status = 502
            elif STATE["throttle"].get(path, [0])[0] > 0:
                STATE["throttle"][path][0] -= 1
                status = 429
                retry_after = STATE["throttle"][path][1]
        text = raw.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        rec = {
            "method": self.command,
            "path": path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": text,
            "json": parsed,
            "status": status,
        }
        with LOCK:
            with open(ARGS.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
        if status == 502:
            self._answer(502, {"message": "bad gateway"})
        elif status == 429:
            self._answer(429, {"message": "API rate limit exceeded"},
                         retry_after)
        else:
            self._answer(201, {"ok": True})

    do_POST = _handle
    do_GET = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--fail", type=int, default=0)
    ARGS = p.parse_args()
    STATE["fail_each"] = ARGS.fail
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(ARGS.port_file + ".tmp", ARGS.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
