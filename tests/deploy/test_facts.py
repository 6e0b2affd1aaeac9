#!/usr/bin/env python3
"""The facts the Dockerfile, the Kubernetes manifests, the ConfigMap and the binary must agree
on: uid/gid, ports, the health command, mount paths, drain timing, the init container, the
runtime libraries, the version. No engine or cluster is needed; it reads the Dockerfile, the
rendered overlays and what the binary itself says (`--help`, `config schema`, `config show`).

  python3 tests/deploy/test_facts.py --source-dir . --binary build/cli/dataflow [-v]
"""

import os
import json
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as d  # noqa: E402

OVERLAYS = ["k8s/overlays/prod", "k8s/overlays/dev"]
# Shared libraries bookworm-slim already has (Essential, or required by apt itself).
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
# Sanitizer runtimes of a -DDATAFLOW_SANITIZE=ON test binary: the image is never built so.
SANITIZER_LIBRARIES = ("libasan.", "libubsan.", "liblsan.", "libtsan.")


class Facts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.runtime = d.runtime_stage()
        cls.tmp = tempfile.mkdtemp(prefix="dataflow-facts-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.config = {}
        for overlay in OVERLAYS:
            root = os.path.join(cls.tmp, overlay.replace("/", "_"))
            config_dir, secrets_dir, _ = d.write_config_dirs(root, overlay)
            env = d.pod_env(d.main_container(d.render(overlay)))
            cls.config[overlay] = d.effective_config(config_dir, secrets_dir, env)
        cls.defaults = d.config_schema_defaults()

    # ---- user

    def test_uid_gid_agree(self):
        groupadd = " ".join(d.instructions(self.runtime, "RUN"))
        gid = re.search(r"groupadd\b[^&;]*--gid[ =](\d+)", groupadd)
        uid = re.search(r"useradd\b[^&;]*--uid[ =](\d+)", groupadd)
        user_gid = re.search(r"useradd\b[^&;]*--gid[ =](\d+)", groupadd)
        self.assertTrue(gid and uid and user_gid, "the runtime stage creates a user with "
                        "useradd --uid N --gid N and a group with groupadd --gid N")
        uid, gid = int(uid.group(1)), int(gid.group(1))
        self.assertEqual(int(user_gid.group(1)), gid)
        self.assertNotEqual(uid, 0)
        users = d.instructions(self.runtime, "USER")
        self.assertEqual(users, [f"{uid}:{gid}"], "USER must be numeric uid:gid (runAsNonRoot "
                                                  "can only verify a numeric user)")
        for overlay in OVERLAYS:
            sc = d.pod_spec(d.render(overlay))["securityContext"]
            with self.subTest(overlay=overlay):
                self.assertIs(sc.get("runAsNonRoot"), True)
                self.assertEqual(sc.get("runAsUser"), uid)
                self.assertEqual(sc.get("runAsGroup"), gid)
                self.assertEqual(sc.get("fsGroup"), gid)
                self.assertEqual(sc.get("seccompProfile"), {"type": "RuntimeDefault"})

    # ---- ports

    def test_ports_agree(self):
        expose = {int(p.split("/")[0]) for text in d.instructions(self.runtime, "EXPOSE")
                  for p in text.split()}
        defaults = {int(self.defaults["server.port"]), int(self.defaults["server.metrics_port"])}
        self.assertEqual(expose, defaults, "EXPOSE = the binary's default API and metrics ports")
        for overlay in OVERLAYS:
            objects = d.render(overlay)
            c = d.main_container(objects)
            cfg = self.config[overlay]["server"]
            with self.subTest(overlay=overlay):
                ports = {p["name"]: p["containerPort"] for p in c["ports"]}
                self.assertEqual(ports, {"http": cfg["port"], "metrics": cfg["metrics_port"]},
                                 "containerPorts http/metrics = server.port/metrics_port")
                self.assertEqual(set(ports.values()), expose)
                svc = d.find(objects, "Service", d.APP)
                self.assertEqual(svc["spec"]["selector"], {"app.kubernetes.io/name": d.APP})
                for sp in svc["spec"]["ports"]:
                    self.assertEqual(sp["port"], d.container_port(c, sp["targetPort"]),
                                     f"Service port {sp['name']} = its container port")
                self.assertEqual({sp["name"] for sp in svc["spec"]["ports"]}, set(ports))
                ann = find_annotations(objects)
                self.assertEqual(int(ann["prometheus.io/port"]), cfg["metrics_port"])
                self.assertEqual(ann["prometheus.io/path"], "/metrics")
                np = d.find(objects, "NetworkPolicy", d.APP)
                ingress = {p["port"] for rule in np["spec"]["ingress"] for p in rule["ports"]}
                self.assertEqual(ingress, set(ports.values()), "NetworkPolicy ingress ports")

    def source_base_url(self, source_id):
        """The endpoint of a source of the built-in registry, as the binary lists it."""
        r = d.run_binary(["sources", "-o", "json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        for s in json.loads(r.stdout)["sources"]:
            if s["id"] == source_id:
                return s["base_url"]
        self.fail(f"no source {source_id}")

    def test_network_policy_egress_matches_config(self):
        for overlay in OVERLAYS:
            cfg = self.config[overlay]
            np = d.find(d.render(overlay), "NetworkPolicy", d.APP)
            egress = {(p.get("protocol", "TCP"), p["port"])
                      for rule in np["spec"]["egress"] for p in rule.get("ports", [])}
            with self.subTest(overlay=overlay):
                self.assertIn(("UDP", 53), egress)
                self.assertIn(("TCP", cfg["redis"]["port"]), egress)
                base = cfg["upstream"].get("base_url") or self.source_base_url(
                    cfg["upstream"].get("source", "ISTAT"))
                m = re.match(r"https://[^/:]+(?::(\d+))?", base)
                self.assertTrue(m, "the upstream is https://")
                self.assertIn(("TCP", int(m.group(1) or 443)), egress)
                self.assertEqual(len(egress), 4, f"egress only to DNS, Redis, HTTPS: {egress}")

    # ---- health

    def test_healthcheck_runs_dataflow_health(self):
        checks = d.instructions(self.runtime, "HEALTHCHECK")
        self.assertEqual(len(checks), 1)
        flags, _, command = checks[0].partition("CMD")
        argv = d.exec_form(command.strip())
        self.assertIsNotNone(argv, "HEALTHCHECK CMD in exec form")
        self.assertEqual(argv[:2], ["dataflow", "health"])
        r = d.run_binary(argv[1:] + ["--help"])
        self.assertEqual(r.returncode, 0, f"the binary accepts {argv[1:]}: {r.stderr}")
        probe = argv[argv.index("--probe") + 1] if "--probe" in argv else "ready"
        self.assertIn(probe, ("startup", "live", "ready", "status"))
        timeout = (d.duration_seconds(argv[argv.index("--timeout") + 1])
                   if "--timeout" in argv else 2)
        docker_timeout = re.search(r"--timeout=(\S+)", flags)
        self.assertTrue(docker_timeout)
        self.assertLess(timeout, d.duration_seconds(docker_timeout.group(1)),
                        "dataflow health must give up before Docker's --timeout")
        # exit 1 (never 2, which Docker reserves) when nothing answers
        r = d.run_binary(argv[1:] + ["--url", f"http://127.0.0.1:{d.free_port()}"])
        self.assertEqual(r.returncode, 1, r.stderr)

    def test_entrypoint_and_cmd(self):
        self.assertEqual([d.exec_form(t) for t in d.instructions(self.runtime, "ENTRYPOINT")],
                         [["dataflow"]])
        self.assertEqual([d.exec_form(t) for t in d.instructions(self.runtime, "CMD")],
                         [["serve"]])
        for overlay in OVERLAYS:
            c = d.main_container(d.render(overlay))
            with self.subTest(overlay=overlay):
                self.assertEqual(c["args"], ["serve"])
                self.assertNotIn("command", c, "the image's ENTRYPOINT runs dataflow")

    def test_probes(self):
        routes = {"/health/startup", "/health/live", "/health/ready", "/health/status",
                  "/livez", "/readyz"}
        for overlay in OVERLAYS:
            c = d.main_container(d.render(overlay))
            with self.subTest(overlay=overlay):
                for kind, path in (("startupProbe", "/health/startup"),
                                   ("livenessProbe", "/health/live"),
                                   ("readinessProbe", "/health/ready")):
                    probe = c[kind]["httpGet"]
                    self.assertIn(probe["path"], routes)
                    self.assertEqual(probe["path"], path)
                    # The probe listener (its own workers): a flooded API never fails a probe.
                    self.assertEqual(d.container_port(c, probe["port"]),
                                     self.config[overlay]["server"]["metrics_port"])
                self.assertGreater(c["livenessProbe"]["failureThreshold"],
                                   c["readinessProbe"]["failureThreshold"])
                self.assertLessEqual(c["startupProbe"]["periodSeconds"], 1,
                                     "the binary is ready in milliseconds")

    # ---- mounts and file system

    def test_mount_paths_are_the_binarys_defaults(self):
        help_text = d.run_binary(["--help"]).stdout
        dirs = {}
        for flag, var in (("--config-dir", "DATAFLOW_CONFIG_DIR"),
                          ("--secrets-dir", "DATAFLOW_SECRETS_DIR")):
            m = re.search(re.escape(flag) + r"\b.*?\$" + var + r", else (\S+) if it exists",
                          help_text)
            self.assertTrue(m, f"`dataflow --help` names the default of {flag}")
            dirs[flag] = m.group(1)
        self.assertEqual(dirs, {"--config-dir": "/etc/config", "--secrets-dir": "/etc/secrets"})
        for overlay in OVERLAYS:
            spec = d.pod_spec(d.render(overlay))
            volumes = {v["name"]: v for v in spec["volumes"]}
            with self.subTest(overlay=overlay):
                self.assertEqual(volumes["config"].get("configMap", {}).get("name"), d.CONFIG_MAP)
                self.assertEqual(volumes["secrets"].get("secret", {}).get("secretName"), d.SECRET)
                self.assertFalse([v for v in spec["volumes"] if "emptyDir" in v],
                                 "the binary writes no files: no emptyDir")
                for c in spec["containers"] + spec.get("initContainers", []):
                    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
                    self.assertEqual(mounts["/etc/config"]["name"], "config", c["name"])
                    self.assertEqual(mounts["/etc/secrets"]["name"], "secrets", c["name"])
                    for m in mounts.values():
                        self.assertNotIn("subPath", m, "subPath mounts never update")
                        self.assertIs(m.get("readOnly"), True)
                    sc = c["securityContext"]
                    self.assertIs(sc.get("readOnlyRootFilesystem"), True)
                    self.assertIs(sc.get("allowPrivilegeEscalation"), False)
                    self.assertEqual(sc.get("capabilities"), {"drop": ["ALL"]})

    def test_configmap_holds_only_what_the_config_dir_accepts(self):
        keys = set(self.defaults)
        env_names = {"DATAFLOW_" + k.upper().replace(".", "_") for k in keys}
        for overlay in OVERLAYS:
            cm = d.find(d.render(overlay), "ConfigMap", d.CONFIG_MAP)
            for name in cm["data"]:
                with self.subTest(overlay=overlay, key=name):
                    self.assertFalse(name.startswith("."))
                    self.assertTrue(name.endswith(".toml") or name in keys or name in env_names,
                                    f"{name}: the config directory would refuse it")

    def test_no_service_account_token_and_no_rbac(self):
        for overlay in OVERLAYS:
            objects = d.render(overlay)
            with self.subTest(overlay=overlay):
                self.assertIs(d.pod_spec(objects).get("automountServiceAccountToken"), False)
                sa = d.find(objects, "ServiceAccount", d.APP)
                self.assertIs(sa.get("automountServiceAccountToken"), False)
                self.assertEqual(d.pod_spec(objects)["serviceAccountName"], d.APP)
                rbac = [o for o in objects if o["apiVersion"].startswith("rbac.authorization")]
                self.assertEqual(rbac, [], "dataflow never calls the Kubernetes API")

    # ---- lifecycle

    def test_drain_timing(self):
        for overlay in OVERLAYS:
            spec = d.pod_spec(d.render(overlay))
            c = d.main_container(d.render(overlay))
            server = self.config[overlay]["server"]
            drain = d.duration_seconds(server["drain_delay"])
            shutdown = d.duration_seconds(server["shutdown_timeout"])
            with self.subTest(overlay=overlay):
                pre_stop = c["lifecycle"]["preStop"]
                if "sleep" in pre_stop:
                    sleep = pre_stop["sleep"]["seconds"]
                else:
                    argv = pre_stop["exec"]["command"]
                    self.assertEqual(argv[0], "sleep")
                    sleep = float(argv[1])
                self.assertEqual(sleep, drain, "preStop sleep = server.drain_delay")
                grace = spec["terminationGracePeriodSeconds"]
                self.assertGreaterEqual(grace, drain + shutdown)
                self.assertGreaterEqual(grace, sleep + drain + shutdown,
                                        "the grace period covers preStop, the drain and the "
                                        "in-flight requests")

    def test_init_container_validates_the_same_configuration(self):
        for overlay in OVERLAYS:
            objects = d.render(overlay)
            init, main = d.init_container(objects), d.main_container(objects)
            with self.subTest(overlay=overlay):
                self.assertEqual(init["args"][:2], ["config", "validate"])
                self.assertNotIn("command", init)
                self.assertEqual(init["image"], main["image"])
                self.assertEqual(init.get("volumeMounts"), main.get("volumeMounts"))
                config_env = {k: v for k, v in d.pod_env(main).items()
                              if k.startswith("DATAFLOW_")}
                self.assertEqual({k: v for k, v in d.pod_env(init).items()
                                  if k.startswith("DATAFLOW_")}, config_env,
                                 "the init container sees the same DATAFLOW_* environment")

    def test_glibc_tunables_agree(self):
        image = d.env_instructions(self.runtime).get("GLIBC_TUNABLES")
        self.assertTrue(image, "the Dockerfile sets GLIBC_TUNABLES")
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                self.assertEqual(d.pod_env(d.main_container(d.render(overlay)))
                                 .get("GLIBC_TUNABLES"), image)

    # ---- image

    def test_version_agrees(self):
        with open(d.src("CMakeLists.txt"), encoding="utf-8") as f:
            version = re.search(r"project\(dataflow\s+VERSION\s+(\S+)", f.read()).group(1)
        args = {}
        for text in d.instructions(self.runtime, "ARG"):
            name, _, value = text.partition("=")
            args[name] = value
        self.assertEqual(args.get("VERSION"), version, "Dockerfile ARG VERSION = project version")
        image = d.main_container(d.render("k8s/overlays/prod"))["image"]
        self.assertTrue(image.endswith(":" + version) or "@sha256:" in image,
                        f"prod image {image}: the tag is the project version {version}")

    def test_build_stage_matches_ci(self):
        build = d.dockerfile_stages()[0][1]
        runs = " ".join(d.instructions(build, "RUN"))
        self.assertIn("scripts/install-deps.sh", runs)
        self.assertRegex(runs, r"-DCMAKE_BUILD_TYPE=Release\b")
        self.assertRegex(runs, r"-DDATAFLOW_BUILD_TESTS=OFF\b")
        with open(d.src("CMakeLists.txt"), encoding="utf-8") as f:
            self.assertIn("option(DATAFLOW_BUILD_TESTS", f.read())
        self.assertIn("cmake --install", runs)
        froms = [stage[1][0][1] for stage in d.dockerfile_stages()]
        self.assertTrue(froms[0].startswith("debian:bookworm "), froms)
        self.assertTrue(froms[-1].startswith("debian:bookworm-slim"), froms)

    def test_runtime_packages_cover_the_shared_libraries(self):
        if shutil.which("ldd") is None or shutil.which("dpkg-query") is None:
            self.fail("ldd and dpkg-query are needed (Debian 12)")
        apt = " ".join(t for t in d.instructions(self.runtime, "RUN") if "apt-get install" in t)
        installed = set(re.findall(r"(?<![-\w])(lib[\w.+-]+|zlib1g|ca-certificates)(?![\w.+-])",
                                   apt))
        # The binary and its HTTP module (util/http_module.hpp), which the binary loads.
        self.assertTrue(os.path.isfile(d.http_module()), f"{d.http_module()}: no HTTP module")
        out = "".join(subprocess.run(["ldd", path], capture_output=True, text=True,
                                     check=True).stdout for path in (d.BINARY, d.http_module()))
        missing = []
        for lib in re.findall(r"=> (\S+) \(", out):
            if os.path.basename(lib).startswith(SANITIZER_LIBRARIES):
                continue
            real = os.path.realpath(lib)
            owner = None
            for candidate in {real, lib, "/usr" + real if not real.startswith("/usr") else real}:
                r = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True,
                                   text=True, check=False)
                if r.returncode == 0:
                    owner = r.stdout.split(":")[0].strip()
                    break
            self.assertIsNotNone(owner, f"{lib}: no Debian package owns it")
            if owner not in installed and owner not in BASE_IMAGE_PACKAGES:
                missing.append(f"{lib} ({owner})")
        self.assertEqual(missing, [], "add these packages to the runtime stage's apt-get install")
        self.assertIn("ca-certificates", installed, "the https upstream needs the CA bundle")

    # ---- Secret example

    def test_secret_example_is_clearly_a_placeholder(self):
        secret = d.find(d.render("k8s/examples/secret"), "Secret", d.SECRET)
        self.assertNotIn("data", secret, "stringData only (readable placeholders)")
        schema_secrets = d.secret_keys()
        legacy = {"redis_password", "jwt_secret"}
        for key, value in secret["stringData"].items():
            with self.subTest(key=key):
                self.assertIn(key, schema_secrets | legacy, "a secret key of the schema")
                self.assertTrue(value.startswith("EXAMPLE-ONLY-"), "marked as a placeholder")
        self.assertNotIn(d.SECRET, [o["metadata"]["name"] for o in
                                    d.find_all(d.render("k8s/overlays/prod"), "Secret")],
                         "prod expects a Secret created outside Git")


def find_annotations(objects):
    return d.find(objects, "Deployment", d.APP)["spec"]["template"]["metadata"]["annotations"]


if __name__ == "__main__":
    argv = d.parse_args(__doc__)
    unittest.main(argv=argv)
