#!/usr/bin/env python3
"""An HTTP/1.1 server on 127.0.0.1 that misbehaves on request, for libcoffer-http's tests.

Prints its port on stdout, then serves until killed. Paths:
  /echo...                 200, JSON: method, path, headers, body length and SHA-256
  /flaky/KEY/N/STATUS      the first N requests for KEY answer STATUS, then 200 "ok"
  /retry-after/KEY/N       the first N answer 429 with Retry-After: 1, then 200 "ok"
  /reset/KEY/N             the first N requests get the connection closed, no answer
  /stall/KEY/N             the first N send half a body and stall for 30 s
  /status/CODE             answers CODE with a body naming a signature (sig=...)
  /count/KEY               how many requests KEY has seen
A request line with an absolute URL (http://host/path, as a client sends to a proxy) is
served as if for /path, and /echo reports "proxied": true with the host it asked for.
"""
import hashlib
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {}
lock = threading.Lock()


def seen(key):
    with lock:
        counts[key] = counts.get(key, 0) + 1
        return counts[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        proxied_host = None
        if self.path.startswith("http://"):
            rest = self.path[len("http://"):]
            proxied_host, _, path = rest.partition("/")
            self.path = "/" + path
        parts = self.path.split("?")[0].strip("/").split("/")
        kind = parts[0]
        if kind == "echo":
            doc = {"method": self.command, "path": self.path,
                   "headers": {k.lower(): v for k, v in self.headers.items()},
                   "length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                   "proxied": proxied_host is not None, "proxied_host": proxied_host}
            self.reply(200, json.dumps(doc, sort_keys=True).encode())
        elif kind in ("flaky", "retry-after", "reset", "stall"):
            key, n = parts[1], int(parts[2])
            if seen(key) <= n:
                if kind == "flaky":
                    self.reply(int(parts[3]), b"try again later")
                elif kind == "retry-after":
                    self.reply(429, b"slow down", [("Retry-After", "1")])
                elif kind == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    self.connection.close()
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"x" * 500)
                    self.wfile.flush()
                    time.sleep(30)
                    self.close_connection = True
                return
            self.reply(200, b"ok")
        elif kind == "status":
            self.reply(int(parts[1]), b"<Error><Code>Nope</Code><Message>denied; "
                                      b"url was /x?sig=abcdEFGH1234&a=1</Message></Error>")
        elif kind == "count":
            with lock:
                n = counts.get(parts[1], 0)
            self.reply(200, str(n).encode())
        else:
            self.reply(404, b"no such path")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


server = Server(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
