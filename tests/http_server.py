"""A real HTTP server on 127.0.0.1 for the download tests: it serves byte strings by path, answers
range requests, and can fail on purpose (an error status, a body cut short, a stall). Every
request is logged with its time and range. Nothing but 127.0.0.1 is ever contacted."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANDLER_TIMEOUT_S = 10  # a client that stops reading cannot hold a handler thread longer


@dataclass
class Served:
    """What one path answers: `body`, after `failures` requests that fail as `fault` says."""

    body: bytes = b""
    status: int = 200  # an error status answers every request
    fault: str | None = None  # "cut": half the body then close; "stall": half the body then wait
    failures: int = 0  # how many requests meet the fault (then it serves normally)
    stall_s: float = 3.0
    spared: int = 0  # requests served whole before the faults begin (a downloader's probe)


@dataclass
class Request:
    path: str
    at: float
    range: str | None


@dataclass
class LocalServer:
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def __enter__(self) -> LocalServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            timeout = HANDLER_TIMEOUT_S

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                owner.requests.append(Request(self.path, time.monotonic(), self.headers.get("Range")))
                served = owner.files.get(self.path)
                if served is None or served.status != 200:
                    self.send_error(404 if served is None else served.status)
                    return
                start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
                body = served.body[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(served.body) - 1}/{len(served.body)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if served.spared > 0:
                    served.spared -= 1
                elif served.failures > 0 and served.fault:
                    served.failures -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if served.fault == "stall":
                        time.sleep(served.stall_s)
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"
