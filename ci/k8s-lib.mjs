// Shared helpers of the CI checks of k8s/ (Node.js 18+, ESM). Everything runs offline: the
// npm packages come from ci/node_modules (ci/install-lint-tools.sh), kustomize from kubectl.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const CI_DIR = dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = resolve(CI_DIR, "..");
export const CONFIG_MAP = "dataflow-analyzer-config";
export const CHECKSUM_ANNOTATION = "checksum/config";

/** Stops with a message that says what to do. */
export function fail(message) {
  console.error(message);
  process.exit(1);
}

/** Imports an npm package of ci/node_modules, or stops with instructions. */
export async function need(pkg) {
  if (!existsSync(join(CI_DIR, "node_modules", pkg.split("/")[0]))) {
    fail(`ci/node_modules/${pkg} is missing: run scripts/install-deps.sh ` +
         `(or ci/install-lint-tools.sh) to install the pinned lint tools`);
  }
  return import(pkg);
}

/** `kubectl kustomize DIR` as text. */
export function kustomize(dir) {
  const r = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error && r.error.code === "ENOENT") {
    fail("kubectl not found: install kubectl 1.27 or later (kustomize is built in); " +
         "see docs/KUBERNETES.md");
  }
  if (r.status !== 0) {
    fail(`kubectl kustomize ${dir} failed:\n${r.stderr}`);
  }
  return r.stdout;
}

/** Every non-empty YAML document of `text` as plain objects; YAML errors stop. */
export async function parseDocuments(text, source) {
  const YAML = await need("yaml");
  const objects = [];
  for (const doc of YAML.parseAllDocuments(text, { prettyErrors: true })) {
    if (doc.errors.length > 0) {
      fail(`${source}: ${doc.errors.map((e) => e.message).join("\n")}`);
    }
    const value = doc.toJS();
    if (value !== null && value !== undefined) {
      objects.push(value);
    }
  }
  return objects;
}

/** The objects of a kustomization directory (rendered) or of a YAML file. */
export async function loadObjects(path) {
  const text = existsSync(join(path, "kustomization.yaml")) ? kustomize(path)
                                                            : readFileSync(path, "utf8");
  return parseDocuments(text, path);
}

export function describe(obj) {
  const ns = obj?.metadata?.namespace ? `${obj.metadata.namespace}/` : "";
  return `${obj?.apiVersion}/${obj?.kind} ${ns}${obj?.metadata?.name}`;
}

/**
 * The checksum annotation of the config: SHA-256 (hex) of the ConfigMap's data, entries in
 * key order, each as "<key>\0<value>\0".
 */
export function configChecksum(objects) {
  const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata?.name === CONFIG_MAP);
  if (!cm) {
    fail(`no ConfigMap ${CONFIG_MAP} in the rendered objects`);
  }
  const hash = createHash("sha256");
  for (const key of Object.keys(cm.data ?? {}).sort()) {
    hash.update(key, "utf8").update("\0").update(cm.data[key], "utf8").update("\0");
  }
  return hash.digest("hex");
}
