#!/usr/bin/env python3
"""Starts the real binary as the Deployment runs it and checks that manifests and binary agree:

- `dataflow config validate`, with the init container's exact arguments and environment, accepts
  the rendered ConfigMap plus the example Secret (prod and dev overlays);
- `dataflow serve` (the main container's arguments) with that configuration answers 200 on every
  probe path of the Deployment, on the port each probe names; /metrics is served on the metrics
  port; the Secret's Redis password and JWT secret work, and a rotated JWT secret is picked up
  without a restart; the Dockerfile's HEALTHCHECK command exits 0; SIGTERM makes readiness fail
  at once and the process exits 0 within the grace period.

Everything stays on 127.0.0.1; what is overridden to get there, and why, is described in
deploylib.Service (loopback ports, a local redis-server and SDMX upstream, environment staging).

  python3 tests/deploy/test_consistency.py --source-dir . --binary build/cli/dataflow [-v]
"""

import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as d  # noqa: E402

OVERLAY = "k8s/overlays/prod"


class Consistency(unittest.TestCase):
    def setUp(self):
        self.procs = d.Processes()
        self.addCleanup(self.procs.close)

    def test_init_container_accepts_the_configuration(self):
        for overlay in ("k8s/overlays/prod", "k8s/overlays/dev"):
            with self.subTest(overlay=overlay):
                root = os.path.join(self.procs.tmp, overlay.replace("/", "_"))
                config_dir, secrets_dir, _ = d.write_config_dirs(root, overlay)
                init = d.init_container(d.render(overlay))
                r = d.run_binary(init["args"],
                                 env=d.pod_environment(init, config_dir, secrets_dir))
                self.assertEqual(r.returncode, 0, f"{init['args']}:\n{r.stdout}{r.stderr}")
                self.assertIn("config OK", r.stdout + r.stderr)
                cfg = d.effective_config(config_dir, secrets_dir)
                self.assertEqual(cfg["environment"], "production",
                                 "validated under the production profile")

    def test_serve_answers_every_probe_of_the_deployment(self):
        svc = d.Service(self.procs, OVERLAY)
        self.addCleanup(svc.close)
        main = svc.main
        self.assertLess(svc.ready_after, 1.0, "ready well under a second after exec")

        # Every probe of the Deployment, on the port it names.
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = main[kind]
            get = probe["httpGet"]
            port = svc.ports[d.container_port(main, get["port"])]
            with self.subTest(probe=kind):
                status, _, body = svc.get(get["path"], port=port,
                                          timeout=probe.get("timeoutSeconds", 1))
                self.assertEqual(status, 200, f"{kind} {get['path']}: {body}\n{svc.log()}")

        # Redis reached with the Secret's password: no degraded check.
        status, _, body = svc.get("/health/status?verbose")
        self.assertEqual(status, 200, body)
        self.assertIn("[+]config ok", body)
        self.assertIn("[+]redis ok", body, "the Secret's redis.password authenticates")

        # /metrics on the metrics port.
        status, headers, body = svc.get("/metrics", port=svc.metrics)
        self.assertEqual(status, 200)
        self.assertIn("version=0.0.4", headers.get("Content-Type", ""))
        self.assertIn("dataflow_build_info{", body)

        # The catalogue of the (fake) upstream, behind JWT authentication (auth.jwt_secret).
        self.assertEqual(svc.config["auth"]["mode"], "jwt")
        path = "/api/v1/dataflows?limit=1"
        self.assertEqual(svc.get(path)[0], 401, "no token, no catalogue")
        bearer = {"Authorization": f"Bearer {svc.token()}"}
        d.wait_until("the catalogue from the upstream",
                     lambda: svc.get(path, headers=bearer)[0] == 200, 10)
        agency = svc.config["upstream"]["agency"]
        self.assertTrue(any(f"/dataflow/{agency}" in p for p in svc.upstream.paths),
                        svc.upstream.paths)

        # Rotating auth.jwt_secret (docs/OPERATIONS.md): the kubelet swaps the Secret volume,
        # the pod reloads it without a restart; old tokens stop working, new ones work.
        old_bearer = bearer
        rotated = dict(svc.secret,
                       **{"auth.jwt_secret": "EXAMPLE-ONLY-rotated-jwt-secret-for-the-test"})
        d.write_volume(svc.secrets_dir, rotated)
        svc.secret = rotated
        bearer = {"Authorization": f"Bearer {svc.token()}"}
        d.wait_until("the rotated JWT secret", lambda: svc.get(path, headers=bearer)[0] == 200, 10)
        self.assertEqual(svc.get(path, headers=old_bearer)[0], 401, "the old key is gone")

        # The Dockerfile's HEALTHCHECK, as Docker runs it inside the container.
        check = d.instructions(d.runtime_stage(), "HEALTHCHECK")[0].partition("CMD")[2]
        argv = d.exec_form(check.strip())
        r = d.run_binary(argv[1:], env=svc.env)
        self.assertEqual(r.returncode, 0, f"{argv}: {r.stdout}{r.stderr}")

        # SIGTERM (after the preStop hook): readiness fails at once, exit 0 in the grace period.
        svc.process.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        ready = main["readinessProbe"]["httpGet"]["path"]
        d.wait_until("readiness to fail after SIGTERM", lambda: svc.get(ready)[0] == 503, 1)
        grace = svc.spec["terminationGracePeriodSeconds"] - float(
            main["lifecycle"]["preStop"]["exec"]["command"][1])
        try:
            code = svc.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.fail(f"still running {grace} s after SIGTERM:\n{svc.log()}")
        self.assertEqual(code, 0, svc.log())
        drain = d.duration_seconds(svc.config["server"]["drain_delay"])
        self.assertGreaterEqual(time.monotonic() - t0, drain - 0.5, "served through the drain")


if __name__ == "__main__":
    argv = d.parse_args(__doc__)
    unittest.main(argv=argv)
