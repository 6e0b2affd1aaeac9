#!/usr/bin/env python3
"""The attack suite of issue 15: attacks on the real `dataflow serve` binary, one case per run.

usage: attack.py DATAFLOW_BINARY SOURCE_DIR CASE      (attack.py --list prints the cases)

Each case starts its own server (free loopback ports, temp config and secrets directories, the
bundled catalogue with catalog.mode = file, the upstream at a closed loopback port so nothing
leaves the machine, drain delay 300 ms as the e2e tests use; everything else the defaults), runs
its attacks and, for each attack, while it runs and for 1 s after, samples in the background:

- the server's RSS from /proc/PID/status every 50 ms: the peak must stay under 128 MiB;
- GET /health/live on the probe port (the metrics port; the API port until probes are served
  there, which the output says) every 100 ms on a fresh connection: every sample 200 in < 100 ms;
- a well-behaved client, GET /api/v1/dataflows?limit=5 on the API port (fresh connection, 10 s
  timeout), once or twice during the attack: 200;
- once the attack's sockets are closed, the RSS must come back under 64 MiB within 5 s.

After the last attack the server must still answer /health/live and exit 0 on SIGTERM within
drain delay + server.shutdown_timeout. One summary line per attack; on failure every failed check
with its figures, then the end of the server's log. Exit 0 when everything held, 1 otherwise.

The samplers run in a forked process, so the attack loops of this process never delay a probe
sample by holding the GIL. To protect the shared machine, an attack stops sending once the
server's RSS passes 512 MiB, and the server is killed (SIGKILL) if it passes 1.5 GiB; both are
reported as failures.
"""
import errno
import json
import multiprocessing
import os
import re
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

PEAK_RSS_LIMIT = 128 * MiB
AFTER_RSS_LIMIT = 64 * MiB
AFTER_RSS_WITHIN = 5.0
LIVE_LIMIT = 0.100
LIVE_PERIOD = 0.100
RSS_PERIOD = 0.050
POST_WINDOW = 1.0
CLIENT_TIMEOUT = 10.0
RSS_STOP_ATTACK = 512 * MiB  # already failing: stop sending, spare the shared machine
RSS_KILL = 3 * GiB // 2  # the issue measured 3.6 GiB: never let it get there

DEFAULT_MAX_BODY = 64 * MiB
HEAD_CAP = 32 * KiB
DRAIN_DELAY = 0.3
SHUTDOWN_TIMEOUT = 20.0  # server.shutdown_timeout's default


def size(n):
    if n is None:
        return "?"
    if n >= GiB:
        return f"{n / GiB:.2f} GiB"
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    if n >= KiB:
        return f"{n / KiB:.1f} KiB"
    return f"{n} B"


def ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def socket_slack():
    """Bytes that can sit in socket buffers between our send() and the server's read()."""
    total = 0
    for name in ("tcp_wmem", "tcp_rmem"):
        try:
            with open(f"/proc/sys/net/ipv4/{name}") as f:
                total += int(f.read().split()[2])
        except (OSError, ValueError, IndexError):
            total += 8 * MiB
    return total + 1 * MiB


def rss_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * KiB
    except OSError:
        pass
    return None


# ------------------------------------------------------------------------ HTTP on raw sockets


def parse_responses(data):
    """HTTP/1.1 responses in `data`, in order: [(status, {lower-name: value}, body)], rest."""
    out = []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0 or not data.startswith(b"HTTP/"):
            return out, data
        head = data[:end].decode("latin-1").split("\r\n")
        try:
            status = int(head[0].split()[1])
        except (IndexError, ValueError):
            return out, data
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        rest = data[end + 4:]
        if "content-length" in headers:
            n = int(headers["content-length"])
            if len(rest) < n:
                return out, data
            out.append((status, headers, rest[:n]))
            data = rest[n:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body, pos = b"", 0
            while True:
                eol = rest.find(b"\r\n", pos)
                if eol < 0:
                    return out, data
                n = int(rest[pos:eol].split(b";")[0], 16)
                if n == 0:
                    trailer = rest.find(b"\r\n\r\n", eol)
                    pos = eol + 4 if rest[eol:eol + 4] == b"\r\n\r\n" else trailer + 4
                    break
                body += rest[eol + 2:eol + 2 + n]
                pos = eol + 2 + n + 2
            out.append((status, headers, body))
            data = rest[pos:]
        else:  # until EOF
            out.append((status, headers, rest))
            return out, b""


def statuses_text(statuses):
    """[400, 400, 414] -> '400 x2, 414' (in order of first appearance)."""
    if not statuses:
        return "nothing"
    counts = {}
    for st in statuses:
        counts[st] = counts.get(st, 0) + 1
    return ", ".join(f"{st} x{n}" if n > 1 else str(st) for st, n in counts.items())


def request(port, method, path, headers=None, body=b"", timeout=CLIENT_TIMEOUT):
    """One request on a fresh connection (Connection: close), read to EOF.

    Returns (status, headers, body, seconds); status None and the error text as body on failure.
    """
    start = time.monotonic()
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(max(0.01, timeout - (time.monotonic() - start)))
            s.sendall(raw)
            chunks = []
            while True:
                left = timeout - (time.monotonic() - start)
                if left <= 0:
                    raise socket.timeout("timed out")
                s.settimeout(left)
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
    except OSError as e:
        return None, {}, f"{type(e).__name__}: {e}".encode(), time.monotonic() - start
    responses, _ = parse_responses(b"".join(chunks))
    if not responses:
        data = b"".join(chunks)
        return None, {}, b"no HTTP response (" + data[:80] + b")", time.monotonic() - start
    status, hdrs, rbody = responses[0]
    return status, hdrs, rbody, time.monotonic() - start


# ------------------------------------------------------------------------ the server


class Server:
    def __init__(self, binary, source, workdir, env=None, name="server"):
        self.binary, self.source, self.workdir = binary, source, workdir
        self.extra_env = dict(env or {})
        self.name = name
        self.proc = None
        self.api_port = self.metrics_port = None
        self.probe_port = None
        self.probe_note = ""
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.upstream_url = f"http://127.0.0.1:{closed_port()}/rest"

    def environment(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_")}
        cfg = os.path.join(self.workdir, "cfg")
        secrets = os.path.join(self.workdir, "secrets")
        os.makedirs(cfg, exist_ok=True)
        os.makedirs(secrets, exist_ok=True)
        env.update({
            "DATAFLOW_CONFIG_DIR": cfg,
            "DATAFLOW_SECRETS_DIR": secrets,
            "DATAFLOW_CATALOG_MODE": "file",
            "DATAFLOW_CATALOG_FILE": os.path.join(self.source, "examples",
                                                  "istat-dataflows-2020.xml"),
            # Never the real upstream: a closed loopback port.
            "DATAFLOW_UPSTREAM_BASE_URL": self.upstream_url,
            "DATAFLOW_SERVER_DRAIN_DELAY": f"{int(DRAIN_DELAY * 1000)}ms",
            "DATAFLOW_LOG_FORMAT": "json",
        })
        env.update(self.extra_env)
        return env

    def start(self):
        env = self.environment()
        for attempt in range(3):
            self.api_port, self.metrics_port = free_port(), free_port()
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.api_port),
                 "--metrics-port", str(self.metrics_port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
            log.close()
            if self.wait_started(20.0):
                return self.startup_warnings()
            if self.proc.poll() is None:
                break
            if "cannot listen" not in self.log():
                break
            print(f"note: port taken ({self.api_port}/{self.metrics_port}), retrying")
        raise Failure(f"{self.name} did not pass /health/startup within 20 s "
                      f"(exit {self.proc.poll()})")

    def wait_started(self, within):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            st, _, _, _ = request(self.metrics_port, "GET", "/health/startup", timeout=1.0)
            if st == 200:
                self.probe_port = self.metrics_port
                self.probe_note = "probe port = metrics port"
                return True
            if st is not None:  # the metrics port answers, without the probes (yet)
                st2, _, _, _ = request(self.api_port, "GET", "/health/startup", timeout=1.0)
                if st2 == 200:
                    self.probe_port = self.api_port
                    self.probe_note = (f"NOTE: /health/startup on the metrics port answers {st}, "
                                       "not 200: the probes are not served there yet, so "
                                       "/health/live is sampled on the API port")
                    return True
            time.sleep(0.05)
        return False

    def startup_warnings(self):
        """Configuration warnings logged before the server listened (`dataflow: warn: env
        DATAFLOW_X: unknown variable`): the cases set real keys only."""
        out = []
        for line in self.log().splitlines():
            if "listening on" in line:
                break
            if "DATAFLOW_" in line and "warn" in line.lower():
                out.append(line[:300])
        return out

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def metrics(self):
        st, _, body, _ = request(self.metrics_port, "GET", "/metrics", timeout=5.0)
        if st != 200:
            raise Failure(f"GET /metrics on port {self.metrics_port}: {st} {body[:120]!r}")
        return body.decode("utf-8", "replace")

    def stop(self):
        """SIGTERM; the exit code and seconds, or None when it did not exit in time."""
        if not self.alive():
            return self.proc.poll(), 0.0
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(DRAIN_DELAY + SHUTDOWN_TIMEOUT + 3.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None, time.monotonic() - start
        return rc, time.monotonic() - start

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


def closed_port():
    """A loopback port nothing listens on (bound and closed; nobody else is told about it)."""
    return free_port()


class Failure(Exception):
    pass


# ------------------------------------------------------------------------ the samplers


def _sampler_main(pid, probe_port, stop, stop_attack, conn):
    """In a forked process: RSS every 50 ms and /health/live every 100 ms until `stop`."""
    result = {"rss_peak": 0, "rss_samples": 0, "live": [], "killed_at": None,
              "stopped_attack_at": None, "rss_start": rss_of(pid) or 0}
    # Relative to where this attack starts, so one attack's leftovers do not stop the next.
    stop_at = max(RSS_STOP_ATTACK, result["rss_start"] + RSS_STOP_ATTACK // 2)
    t0 = time.monotonic()
    done = threading.Event()

    def rss_loop():
        nxt = time.monotonic()
        while not done.is_set():
            r = rss_of(pid)
            if r is not None:
                result["rss_peak"] = max(result["rss_peak"], r)
                result["rss_samples"] += 1
                if r > stop_at and not stop_attack.is_set():
                    stop_attack.set()
                    result["stopped_attack_at"] = (time.monotonic() - t0, r)
                if r > RSS_KILL and result["killed_at"] is None:
                    os.kill(pid, signal.SIGKILL)
                    result["killed_at"] = (time.monotonic() - t0, r)
            nxt += RSS_PERIOD
            done.wait(max(0.0, nxt - time.monotonic()))

    def live_loop():
        nxt = time.monotonic()
        while not done.is_set():
            t = time.monotonic() - t0
            st, _, body, secs = request(probe_port, "GET", "/health/live", timeout=2.0)
            result["live"].append((t, st, secs, None if st else body[:100].decode("latin-1")))
            nxt += LIVE_PERIOD
            now = time.monotonic()
            if nxt < now:  # a slow sample: the next one starts now, not in a burst
                nxt = now
            done.wait(max(0.0, nxt - now))

    threads = [threading.Thread(target=rss_loop), threading.Thread(target=live_loop)]
    for th in threads:
        th.start()
    stop.wait()
    done.set()
    for th in threads:
        th.join()
    conn.send(result)
    conn.close()


class Watch:
    """The background checks of one attack; `failures` collects what did not hold."""

    def __init__(self, server, name, client_at=(1.0,), client_headers=None):
        self.server, self.name, self.client_at = server, name, client_at
        self.client_headers = client_headers or {}
        self.ctx = multiprocessing.get_context("fork")
        self.stop_event = self.ctx.Event()
        self.stop_attack = self.ctx.Event()
        self.clients = []
        self.client_done_at = []
        self.attack_end = None
        self.client_threads = []
        self.failures = []
        self.notes = []

    def __enter__(self):
        self.parent_conn, child_conn = self.ctx.Pipe(duplex=False)
        self.proc = self.ctx.Process(
            target=_sampler_main,
            args=(self.server.pid, self.server.probe_port, self.stop_event, self.stop_attack,
                  child_conn))
        self.proc.start()
        child_conn.close()
        self.t0 = time.monotonic()
        for at in self.client_at:
            th = threading.Thread(target=self._client, args=(at,), daemon=True)
            th.start()
            self.client_threads.append(th)
        return self

    def elapsed(self):
        return time.monotonic() - self.t0

    def should_stop(self):
        return self.stop_attack.is_set()

    def clients_pending(self):
        return any(th.is_alive() for th in self.client_threads)

    def _client(self, at):
        time.sleep(max(0.0, at - self.elapsed()))
        start = self.elapsed()
        st, _, body, secs = request(self.server.api_port, "GET", "/api/v1/dataflows?limit=5",
                                    self.client_headers)
        self.clients.append((start, st, secs, body[:120].decode("latin-1")))
        self.client_done_at.append((start, self.elapsed()))

    def fail(self, text):
        self.failures.append(text)

    def note(self, text):
        self.notes.append(text)

    def __exit__(self, exc_type, exc, tb):
        # The attack's sockets are closed by now (each attack closes its own before returning).
        attack_end = self.attack_end = self.elapsed()
        for th in self.client_threads:
            th.join(CLIENT_TIMEOUT + 1.0)
        time.sleep(max(0.0, attack_end + POST_WINDOW - self.elapsed()))
        self.stop_event.set()
        result = self.parent_conn.recv() if self.parent_conn.poll(10.0) else None
        self.proc.join(5.0)
        if result is None:
            self.fail("the sampler process returned nothing")
            result = {"rss_peak": 0, "live": [], "killed_at": None, "stopped_attack_at": None,
                      "rss_samples": 0, "rss_start": 0}
        # RSS after the attack: under 64 MiB within 5 s of its end.
        deadline = self.t0 + attack_end + AFTER_RSS_WITHIN
        while True:
            after = rss_of(self.server.pid)
            if after is None or after < AFTER_RSS_LIMIT or time.monotonic() >= deadline:
                after_t = self.elapsed() - attack_end
                break
            time.sleep(0.1)
        handled = exc_type is not None and issubclass(exc_type, Failure)
        if handled:
            self.fail(str(exc))  # recorded; the case goes on with its next attack
        self._judge(result, after, after_t)
        return handled

    def _judge(self, r, after, after_t):
        peak = r["rss_peak"]
        if r["stopped_attack_at"]:
            t, v = r["stopped_attack_at"]
            self.fail(f"RSS reached {size(v)} at t={t:.2f}s: attack traffic stopped early to "
                      "spare the machine")
        if r["killed_at"]:
            t, v = r["killed_at"]
            self.fail(f"RSS passed {size(RSS_KILL)} ({size(v)}) at {t:.2f} s: server killed")
        if peak >= PEAK_RSS_LIMIT:
            self.fail(f"peak RSS {size(peak)} >= {size(PEAK_RSS_LIMIT)} (RSS at the start of "
                      f"this attack: {size(r['rss_start'])})")
        live = r["live"]
        bad = [s for s in live if s[1] != 200 or s[2] >= LIVE_LIMIT]
        worst = max((s[2] for s in live), default=None)
        if not live:
            self.fail("no /health/live sample was taken")
        if bad:
            shown = ", ".join(
                f"t={t:.2f}s " + (f"{st} in {ms(secs)}" if st else f"{err} after {ms(secs)}")
                for t, st, secs, err in bad[:6])
            self.fail(f"/health/live on port {self.server.probe_port}: {len(bad)} of {len(live)} "
                      f"samples failed (not 200 in < {ms(LIVE_LIMIT)}): {shown}"
                      + (" ..." if len(bad) > 6 else ""))
        ok_clients = [c for c in self.clients if c[1] == 200]
        for start, st, secs, body in self.clients:
            if st != 200:
                self.fail(f"well-behaved client (GET /api/v1/dataflows?limit=5 at t={start:.2f}s):"
                          f" {st if st else body} after {ms(secs)}")
        for start, done in self.client_done_at:
            if start < self.attack_end and done > self.attack_end + 0.1:
                self.fail(f"well-behaved client (started at t={start:.2f}s, during the attack) "
                          f"was answered only at t={done:.2f}s, after the attack's connections "
                          f"were closed at t={self.attack_end:.2f}s")
        if len(self.clients) < len(self.client_at):
            self.fail(f"well-behaved client: {len(self.client_at) - len(self.clients)} call(s) "
                      f"did not finish within {CLIENT_TIMEOUT:.0f} s")
        if after is None:
            self.fail("the server is gone (no /proc entry) after the attack")
        elif after >= AFTER_RSS_LIMIT:
            self.fail(f"RSS {after_t:.1f} s after the attack: {size(after)} >= "
                      f"{size(AFTER_RSS_LIMIT)}")
        client_ms = max((c[2] for c in self.clients), default=None)
        print(f"[{self.name}] peak RSS {size(peak)} (limit {size(PEAK_RSS_LIMIT)}, "
              f"{size(r['rss_start'])} at the start); "
              f"/health/live worst {ms(worst)} over {len(live)} samples, {len(bad)} failed; "
              f"client {len(ok_clients)}/{len(self.client_at)} ok (slowest {ms(client_ms)}); "
              f"RSS {size(after)} {after_t:.1f} s after the attack "
              f"(limit {size(AFTER_RSS_LIMIT)}); "
              f"{len(self.failures)} failure(s)" + "".join(f"; {n}" for n in self.notes),
              flush=True)
        for f in self.failures:
            print(f"[{self.name}]   FAIL {f}", flush=True)


# ------------------------------------------------------------------------ connections


class Conn:
    """A non-blocking connection that sends what `source` yields while reading what comes."""

    def __init__(self, port, source, label):
        self.label, self.source = label, source
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))
        self.pending = memoryview(b"")
        self.sent = 0
        self.sending = True
        self.rbuf = bytearray()
        self.closed = None  # "EOF", "reset", ...
        self.closed_at = None
        self.first_byte_at = None
        self.sent_at_first_byte = None
        self.t0 = time.monotonic()

    def fill(self):
        if len(self.pending) == 0 and self.sending:
            try:
                self.pending = memoryview(next(self.source))
            except StopIteration:
                self.sending = False

    def on_writable(self):
        self.fill()
        while self.sending and len(self.pending):
            try:
                n = self.sock.send(self.pending, socket.MSG_NOSIGNAL)
            except BlockingIOError:
                return
            except OSError as e:  # the server closed: stop sending, keep reading
                self.sending = False
                self.send_error = e.errno
                return
            self.sent += n
            self.pending = self.pending[n:]
            if len(self.pending) == 0:
                self.fill()
                return  # one chunk per readiness event: reads get their turn

    def on_readable(self, now):
        while True:
            try:
                b = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as e:
                self.mark_closed("reset" if e.errno == errno.ECONNRESET else
                                 errno.errorcode.get(e.errno, str(e.errno)), now)
                return
            if not b:
                self.mark_closed("EOF", now)
                return
            if self.first_byte_at is None:
                self.first_byte_at = now - self.t0
                self.sent_at_first_byte = self.sent
            if len(self.rbuf) < 1 * MiB:
                self.rbuf += b

    def mark_closed(self, how, now):
        if self.closed is None:
            self.closed, self.closed_at = how, now - self.t0

    def responses(self):
        return parse_responses(bytes(self.rbuf))[0]

    def describe(self):
        rs = self.responses()
        got = statuses_text([r[0] for r in rs]) if rs else "no response"
        first = (f" (first byte after {size(self.sent_at_first_byte)} sent, "
                 f"t={self.first_byte_at:.2f}s)" if self.first_byte_at is not None else "")
        closed = (f"closed by the server ({self.closed}) at t={self.closed_at:.2f}s"
                  if self.closed else "still open")
        return f"{self.label}: {got}{first}; {size(self.sent)} sent; {closed}"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def pump(conns, duration, watch, done=None):
    """Drive `conns` until `duration` passes, all are closed by the server or `done()`."""
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    deadline = time.monotonic() + duration
    live = set(conns)
    while (live and time.monotonic() < deadline and not watch.should_stop()
           and not (done and done())):
        for key, mask in sel.select(timeout=min(0.1, max(0.0, deadline - time.monotonic()))):
            c = key.data
            now = time.monotonic()
            if mask & selectors.EVENT_READ:
                c.on_readable(now)
            if c.closed is None and mask & selectors.EVENT_WRITE:
                c.on_writable()
            if c.closed is not None:
                sel.unregister(c.sock)
                live.discard(c)
            elif not c.sending and key.events & selectors.EVENT_WRITE:
                sel.modify(c.sock, selectors.EVENT_READ, c)
    sel.close()


def head(method, path, port, extra):
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"] + extra
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# ------------------------------------------------------------------------ the attacks


def attack_chunked_endless(ctx):
    """4 connections, each POSTing an endless chunked body for 6 s."""
    s = ctx.server
    slack = socket_slack()
    chunk = b" " * (64 * KiB)  # JSON whitespace: only the cap can stop it
    frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"

    def body():
        yield head("POST", "/api/analysis/dataflow", s.api_port,
                   ["Content-Type: application/json", "Transfer-Encoding: chunked"])
        while True:
            yield frame

    with ctx.watch("chunked-endless", client_at=(1.0, 3.5)) as w:
        conns = [Conn(s.api_port, body(), f"connection {i + 1}") for i in range(4)]
        try:
            pump(conns, 6.0, w)
            ran = w.elapsed()
            while w.elapsed() < 6.0 and not w.should_stop() and w.clients_pending():
                time.sleep(0.05)
        finally:
            for c in conns:
                c.close()
        limit = DEFAULT_MAX_BODY + slack
        window = (f"when the attack stopped at t={ran:.2f}s (RSS guard)" if w.should_stop()
                  else f"within the attack's {ran:.1f} s")
        for c in conns:
            rs = c.responses()
            print(f"[chunked-endless]   {c.describe()}")
            statuses = [r[0] for r in rs]
            if c.closed is None:
                w.fail(f"{c.label}: not closed by the server {window}: {size(c.sent)} sent, "
                       f"responses {statuses_text(statuses)}")
            elif c.sent > limit:
                w.fail(f"{c.label}: closed only after {size(c.sent)} sent > max_body_size "
                       f"{size(DEFAULT_MAX_BODY)} + socket buffers {size(slack)}")
            # 413 at the cap, or 503 busy (Retry-After) once the bodies held by all requests
            # together reach server.max_body_memory: both refuse without holding more.
            if statuses and statuses[0] not in (413, 503):
                w.fail(f"{c.label}: answered {statuses_text(statuses)}, expected one 413 "
                       "or 503 busy")
            elif len(statuses) > 1:
                w.fail(f"{c.label}: answered {statuses_text(statuses)}: after the 413 the server "
                       f"read the rest of the body as {len(statuses) - 1} more request(s) "
                       "instead of closing the connection")
        w.note(f"sent {size(sum(c.sent for c in conns))} in all")


def gzip_bomb():
    """~1 MiB of gzip that inflates to 1 GiB of zeros (built from one full-flushed block)."""
    block = bytes(1 * MiB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    middle = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    last = c.compress(block) + c.flush(zlib.Z_FINISH)
    assert middle == again, "deflate of a full-flushed block is not repeatable"
    blocks = 1024
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + first + middle * (blocks - 2) + last + struct.pack(
        "<II", crc, (blocks * MiB) & 0xFFFFFFFF)


def read_answer(c, watch, within, grace=2.0):
    """Keep reading `c` (sending what is left) until EOF, `within` seconds, or `grace` seconds
    after the first complete response (time enough for the server to close)."""
    first = []

    def done():
        if not first and c.responses():
            first.append(time.monotonic())
        return bool(first) and time.monotonic() - first[0] > grace

    pump([c], within, watch, done)


def attack_gzip_bomb(ctx):
    s = ctx.server
    bomb = gzip_bomb()
    with ctx.watch("gzip-bomb") as w:
        c = Conn(s.api_port, iter([head(
            "POST", "/api/analysis/dataflow", s.api_port,
            ["Content-Type: application/json", "Content-Encoding: gzip",
             f"Content-Length: {len(bomb)}"]) + bomb]),
            f"gzip {size(len(bomb))} inflating to 1 GiB")
        try:
            read_answer(c, w, 8.0)
        finally:
            c.close()
        print(f"[gzip-bomb]   {c.describe()}")
        statuses = [r[0] for r in c.responses()]
        if statuses != [413]:
            w.fail(f"gzip bomb ({size(len(bomb))} on the wire, 1 GiB inflated): answered "
                   f"{statuses_text(statuses)} within 8 s, expected 413 (inflated bytes count "
                   f"against server.max_body_size {size(DEFAULT_MAX_BODY)})")
        if c.closed is None:
            w.fail("gzip bomb: the connection was not closed after the answer")
    with ctx.watch("gzip-bomb/unsupported-encoding") as w:
        body = b'{"xml_content": "<a/>"}'
        st, hdrs, rbody, secs = request(s.api_port, "POST", "/api/analysis/dataflow", {
            "Content-Type": "application/json", "Content-Encoding": "zstd-bogus"}, body)
        print(f"[gzip-bomb]   Content-Encoding: zstd-bogus -> {st} in {ms(secs)}")
        if st != 415:
            w.fail(f"Content-Encoding: zstd-bogus answered {st} ({rbody[:120]!r}), expected 415")


def attack_header_flood(ctx):
    s = ctx.server
    slack = socket_slack()
    def line(i):  # 8,000 bytes with its CRLF
        name = b"X-Flood-%d: " % i
        return name + b"a" * (8000 - len(name) - 2) + b"\r\n"

    def flood():
        yield f"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1:{s.api_port}\r\n".encode()
        i = 0
        while True:
            yield line(i)
            i += 1

    with ctx.watch("header-flood", client_at=(1.0, 3.5)) as w:
        c = Conn(s.api_port, flood(), "endless 8 KB header lines")
        try:
            pump([c], 6.0, w)
            ran = w.elapsed()
            while w.elapsed() < 4.0 and w.clients_pending():
                time.sleep(0.05)
        finally:
            c.close()
        print(f"[header-flood]   {c.describe()}")
        statuses = [r[0] for r in c.responses()]
        if statuses != [431]:
            w.fail(f"endless header lines: answered {statuses_text(statuses)}, expected 431 "
                   f"({size(c.sent)} sent in {c.closed_at or ran:.2f} s)")
        if c.closed is None:
            w.fail(f"endless header lines: connection still open at t={ran:.2f}s"
                   f"{' (attack stopped by the RSS guard)' if w.should_stop() else ''}, "
                   f"{size(c.sent)} of head sent")
        elif c.closed_at > 3.0 or c.sent > HEAD_CAP + slack:
            w.fail(f"endless header lines: closed only at t={c.closed_at:.2f}s after "
                   f"{size(c.sent)} sent (head cap {size(HEAD_CAP)} + socket buffers "
                   f"{size(slack)}, within 3 s)")
    with ctx.watch("header-flood/200-lines") as w:
        lines = [f"X-Short-{i}: v" for i in range(200)]
        c = Conn(s.api_port, iter([head("GET", "/health/live", s.api_port, lines)]),
                 "200 short header lines")
        try:
            read_answer(c, w, 5.0)
        finally:
            c.close()
        print(f"[header-flood]   {c.describe()}")
        statuses = [r[0] for r in c.responses()]
        if statuses != [431]:
            w.fail(f"200 header lines: answered {statuses_text(statuses)}, expected 431")
        if c.closed is None:
            w.fail("200 header lines: the connection was not closed within 5 s")


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def attack_slowloris(ctx):
    """600 connections, each sending one byte of a request head every 3 s, for 8 s."""
    s = ctx.server
    count, period, duration = 600, 3.0, 8.0
    if raise_nofile(count + 200) < count + 100:
        raise Failure(f"RLIMIT_NOFILE too low for {count} connections")
    text = (f"GET /api/v1/dataflows?limit=5 HTTP/1.1\r\nHost: 127.0.0.1:{s.api_port}\r\n"
            "X-Slow: " + "s" * 200 + "\r\n").encode()
    stats = {"opened": 0, "closed_by_server": 0, "refused": 0, "bytes": 0, "answers": {}}
    sel = selectors.DefaultSelector()

    class Slot:
        def __init__(self, i):
            self.i, self.sock, self.pos = i, None, 0

    def open_slot(slot):
        slot.sock = socket.socket()
        slot.sock.setblocking(False)
        slot.sock.connect_ex(("127.0.0.1", s.api_port))
        slot.pos = 0
        stats["opened"] += 1
        sel.register(slot.sock, selectors.EVENT_READ, slot)

    def drop(slot, why):
        sel.unregister(slot.sock)
        slot.sock.close()
        slot.sock = None
        stats[why] += 1

    with ctx.watch("slowloris", client_at=(1.5, 4.5)) as w:
        slots = [Slot(i) for i in range(count)]
        start = time.monotonic()
        due = [start + period * i / count for i in range(count)]
        try:
            for slot in slots:
                open_slot(slot)
            # Until 8 s and until the well-behaved calls are answered: ending the attack must
            # not be what lets them through.
            while not w.should_stop() and (time.monotonic() - start < duration
                                           or (w.clients_pending()
                                               and time.monotonic() - start < 12.0)):
                now = time.monotonic()
                nxt = min(due)
                for key, _ in sel.select(timeout=max(0.0, min(nxt - now, 0.2))):
                    slot = key.data
                    try:
                        b = slot.sock.recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError:
                        b = b""
                    if b:
                        m = re.match(rb"HTTP/1\.[01] (\d+)", b)
                        if m:
                            code = int(m.group(1))
                            stats["answers"][code] = stats["answers"].get(code, 0) + 1
                        continue
                    drop(slot, "closed_by_server")
                now = time.monotonic()
                for slot in slots:
                    if due[slot.i] > now:
                        continue
                    due[slot.i] += period
                    if slot.sock is None:  # the server closed it: come back, as attackers do
                        open_slot(slot)
                        continue
                    if slot.pos >= len(text):
                        continue
                    try:
                        n = slot.sock.send(text[slot.pos:slot.pos + 1], socket.MSG_NOSIGNAL)
                        slot.pos += n
                        stats["bytes"] += n
                    except BlockingIOError:
                        pass
                    except OSError:
                        drop(slot, "refused")
        finally:
            for slot in slots:
                if slot.sock is not None:
                    sel.unregister(slot.sock)
                    slot.sock.close()
            sel.close()
        w.note(f"{stats['opened']} connections opened, {stats['closed_by_server']} closed by "
               f"the server, {stats['refused']} failed on send, answers {stats['answers']}, "
               f"{stats['bytes']} head bytes sent in {time.monotonic() - start:.1f} s")


def metric_sum(text, name, **labels):
    """The sum of the samples of `name` whose labels include `labels`; None when absent."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if any(f'{k}="{v}"' not in line for k, v in labels.items()):
            continue
        seen = True
        total += float(line.rsplit(" ", 1)[1])
    return total if seen else None


def attack_hidden_request(ctx):
    s = ctx.server
    cap = 64 * KiB
    hidden = (f"GET /api/analysis/rules HTTP/1.1\r\nHost: 127.0.0.1:{s.api_port}\r\n\r\n").encode()
    before = metric_sum(s.metrics(), "dataflow_http_requests_total", route="/api/analysis/rules")
    with ctx.watch("hidden-request") as w:
        declared = 1 * MiB
        c = Conn(s.api_port, iter([head("POST", "/api/analysis/dataflow", s.api_port, [
            "Content-Type: application/json", f"Content-Length: {declared}"]) + hidden]),
            f"Content-Length {size(declared)} > max_body_size {size(cap)}, a GET inside")
        try:
            read_answer(c, w, 5.0)
        finally:
            c.close()
        print(f"[hidden-request]   {c.describe()}")
        statuses = [r[0] for r in c.responses()]
        if not statuses and c.closed is None:
            w.fail(f"Content-Length {declared} over the {size(cap)} cap, a request inside: no "
                   "answer within 5 s and the connection still open (the server waits for the "
                   "declared body instead of refusing it on its Content-Length)")
        elif statuses != [413]:
            w.fail(f"Content-Length {declared} over the {size(cap)} cap, a request inside: "
                   f"answered {statuses_text(statuses)}, expected exactly one 413")
        if statuses and c.closed is None:
            w.fail(f"after answering {statuses_text(statuses)} the server kept the connection "
                   "open (it must close after a refusal)")

    with ctx.watch("hidden-request/no-body-route") as w:
        chunk = hidden
        c = Conn(s.api_port, iter([head("POST", "/api/v1/catalog/refresh", s.api_port, [
            "Transfer-Encoding: chunked"]) + b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n"]),
            "POST /api/v1/catalog/refresh with a chunked body (a GET inside)")
        try:
            read_answer(c, w, 5.0)
        finally:
            c.close()
        print(f"[hidden-request]   {c.describe()}")
        statuses = [r[0] for r in c.responses()]
        if len(statuses) != 1 or not 400 <= statuses[0] < 500:
            w.fail(f"a chunked body to POST /api/v1/catalog/refresh (takes none): answered "
                   f"{statuses_text(statuses)} within 5 s, expected exactly one 4xx")
        if c.closed is None:
            w.fail(f"after answering {statuses_text(statuses)} to a body sent to "
                   "/api/v1/catalog/refresh the server kept the connection open (it must close)")
        after = metric_sum(s.metrics(), "dataflow_http_requests_total",
                           route="/api/analysis/rules")
        ran = (after or 0) - (before or 0)
        if ran != 0:
            w.fail(f"the request hidden in a body ran: dataflow_http_requests_total"
                   f'{{route="/api/analysis/rules"}} went from {before or 0:g} to {after:g}')
        logged = s.log().count('"route":"/api/analysis/rules"')
        if logged:
            w.fail(f"the server log shows {logged} request(s) to /api/analysis/rules")


def attack_json_depth(ctx):
    s = ctx.server
    depth = 100_000
    body = b"[" * depth + b"]" * depth
    with ctx.watch("json-depth") as w:
        st, _, rbody, secs = request(s.api_port, "POST", "/api/analysis/dataflow",
                                     {"Content-Type": "application/json"}, body)
        print(f"[json-depth]   {depth:,} nested arrays -> {st} in {ms(secs)}")
        if st != 400:
            w.fail(f"JSON nested {depth:,} levels: answered {st} ({rbody[:160]!r}), expected 400")
        if secs >= 1.0:
            w.fail(f"JSON nested {depth:,} levels: answered after {ms(secs)} (limit 1 s)")
        if not s.alive():
            w.fail(f"the server died (exit {s.proc.poll()}) after the nested JSON")


def attack_cors_preflight(ctx):
    s = ctx.server
    with ctx.watch("cors-preflight") as w:
        for origin, allowed in (("https://dashboard.example.org", True),
                                ("https://evil.example.com", False)):
            st, hdrs, rbody, secs = request(s.api_port, "OPTIONS", "/api/analysis/dataflow", {
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type"})
            shown = {k: v for k, v in hdrs.items() if k.startswith("access-control")}
            print(f"[cors-preflight]   OPTIONS from {origin} without a token -> {st} {shown}")
            aco = hdrs.get("access-control-allow-origin")
            if allowed:
                if st not in (200, 204):
                    w.fail(f"preflight from {origin} (listed, no token): {st} "
                           f"({rbody[:120]!r}), expected 204 or 200")
                if aco != origin:
                    w.fail(f"preflight from {origin}: Access-Control-Allow-Origin {aco!r}, "
                           f"expected {origin!r}")
                methods = hdrs.get("access-control-allow-methods", "").upper()
                if "POST" not in methods:
                    w.fail(f"preflight from {origin}: Access-Control-Allow-Methods {methods!r} "
                           "lacks POST")
                allow_h = hdrs.get("access-control-allow-headers", "").lower()
                for h in ("authorization", "content-type"):
                    if h not in allow_h:
                        w.fail(f"preflight from {origin}: Access-Control-Allow-Headers "
                               f"{allow_h!r} lacks {h}")
            elif aco is not None:
                w.fail(f"preflight from {origin} (not listed): Access-Control-Allow-Origin {aco!r}")


def attack_probe_budget(ctx):
    s = ctx.server
    ids = [f"ZZ_{900 + i}" for i in range(50)]
    body = json.dumps({"dataflow_ids": ids, "include_tests": True}).encode()
    with ctx.watch("probe-budget", client_at=(0.5,)) as w:
        problems = []
        t = time.monotonic()
        for round_ in range(20):
            st, _, rbody, secs = request(s.api_port, "POST", "/api/analysis/dataflow/bulk",
                                         {"Content-Type": "application/json"}, body)
            if st != 200:
                problems.append(f"round {round_ + 1}: {st} {rbody[:160]!r}")
                continue
            j = json.loads(rbody)
            errors = " ".join(j.get("errors", []))
            missing = [i for i in ids if i not in errors]
            pending = [r for r in j.get("results", [])
                       if "pending" in json.dumps(r.get("test", r))]
            if missing or j.get("failed_count") != len(ids) or pending:
                problems.append(f"round {round_ + 1}: failed_count {j.get('failed_count')}, "
                                f"ids without an error {missing[:3]}, pending results "
                                f"{len(pending)}")
            if round_ == 0:
                print(f"[probe-budget]   first answer's errors: {j.get('errors', [])[:2]} ...")
        print(f"[probe-budget]   20 bulk requests of 50 unknown ids with include_tests in "
              f"{time.monotonic() - t:.2f} s")
        for p in problems[:5]:
            w.fail(p)
        # The background prober would start at once (burst 1): watch for it for 1.5 s.
        name = "dataflow_upstream_requests_total"
        deadline = time.monotonic() + 1.5
        while True:
            text = s.metrics()
            upstream = metric_sum(text, name)
            if upstream or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if upstream:
            lines = [line for line in text.splitlines() if line.startswith(name)]
            w.fail(f"ids outside the served catalogue were probed: {name} = {upstream:g} "
                   f"({'; '.join(lines[:3])})")
        probe_lines = [l for l in s.log().splitlines() if '"message":"probe ' in l]
        if probe_lines:
            w.fail(f"{len(probe_lines)} probe log line(s), e.g. {probe_lines[0][:200]}")


def attack_status_without_token(ctx):
    """With auth on, Redis at a closed port and the upstream breaker open, the status routes
    without a token show neither endpoint nor error text."""
    s = ctx.server
    auth = {"Authorization": f"Bearer {ctx.token}"}
    redis = f"127.0.0.1:{ctx.redis_port}"
    upstream = s.upstream_url.split("//", 1)[1].split("/", 1)[0]
    with ctx.watch("status-without-token") as w:
        # One probe of a served dataflow fails at the closed upstream port and opens the breaker
        # (failure threshold 1, no retries); the Redis check fails on its own.
        st, _, body, _ = request(s.api_port, "POST", "/api/analysis/dataflow/bulk", dict(
            auth, **{"Content-Type": "application/json"}),
            b'{"dataflow_ids": ["101_1015"], "include_tests": true}')
        if st != 200:
            w.fail(f"bulk with a read token (to trigger a probe): {st} {body[:120]!r}")
        deadline = time.monotonic() + 6.0
        shown = ""
        while time.monotonic() < deadline:
            _, _, body, _ = request(s.api_port, "GET", "/health/status?verbose", auth, timeout=3.0)
            shown = body.decode("utf-8", "replace")
            if "[-]redis" in shown and "[-]upstream" in shown:
                break
            time.sleep(0.1)
        with_token = [l for l in shown.splitlines() if "redis" in l or "upstream" in l]
        print(f"[status-without-token]   with a read token: {' | '.join(with_token)[:300]}")
        if "[-]redis" not in shown or "[-]upstream" not in shown:
            w.note("with a read token the status did not show both Redis and the upstream "
                   "degraded within 6 s, so part of what could leak was not there to leak")
        leaks = [redis, upstream, "refused", "cannot connect"]
        for port, port_name in ((s.api_port, "API"), (s.metrics_port, "metrics")):
            for path in ("/health/status?verbose", "/health/status"):
                st, _, body, _ = request(port, "GET", path, timeout=3.0)
                text = body.decode("utf-8", "replace")
                print(f"[status-without-token]   {path} on the {port_name} port, no token -> {st}")
                if st == 404 and port_name == "metrics":
                    w.note(f"{path} not served on the metrics port (404)")
                found = [leak for leak in leaks if leak in text]
                if found:
                    at = text.find(found[0])
                    w.fail(f"{path} on the {port_name} port without a token shows {found}: "
                           f"...{text[max(0, at - 60):at + 80]!r}...")


ATTACKS = {
    "chunked-endless": (attack_chunked_endless, {}),
    "gzip-bomb": (attack_gzip_bomb, {}),
    "header-flood": (attack_header_flood, {}),
    "slowloris": (attack_slowloris, {}),
    "hidden-request": (attack_hidden_request, {"DATAFLOW_SERVER_MAX_BODY_SIZE": "64KiB",
                                               "DATAFLOW_API_ADMIN_ENABLED": "true"}),
    "json-depth": (attack_json_depth, {}),
    "cors-preflight": (attack_cors_preflight, {
        "DATAFLOW_API_CORS_ORIGINS": "https://dashboard.example.org",
        "DATAFLOW_AUTH_MODE": "token",
        "DATAFLOW_AUTH_TOKENS": "some-read-token-0123456789"}),
    "probe-budget": (attack_probe_budget, {}),
    "status-without-token": (attack_status_without_token, {
        "DATAFLOW_AUTH_MODE": "token",
        "DATAFLOW_AUTH_TOKENS": "some-read-token-0123456789",
        "DATAFLOW_CACHE_BACKEND": "redis",
        "DATAFLOW_REDIS_HOST": "127.0.0.1",
        # So that one failed probe opens the upstream breaker within the case's time.
        "DATAFLOW_BREAKER_FAILURE_THRESHOLD": "1",
        "DATAFLOW_UPSTREAM_RETRIES": "0"}),
}


class Context:
    def __init__(self, server):
        self.server = server
        self.watches = []
        self.token = "some-read-token-0123456789"
        self.redis_port = None

    def watch(self, name, client_at=(1.0,)):
        # The well-behaved client holds a read token when auth is on.
        headers = ({"Authorization": f"Bearer {self.token}"}
                   if self.server.extra_env.get("DATAFLOW_AUTH_MODE") == "token" else {})
        w = Watch(self.server, name, client_at, headers)
        self.watches.append(w)
        return w


def main():
    if sys.argv[1:] == ["--list"]:
        print("\n".join(ATTACKS))
        return 0
    if len(sys.argv) != 4 or sys.argv[3] not in ATTACKS:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        print("cases: " + ", ".join(ATTACKS), file=sys.stderr)
        return 2
    binary, source, name = sys.argv[1:]
    attack, env = ATTACKS[name]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"attack-{name}-") as workdir:
        env = dict(env)
        redis_port = None
        if name == "status-without-token":
            redis_port = closed_port()
            env["DATAFLOW_REDIS_PORT"] = str(redis_port)
        server = Server(binary, source, workdir, env)
        failures = []
        try:
            for warning in server.start():
                failures.append(f"the server warned at startup: {warning}")
            print(f"[{name}] server pid {server.pid}, API port {server.api_port}, metrics port "
                  f"{server.metrics_port}; {server.probe_note}", flush=True)
            ctx = Context(server)
            ctx.redis_port = redis_port
            attack(ctx)
            for w in ctx.watches:
                failures += [f"{w.name}: {f}" for f in w.failures]
            # Still alive, and a clean stop.
            st, _, body, secs = request(server.probe_port, "GET", "/health/live", timeout=2.0)
            if st != 200:
                failures.append(f"after the attacks /health/live answered {st or body!r} "
                                f"in {ms(secs)}")
            rc, secs = server.stop()
            print(f"[{name}] SIGTERM: exit {rc} after {secs:.2f} s")
            if rc != 0:
                failures.append(
                    f"SIGTERM: exit {rc} after {secs:.2f} s, expected 0 within drain delay "
                    f"{DRAIN_DELAY} s + shutdown timeout {SHUTDOWN_TIMEOUT:.0f} s")
        except Failure as e:
            failures.append(str(e))
        finally:
            server.kill()
        print(f"[{name}] {time.monotonic() - started:.1f} s, "
              f"{'PASS' if not failures else f'FAIL ({len(failures)} failures)'}", flush=True)
        if failures:
            print("\nFailures:")
            for f in failures:
                print(f"  - {f}")
            log = server.log().splitlines()
            print(f"\nserver log ({server.log_path}, last 40 of {len(log)} lines):")
            for line in log[-40:]:
                print("  " + line[:400])
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(main())
