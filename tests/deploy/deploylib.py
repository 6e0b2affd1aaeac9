"""Helpers shared by the deployment tests (tests/deploy): the rendered manifests, the
Dockerfile, the configuration the binary sees, and processes on loopback that are always
stopped. Standard library only; YAML is read through `node ci/k8s-tool.mjs json`."""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

SOURCE_DIR = None
BINARY = None


def parse_args(description):
    """--source-dir and --binary (CTest passes both); the rest goes to unittest."""
    global SOURCE_DIR, BINARY
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--source-dir", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    parser.add_argument("--binary", default=None, help="the dataflow binary (build/cli/dataflow)")
    args, rest = parser.parse_known_args()
    SOURCE_DIR = os.path.abspath(args.source_dir)
    BINARY = os.path.abspath(args.binary or os.path.join(SOURCE_DIR, "build", "cli", "dataflow"))
    if not os.access(BINARY, os.X_OK):
        sys.exit(f"{BINARY}: not an executable; pass --binary build/cli/dataflow")
    return [sys.argv[0]] + rest


def http_module():
    """The HTTP module beside the binary, where it looks for it (LIBDIR/dataflow, relative)."""
    return os.path.normpath(os.path.join(os.path.dirname(BINARY), "..", "lib", "dataflow",
                                         "dataflow-http.so"))


def src(*parts):
    return os.path.join(SOURCE_DIR, *parts)


# ---- manifests

_rendered = {}


def render(path):
    """The objects of a kustomization directory or YAML file under the source dir."""
    if path in _rendered:
        return _rendered[path]
    if shutil.which("node") is None:
        raise AssertionError("node not found: install Node.js 18+ and run scripts/install-deps.sh")
    r = subprocess.run(["node", src("ci", "k8s-tool.mjs"), "json", src(path)],
                       capture_output=True, text=True, cwd=SOURCE_DIR, check=False)
    if r.returncode != 0:
        raise AssertionError(f"rendering {path} failed:\n{r.stderr.strip()}")
    _rendered[path] = json.loads(r.stdout)
    return _rendered[path]


def find(objects, kind, name):
    for o in objects:
        if o.get("kind") == kind and o.get("metadata", {}).get("name") == name:
            return o
    raise AssertionError(f"no {kind} {name} in the rendered objects")


def find_all(objects, kind):
    return [o for o in objects if o.get("kind") == kind]


APP = "dataflow-analyzer"
CONFIG_MAP = "dataflow-analyzer-config"
SECRET = "dataflow-analyzer-secrets"


def pod_spec(objects):
    return find(objects, "Deployment", APP)["spec"]["template"]["spec"]


def main_container(objects):
    for c in pod_spec(objects)["containers"]:
        if c["name"] == APP:
            return c
    raise AssertionError(f"no container {APP} in Deployment {APP}")


def init_container(objects):
    inits = pod_spec(objects).get("initContainers", [])
    if len(inits) != 1:
        raise AssertionError(f"expected one init container, found {len(inits)}")
    return inits[0]


def container_port(container, port):
    """A probe's or Service's port (a name or a number) as the container's port number."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError(f"container {container['name']} has no port named {port!r}")


def pod_env(container, namespace="osservatorio"):
    """The container's environment as the kubelet would set it (downward API resolved)."""
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[e["name"]] = namespace
        else:
            raise AssertionError(f"env {e['name']}: a source the tests cannot resolve: {e}")
    return env


# ---- Dockerfile

def dockerfile_stages(path=None):
    """[(stage name, [(INSTRUCTION, argument text)])]; continuation lines joined, comments out."""
    path = path or src("Dockerfile")
    stages = []
    logical = ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not logical and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if logical and line.lstrip().startswith("#"):
                continue  # a comment inside a continued instruction
            if line.endswith("\\"):
                logical += line[:-1] + " "
                continue
            logical += line
            word, _, rest = logical.strip().partition(" ")
            logical = ""
            word = word.upper()
            rest = rest.strip()
            if word == "FROM":
                m = re.search(r"\bAS\s+(\S+)", rest, re.IGNORECASE)
                stages.append((m.group(1) if m else str(len(stages)), [(word, rest)]))
            elif stages:
                stages[-1][1].append((word, rest))
    return stages


def runtime_stage():
    return dockerfile_stages()[-1][1]


def instructions(stage, word):
    return [rest for w, rest in stage if w == word]


def exec_form(text):
    """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD, else None."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def env_instructions(stage):
    """ENV KEY=VALUE pairs of a stage (quoted values unquoted)."""
    env = {}
    for text in instructions(stage, "ENV"):
        for token in shlex.split(text):
            key, eq, value = token.partition("=")
            if eq:
                env[key] = value
    return env


# ---- configuration as the binary reads it

def config_schema_defaults():
    """{key: default text} from `dataflow config schema` (independent of any local config)."""
    out = run_binary(["config", "schema", "-o", "markdown"]).stdout
    defaults = {}
    for m in re.finditer(r"^\| `([a-z_.]+)` \| [^|]+ \| `([^`]*)` \|", out, re.MULTILINE):
        defaults[m.group(1)] = m.group(2)
    return defaults


def secret_keys():
    """Keys marked secret in the schema (`string, secret`, `list, secret`)."""
    out = run_binary(["config", "schema", "-o", "markdown"]).stdout
    return set(re.findall(r"^\| `([a-z_.]+)` \| [a-z]+, secret \|", out, re.MULTILINE))


def effective_config(config_dir, secrets_dir=None, env=None):
    """`dataflow config show -o json` for these directories (secrets masked)."""
    args = ["--config-dir", config_dir]
    if secrets_dir:
        args += ["--secrets-dir", secrets_dir]
    r = run_binary(args + ["config", "show", "-o", "json"], env=env)
    if r.returncode != 0:
        raise AssertionError(f"dataflow config show failed ({r.returncode}):\n{r.stderr}")
    return json.loads(r.stdout)


def duration_seconds(text):
    """"5s", "1m30s", "500ms", "7d", or a bare number of seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise AssertionError(f"not a duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


def write_config_dirs(root, overlay):
    """The ConfigMap of `overlay` and the example Secret as the kubelet mounts them (see
    write_volume): returns (config_dir, secrets_dir, secret values)."""
    objects = render(overlay)
    config_dir = os.path.join(root, "config")
    secrets_dir = os.path.join(root, "secrets")
    write_volume(config_dir, find(objects, "ConfigMap", CONFIG_MAP).get("data", {}))
    secret = find(render("k8s/examples/secret"), "Secret", SECRET)
    write_volume(secrets_dir, secret.get("stringData", {}))
    return config_dir, secrets_dir, dict(secret.get("stringData", {}))


def write_volume(directory, files):
    """Writes {name: text} the way the kubelet's atomic writer fills a ConfigMap or Secret
    volume: the files in a hidden timestamped directory, `..data` a symlink to it, and each
    name a symlink through `..data`. Called again, it swaps `..data` atomically, as an update
    of the ConfigMap or Secret does."""
    os.makedirs(directory, exist_ok=True)
    stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    os.mkdir(os.path.join(directory, stamp))
    for name, text in files.items():
        with open(os.path.join(directory, stamp, name), "w", encoding="utf-8") as f:
            f.write(text)
    data = os.path.join(directory, "..data")
    old = os.readlink(data) if os.path.islink(data) else None
    tmp_link = os.path.join(directory, "..data_tmp")
    os.symlink(stamp, tmp_link)
    os.rename(tmp_link, data)
    for name in files:
        link = os.path.join(directory, name)
        if not os.path.islink(link):
            os.symlink(os.path.join("..data", name), link)
    if old:
        shutil.rmtree(os.path.join(directory, old))


# ---- processes and HTTP on loopback

def clean_env(extra=None):
    """The test's environment without DATAFLOW_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_")}
    env.update(extra or {})
    return env


def run_binary(args, env=None, timeout=30):
    return subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=timeout,
                          env=clean_env(env), check=False)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5, headers=None):
    """(status, headers, body text); connection failures raise OSError."""
    assert url.startswith("http://127.0.0.1:"), url  # loopback only
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


def wait_until(what, predicate, deadline_s):
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            if predicate():
                return
        except OSError as e:
            last = e
        time.sleep(0.02)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}" +
                         (f" (last error: {last})" if last else ""))


class Processes:
    """Starts processes in their own session and stops every one of them, whatever happens."""

    def __init__(self):
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="dataflow-deploy-")

    def start(self, args, env=None, name="process"):
        log = open(os.path.join(self.tmp, f"{name}.log"), "w+b")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        p.log = log
        p.name = name
        self.procs.append(p)
        return p

    @staticmethod
    def output(p):
        p.log.flush()
        p.log.seek(0)
        return p.log.read().decode("utf-8", "replace")

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=10)
            p.log.close()
        self.procs = []
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_redis(procs, password):
    """redis-server on a free loopback port, memory only, requiring `password`."""
    server = shutil.which("redis-server")
    if server is None:
        raise AssertionError("redis-server not found: run scripts/install-deps.sh")
    port = free_port()
    conf = os.path.join(procs.tmp, "redis.conf")
    with open(conf, "w", encoding="utf-8") as f:  # the password never on a command line
        f.write(f'bind 127.0.0.1\nport {port}\nsave ""\nappendonly no\n'
                f'dir {procs.tmp}\nrequirepass "{password}"\n')
    p = procs.start([server, conf], name="redis")

    def answers():
        if p.poll() is not None:
            raise AssertionError(f"redis-server exited:\n{procs.output(p)}")
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))

    wait_until("redis-server", answers, 10)
    return port


# ---- the service as the Deployment runs it, on loopback

class FakeUpstream(http.server.ThreadingHTTPServer):
    """An SDMX REST stand-in: GET .../dataflow/<agency>... answers the bundled ISTAT list."""

    def __init__(self, catalogue):
        self.catalogue = catalogue
        self.paths = []
        super().__init__(("127.0.0.1", 0), FakeUpstream.Handler)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.server.paths.append(self.path)
            if "/dataflow/" not in self.path:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.sdmx.structure+xml; version=2.1")
            self.send_header("Content-Length", str(len(self.server.catalogue)))
            self.end_headers()
            self.wfile.write(self.server.catalogue)

        def log_message(self, *args):
            pass


def jwt(secret, claims):
    """An HS256 JWT, as the platform issues them."""
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def pod_environment(container, config_dir, secrets_dir):
    """What the kubelet gives the container; the mounts become DATAFLOW_*_DIR (the binary
    would use /etc/config and /etc/secrets, which a test cannot create)."""
    env = pod_env(container)
    env.update({"DATAFLOW_CONFIG_DIR": config_dir, "DATAFLOW_SECRETS_DIR": secrets_dir})
    return env


class Service:
    """`dataflow serve` with an overlay's ConfigMap and the example Secret, as the main
    container runs it, with only what must point at loopback overridden (DATAFLOW_* variables
    outrank the config directory):

    - server.host/port/metrics_port: 127.0.0.1 and free ports (`self.ports` maps the
      container ports to them);
    - redis.host/port: a redis-server started here with the Secret's redis.password;
    - upstream.base_url: a FakeUpstream serving examples/istat-dataflows-2020.xml;
    - environment: staging, because the production profile refuses a loopback Redis and a
      plain-http upstream by design (`config validate` checks the production configuration
      unmodified).

    `wrapper` runs the binary under another program (strace)."""

    def __init__(self, procs, overlay, wrapper=()):
        self.procs = procs
        self.objects = render(overlay)
        self.main = main_container(self.objects)
        self.spec = pod_spec(self.objects)
        self.config_dir, self.secrets_dir, self.secret = write_config_dirs(procs.tmp, overlay)
        self.config = effective_config(self.config_dir, self.secrets_dir)
        self.redis_port = start_redis(procs, self.secret["redis.password"])
        with open(src("examples", "istat-dataflows-2020.xml"), "rb") as f:
            self.upstream = FakeUpstream(f.read())
        threading.Thread(target=self.upstream.serve_forever, daemon=True).start()
        self.ports = {p["containerPort"]: free_port() for p in self.main["ports"]}
        self.api = self.ports[self.config["server"]["port"]]
        self.metrics = self.ports[self.config["server"]["metrics_port"]]
        self.env = pod_environment(self.main, self.config_dir, self.secrets_dir)
        self.env.update({
            "DATAFLOW_ENVIRONMENT": "staging",
            "DATAFLOW_SERVER_HOST": "127.0.0.1",
            "DATAFLOW_SERVER_PORT": str(self.api),
            "DATAFLOW_SERVER_METRICS_PORT": str(self.metrics),
            "DATAFLOW_REDIS_HOST": "127.0.0.1",
            "DATAFLOW_REDIS_PORT": str(self.redis_port),
            "DATAFLOW_UPSTREAM_BASE_URL": f"http://127.0.0.1:{self.upstream.server_port}/rest",
        })
        self.started = time.monotonic()
        self.process = procs.start(list(wrapper) + [BINARY] + self.main["args"],
                                   env=clean_env(self.env), name="serve")
        # The startup probe's budget: periodSeconds x failureThreshold.
        startup = self.main["startupProbe"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]

        def started():
            if self.process.poll() is not None:
                raise AssertionError(f"dataflow serve exited {self.process.returncode}:\n"
                                     f"{self.log()}")
            return self.get(startup["httpGet"]["path"])[0] == 200
        wait_until("the startup probe", started, budget)
        self.ready_after = time.monotonic() - self.started

    def close(self):
        self.upstream.shutdown()
        self.upstream.server_close()

    def log(self):
        return self.procs.output(self.process)

    def url(self, path, port=None):
        return f"http://127.0.0.1:{port or self.api}{path}"

    def get(self, path, port=None, **kwargs):
        return http_get(self.url(path, port), **kwargs)

    def token(self, scope="read"):
        auth = self.config["auth"]
        return jwt(self.secret["auth.jwt_secret"], {
            "iss": auth["jwt_issuer"], "aud": auth["jwt_audience"],
            "exp": int(time.time()) + 300, "scope": scope})
