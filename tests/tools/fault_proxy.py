#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 reverse proxy for usbd's tests.

It sits between usbd and a real object store (moto_server, nginx dav) and
forwards every request unchanged -- request line, headers in their order and
case (Host and Authorization included, so SigV4 signatures still verify),
body -- and every response unchanged, except when a fault rule fires.

Faults (the rule's "mode"):
  status    answer with an HTTP error instead of forwarding: 500, 503 SlowDown,
            429... with an S3-style XML error body (status, code, message,
            retry_after)
  reset     abort the client connection with a TCP RST, no response
  drop      close the client connection cleanly (FIN), no response
  stall     sleep `seconds` (longer than the client's timeout), then carry
            on; with when=before, a request whose client has gone meanwhile
            is not forwarded (no late write reaches the store)
  truncate  forward, then send the response headers with the full
            Content-Length but only `keep` bytes of the body (default half),
            then close
  flip      forward, then send the whole response with one byte of its body
            changed (XOR `xor`, default 0xff) at `offset` (default: a random
            position; negative counts from the end): a body corrupted in
            transit that every length and status check lets through. Only
            2xx responses with a body are changed (others pass unchanged,
            and do not count as fired)
  corrupt   forward the request with one byte of its body changed (`xor`,
            `offset` as for flip), its headers as they were: an upload
            corrupted in transit, which the store should refuse by its
            Content-MD5 or signed payload hash. The store's answer goes back
            unchanged. Only requests with a body are changed (others pass
            unchanged, and do not count as fired)

Rule fields (JSON object, or key=value pairs joined by commas on the
command line; lists as "GET|PUT"):
  mode      one of the above; a number such as "503" means status=503
  methods   methods it applies to (default all)
  path      regular expression searched in the request target (default all)
  count     how many times it fires; -1 = unlimited. Default 1, or unlimited
            when a rate is given
  rate      probability that a matching request fires it (default 1)
  skip      let this many matching requests through before arming
  when      "before" (default: the store never sees the request) or "after"
            (the store handles the request, the client sees the fault)
  status, code, message, retry_after, seconds, keep, offset, xor: as above

Rules are tried in order; the first one that fires wins.

Control endpoint (never faulted), default path /__fault__:
  GET    /__fault__         rules (with fired/remaining) and counters, JSON
  POST   /__fault__         append rules: a rule, a list, or {"rules": [...]}
  PUT    /__fault__         replace all rules (same body)
  DELETE /__fault__         remove all rules
  DELETE /__fault__/stats   reset the counters

Usage:
  fault_proxy.py --upstream http://127.0.0.1:9000 [--listen 127.0.0.1:0]
                 [--port-file FILE] [--fault SPEC]... [--seed N] [-v]

The listening address is printed on stdout ("listening on http://HOST:PORT")
and, with --port-file, the port is written to FILE once it accepts
connections. Upstream failures become 502 (unreachable) or 504 (timeout).
"""

import argparse
import http.client
import http.server
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
}
MODES = ("status", "reset", "drop", "stall", "truncate", "flip", "corrupt")
DEFAULT_CODES = {
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "SlowDown",
    504: "GatewayTimeout",
}


class RuleError(ValueError):
    pass


class Rule:
    """One fault: what it matches, what it does, how often."""

    FIELDS = ("mode", "methods", "path", "count", "rate", "skip", "when",
              "status", "code", "message", "retry_after", "seconds", "keep",
              "offset", "xor")

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise RuleError("a rule must be a JSON object")
        unknown = set(spec) - set(self.FIELDS)
        if unknown:
            raise RuleError("unknown rule field(s): " + ", ".join(sorted(unknown)))
        mode = str(spec.get("mode", "status"))
        status = spec.get("status", 503)
        if mode.isdigit():
            mode, status = "status", int(mode)
        if mode not in MODES:
            raise RuleError("mode must be one of %s or a status number, not %r"
                            % ("|".join(MODES), mode))
        self.mode = mode
        methods = spec.get("methods", [])
        if isinstance(methods, str):
            methods = [m for m in methods.split("|") if m]
        self.methods = sorted({str(m).upper() for m in methods} - {"*"})
        self.path = str(spec.get("path", ""))
        try:
            self._path_re = re.compile(self.path)
        except re.error as e:
            raise RuleError("bad path regex %r: %s" % (self.path, e))
        try:
            self.rate = float(spec.get("rate", 1.0))
            default_count = -1 if "rate" in spec else 1
            self.count = int(spec.get("count", default_count))
            self.skip = int(spec.get("skip", 0))
            self.status = int(status)
            self.seconds = float(spec.get("seconds", 30.0))
            keep = spec.get("keep")
            self.keep = None if keep is None else int(keep)
            offset = spec.get("offset")
            self.offset = None if offset is None else int(offset)
            self.xor = int(str(spec.get("xor", 0xff)), 0)
            retry_after = spec.get("retry_after")
            self.retry_after = None if retry_after is None else int(retry_after)
        except (TypeError, ValueError) as e:
            raise RuleError("bad number in rule: %s" % e)
        if not 0.0 <= self.rate <= 1.0:
            raise RuleError("rate must be within [0, 1]")
        if not 100 <= self.status <= 599:
            raise RuleError("status must be an HTTP status code")
        if not 1 <= self.xor <= 255:
            raise RuleError("xor must be 1..255")
        needs_response = mode in ("truncate", "flip")
        self.when = str(spec.get("when", "after" if needs_response else "before"))
        if self.when not in ("before", "after"):
            raise RuleError("when must be before or after")
        if needs_response and self.when != "after":
            raise RuleError(mode + " needs the store's response: when=after")
        if mode == "corrupt" and self.when != "before":
            raise RuleError("corrupt changes what the store gets: when=before")
        self.code = str(spec.get("code", DEFAULT_CODES.get(self.status, "InjectedFault")))
        self.message = str(spec.get("message", "injected by fault_proxy"))
        self.remaining = self.count
        self.skip_left = self.skip
        self.fired = 0

    @classmethod
    def parse_cli(cls, text):
        """A rule from JSON or from "key=value,key=value"."""
        text = text.strip()
        if text.startswith("{"):
            return cls(json.loads(text))
        spec = {}
        for item in text.split(","):
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep:
                if "mode" in spec:
                    raise RuleError("expected key=value, got %r" % item)
                spec["mode"] = key.strip()
            else:
                spec[key.strip()] = value.strip()
        return cls(spec)

    def matches(self, method, target):
        if self.methods and method.upper() not in self.methods:
            return False
        return self._path_re.search(target) is not None

    def to_dict(self):
        d = {f: getattr(self, f) for f in self.FIELDS}
        d.update(fired=self.fired, remaining=self.remaining)
        return d


def parse_rules(payload):
    if isinstance(payload, dict) and "rules" in payload:
        payload = payload["rules"]
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise RuleError("expected a rule, a list of rules or {\"rules\": [...]}")
    return [Rule(item) for item in payload]


class FaultProxy(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, listen, upstream, rules, seed, timeout, control_path,
                 verbose):
        self.upstream = upstream  # (host, port)
        self.upstream_timeout = timeout
        self.control_path = control_path.rstrip("/")
        self.verbose = verbose
        self.lock = threading.Lock()
        self.rules = list(rules)
        self.rng = random.Random(seed)
        self.stats = {}
        self.reset_stats()
        super().__init__(listen, ProxyHandler)

    def reset_stats(self):
        with self.lock:
            self.stats = {"requests": 0, "forwarded": 0, "upstream_errors": 0,
                          "faults": {m: 0 for m in MODES}}

    def count(self, key):
        with self.lock:
            self.stats[key] += 1

    def pick_rule(self, method, target):
        """The first rule that fires for this request, or None."""
        with self.lock:
            self.stats["requests"] += 1
            for rule in self.rules:
                if rule.remaining == 0 or not rule.matches(method, target):
                    continue
                if rule.skip_left > 0:
                    rule.skip_left -= 1
                    continue
                if rule.rate < 1.0 and self.rng.random() >= rule.rate:
                    continue
                if rule.remaining > 0:
                    rule.remaining -= 1
                rule.fired += 1
                self.stats["faults"][rule.mode] += 1
                return rule
        return None

    def flip(self, rule, response, target):
        """The response with one body byte changed, when it is a 2xx with
        a body; otherwise unchanged, and the rule's firing is undone."""
        status, reason, headers, body = response
        if not 200 <= status < 300 or not body:
            self.unfire(rule)
            return response
        return status, reason, headers, self.flip_byte(rule, body, target)

    def corrupt(self, rule, body, target):
        """The request body with one byte changed; an empty one unchanged,
        and the rule's firing is undone."""
        if not body:
            self.unfire(rule)
            return body
        return self.flip_byte(rule, body, target)

    def unfire(self, rule):
        with self.lock:
            rule.fired -= 1
            if rule.remaining >= 0:
                rule.remaining += 1
            self.stats["faults"][rule.mode] -= 1

    def flip_byte(self, rule, body, target):
        with self.lock:
            if rule.offset is None:
                offset = self.rng.randrange(len(body))
            else:
                offset = rule.offset % len(body)
        data = bytearray(body)
        data[offset] ^= rule.xor
        self.log("%s: flipped byte %d of %d (xor 0x%02x)"
                 % (target, offset, len(body), rule.xor))
        return bytes(data)

    def state(self):
        with self.lock:
            return {"rules": [r.to_dict() for r in self.rules],
                    "stats": json.loads(json.dumps(self.stats))}

    def log(self, text):
        if self.verbose:
            sys.stderr.write("fault_proxy: %s\n" % text)
            sys.stderr.flush()


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.upstream_conn = None  # one keep-alive connection per client one

    def finish(self):
        try:
            super().finish()
        finally:
            if self.upstream_conn is not None:
                self.upstream_conn.close()

    def log_message(self, format, *args):  # noqa: A002 (base class name)
        self.server.log("%s %s" % (self.address_string(), format % args))

    # Every method goes through the same path.
    def do_GET(self):
        self.dispatch()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_PATCH = do_GET

    # --- request ---------------------------------------------------------

    def read_body(self):
        """The request body, and whether it came chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ValueError("connection closed inside a chunked body")
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    break
                parts.append(self.read_exactly(size))
                if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise ValueError("bad chunk terminator")
            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts), True
        length = self.headers.get("Content-Length")
        if length is None:
            return b"", False
        return self.read_exactly(int(length)), False

    def read_exactly(self, n):
        data = self.rfile.read(n)
        if len(data) != n:
            raise ValueError("connection closed inside the body")
        return data

    def dispatch(self):
        try:
            body, chunked = self.read_body()
        except ValueError as e:
            self.close_connection = True
            self.send_simple(400, "Bad Request", {"error": str(e)})
            return
        target_path = urllib.parse.urlsplit(self.path).path
        control = self.server.control_path
        if target_path == control or target_path.startswith(control + "/"):
            self.control(target_path[len(control):], body)
            return

        rule = self.server.pick_rule(self.command, self.path)
        if rule is None:
            self.reply(self.forward(body, chunked))
            return
        self.server.log("%s %s: injecting %s (%s)"
                        % (self.command, self.path, rule.mode, rule.when))
        response = self.forward(body, chunked) if rule.when == "after" else None
        self.inject(rule, response, body, chunked)

    # --- faults ------------------------------------------------------------

    def inject(self, rule, response, body, chunked):
        if rule.mode == "status":
            self.send_error_xml(rule)
        elif rule.mode == "reset":
            self.reset()
        elif rule.mode == "drop":
            self.close_connection = True
        elif rule.mode == "stall":
            time.sleep(rule.seconds)
            if response is None:
                if self.client_gone():
                    self.close_connection = True
                    return
                response = self.forward(body, chunked)
            self.reply(response)
        elif rule.mode == "truncate":
            self.reply(response, truncate=True, keep=rule.keep)
        elif rule.mode == "flip":
            self.reply(self.server.flip(rule, response, self.path))
        elif rule.mode == "corrupt":
            body = self.server.corrupt(rule, body, self.path)
            self.reply(self.forward(body, chunked))

    def send_error_xml(self, rule):
        reason = http.HTTPStatus(rule.status).phrase if rule.status in \
            http.HTTPStatus._value2member_map_ else "Error"
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
               "<Message>%s</Message><Resource>%s</Resource>"
               "<RequestId>fault-proxy</RequestId></Error>\n"
               % (rule.code, rule.message, self.path)).encode()
        headers = [("Content-Type", "application/xml"),
                   ("Content-Length", str(len(xml)))]
        if rule.retry_after is not None:
            headers.append(("Retry-After", str(rule.retry_after)))
        self.reply((rule.status, reason, headers, xml))

    def reset(self):
        """Abort the connection: SO_LINGER 0 makes close() send an RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.rfile.close()  # drops its reference so close() is real
            self.connection.close()
        except OSError:
            pass

    def client_gone(self):
        try:
            return self.connection.recv(
                1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    # --- upstream ------------------------------------------------------------

    def forward(self, body, chunked):
        """Sends the request upstream; returns (status, reason, headers, body)."""
        headers = [(k, v) for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP]
        for attempt in range(2):
            conn = self.upstream_conn
            reused = conn is not None
            if conn is None:
                host, port = self.server.upstream
                conn = http.client.HTTPConnection(
                    host, port, timeout=self.server.upstream_timeout)
                self.upstream_conn = conn
            try:
                conn.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
                for key, value in headers:
                    conn.putheader(key, value)
                if chunked:
                    conn.putheader("Transfer-Encoding", "chunked")
                    conn.endheaders(body, encode_chunked=True)
                else:
                    conn.endheaders(body if body else None)
                resp = conn.getresponse()
                data = resp.read()
                result = (resp.status, resp.reason, resp.getheaders(), data)
                if resp.will_close:
                    conn.close()
                    self.upstream_conn = None
                self.server.count("forwarded")
                return result
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                self.upstream_conn = None
                stale = isinstance(e, (http.client.RemoteDisconnected,
                                       ConnectionResetError, BrokenPipeError))
                if reused and stale and attempt == 0:
                    continue  # the store closed an idle keep-alive connection
                self.server.count("upstream_errors")
                self.server.log("upstream error on %s %s: %r"
                                % (self.command, self.path, e))
                if isinstance(e, TimeoutError):
                    return self.gateway_error(504, "Gateway Timeout", e)
                return self.gateway_error(502, "Bad Gateway", e)
        raise AssertionError("unreachable")

    @staticmethod
    def gateway_error(status, reason, error):
        text = ("fault_proxy: upstream: %s\n" % error).encode()
        return (status, reason, [("Content-Type", "text/plain"),
                                 ("Content-Length", str(len(text)))], text)

    # --- response ------------------------------------------------------------

    def reply(self, response, truncate=False, keep=None):
        """Sends a response; with truncate, only `keep` bytes of its body
        (default half) and then closes, though Content-Length says more."""
        status, reason, headers, body = response
        bodyless = (self.command == "HEAD" or status in (204, 304)
                    or 100 <= status < 200)
        out = []
        have_length = False
        for key, value in headers:
            lower = key.lower()
            if lower in HOP_BY_HOP:
                continue
            if lower == "content-length":
                if have_length:
                    continue
                have_length = True
                if not bodyless:
                    value = str(len(body))
            out.append((key, value))
        if not bodyless and not have_length:
            out.append(("Content-Length", str(len(body))))
        if truncate:
            self.close_connection = True
        if self.close_connection:
            out.append(("Connection", "close"))
        elif self.request_version == "HTTP/1.0":
            out.append(("Connection", "keep-alive"))
        head = "HTTP/1.1 %d %s\r\n" % (status, reason)
        head += "".join("%s: %s\r\n" % kv for kv in out) + "\r\n"
        payload = b"" if bodyless else body
        data = head.encode("latin-1") + payload
        if truncate:
            if payload:
                if keep is None or keep < 0:
                    keep = len(payload) // 2
                keep = min(keep, len(payload) - 1)
                data = data[:len(data) - len(payload) + keep]
            else:  # nothing to cut short but the header block itself
                data = data[:max(len(head) // 2, 1)]
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def send_simple(self, status, reason, obj):
        data = (json.dumps(obj, indent=1) + "\n").encode()
        self.reply((status, reason, [("Content-Type", "application/json"),
                                     ("Content-Length", str(len(data)))], data))

    # --- control -------------------------------------------------------------

    def control(self, sub, body):
        server = self.server
        try:
            if sub in ("", "/") and self.command == "GET":
                self.send_simple(200, "OK", server.state())
            elif sub in ("", "/") and self.command in ("POST", "PUT"):
                rules = parse_rules(json.loads(body or b"null"))
                with server.lock:
                    if self.command == "PUT":
                        server.rules = rules
                    else:
                        server.rules.extend(rules)
                server.log("%s rules: %s" % (self.command,
                                             [r.to_dict() for r in rules]))
                self.send_simple(200, "OK", server.state())
            elif sub in ("", "/") and self.command == "DELETE":
                with server.lock:
                    server.rules = []
                self.send_simple(200, "OK", server.state())
            elif sub == "/stats" and self.command == "DELETE":
                server.reset_stats()
                self.send_simple(200, "OK", server.state())
            else:
                self.send_simple(404, "Not Found",
                                 {"error": "no such control request"})
        except (ValueError, RuleError) as e:  # JSONDecodeError is a ValueError
            self.send_simple(400, "Bad Request", {"error": str(e)})


def parse_hostport(text, default_host):
    host, _, port = text.rpartition(":")
    return (host.strip("[]") or default_host, int(port))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Fault-injecting HTTP/1.1 reverse proxy (see the module "
                    "docstring for rules and the control endpoint).")
    parser.add_argument("--upstream", required=True,
                        help="http://HOST:PORT of the real store")
    parser.add_argument("--listen", default="127.0.0.1:0",
                        help="HOST:PORT to listen on (port 0: any free port)")
    parser.add_argument("--port-file", help="write the listening port here")
    parser.add_argument("--fault", action="append", default=[],
                        metavar="SPEC", help="a rule (JSON or key=value,...)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed for rate-based faults (reproducible runs)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the upstream")
    parser.add_argument("--control-path", default="/__fault__")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)

    upstream = urllib.parse.urlsplit(args.upstream)
    if upstream.scheme != "http" or not upstream.hostname:
        parser.error("--upstream must be http://HOST[:PORT]")
    try:
        rules = [Rule.parse_cli(spec) for spec in args.fault]
        listen = parse_hostport(args.listen, "127.0.0.1")
    except (ValueError, RuleError) as e:
        parser.error(str(e))

    server = FaultProxy(listen, (upstream.hostname, upstream.port or 80),
                        rules, args.seed, args.timeout, args.control_path,
                        args.verbose)
    host, port = server.server_address[:2]
    print("listening on http://%s:%d -> %s" % (host, port, args.upstream),
          flush=True)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
