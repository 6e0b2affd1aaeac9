#!/usr/bin/env node
// The optional kustomize component k8s/components/alerts against the plain rules file
// k8s/alerts/dataflow-rules.yaml (CTest deploy/alerts-component; offline):
//  1. the component renders as an overlay would use it (the prod overlay plus
//     `components: [.../components/alerts]`, the overlay's namespace): exactly one object more
//     than the prod overlay, a monitoring.coreos.com/v1 PrometheusRule in that namespace, and
//     every other object unchanged;
//  2. its spec.groups are the groups of the plain rules file (parsed, so only formatting and
//     comments may differ);
//  3. `promtool check rules` accepts the rules extracted from the rendered PrometheusRule.
//
//   node tests/deploy/alerts/check-component.mjs
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { SOURCE_DIR, describe, fail, kustomize, need, parseDocuments }
  from "../../../ci/k8s-lib.mjs";

const PLAIN = "k8s/alerts/dataflow-rules.yaml";
const COMPONENT = "k8s/components/alerts";
const OVERLAY = "k8s/overlays/prod";
const NAMESPACE = "osservatorio";

const problems = [];
const check = (what, ok, detail = "") => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) {
    problems.push(what + (detail ? `: ${detail}` : ""));
  }
};

const plainDocs = await parseDocuments(readFileSync(join(SOURCE_DIR, PLAIN), "utf8"), PLAIN);
if (plainDocs.length !== 1 || !Array.isArray(plainDocs[0]?.groups)) {
  fail(`${PLAIN}: expected one document with a list "groups"`);
}
const groups = plainDocs[0].groups;

// The component file as written, before kustomize touches it.
const componentKust = (await parseDocuments(
  readFileSync(join(SOURCE_DIR, COMPONENT, "kustomization.yaml"), "utf8"), COMPONENT))[0];
check(`${COMPONENT}: kind Component (opt-in; not built alone)`, componentKust?.kind === "Component",
      `kind is ${componentKust?.kind}`);

// An overlay that opts in, in a temporary directory: kustomize takes relative paths only.
const tmp = mkdtempSync(join(tmpdir(), "dataflow-alerts-"));
try {
  const rel = (p) => relative(tmp, join(SOURCE_DIR, p));
  writeFileSync(join(tmp, "kustomization.yaml"), [
    "apiVersion: kustomize.config.k8s.io/v1beta1",
    "kind: Kustomization",
    `namespace: ${NAMESPACE}`,
    "resources:",
    `  - ${rel(OVERLAY)}`,
    "components:",
    `  - ${rel(COMPONENT)}`,
    "",
  ].join("\n"));
  const withAlerts = await parseDocuments(kustomize(tmp), `${OVERLAY} + ${COMPONENT}`);
  const prod = await parseDocuments(kustomize(join(SOURCE_DIR, OVERLAY)), OVERLAY);

  const rules = withAlerts.filter((o) => o.kind === "PrometheusRule");
  check("the opt-in render has one PrometheusRule", rules.length === 1, `found ${rules.length}`);
  const others = withAlerts.filter((o) => o.kind !== "PrometheusRule");
  check(`every other object is the ${OVERLAY} render's`,
        others.length === prod.length &&
        others.every((o) => isDeepStrictEqual(o, prod.find((p) => describe(p) === describe(o)))),
        `${others.length} objects against ${prod.length}`);
  const rule = rules[0];
  if (rule) {
    check("apiVersion monitoring.coreos.com/v1", rule.apiVersion === "monitoring.coreos.com/v1",
          rule.apiVersion);
    check(`the overlay's namespace (${NAMESPACE})`, rule.metadata?.namespace === NAMESPACE,
          String(rule.metadata?.namespace));
    check("spec holds groups only", isDeepStrictEqual(Object.keys(rule.spec ?? {}), ["groups"]),
          Object.keys(rule.spec ?? {}).join(", "));
    const theirs = rule.spec?.groups ?? [];
    const same = isDeepStrictEqual(theirs, groups);
    const detail = [];
    if (!same) {
      const alerts = (gs) => new Map(gs.flatMap((g) => (g.rules ?? []).map(
        (r) => [`${g.name}/${r.alert ?? r.record}`, r])));
      const a = alerts(groups);
      const b = alerts(theirs);
      for (const [name, r] of a) {
        if (!b.has(name)) {
          detail.push(`${name} missing from the PrometheusRule`);
        } else if (!isDeepStrictEqual(r, b.get(name))) {
          detail.push(`${name} differs`);
        }
      }
      for (const name of b.keys()) {
        if (!a.has(name)) {
          detail.push(`${name} only in the PrometheusRule`);
        }
      }
      if (detail.length === 0) {
        detail.push("group names, intervals or rule order differ");
      }
    }
    check(`spec.groups are the groups of ${PLAIN}`, same, detail.join("; "));

    // promtool on what the Operator would load.
    const YAML = await need("yaml");
    const extracted = join(tmp, "prometheusrule-rules.yaml");
    writeFileSync(extracted, YAML.stringify({ groups: theirs }));
    const r = spawnSync("promtool", ["check", "rules", extracted], { encoding: "utf8" });
    if (r.error) {
      fail(`promtool: ${r.error.message}`);
    }
    check("promtool check rules accepts the PrometheusRule's rules", r.status === 0,
          (r.stdout + r.stderr).trim());
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

if (problems.length > 0) {
  console.error(`\n${problems.length} problem(s):\n  ${problems.join("\n  ")}\n` +
                `The PrometheusRule's spec.groups must be ${PLAIN}'s groups, indented under spec.`);
  process.exit(1);
}
