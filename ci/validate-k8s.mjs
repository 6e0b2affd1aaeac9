#!/usr/bin/env node
// Validates Kubernetes objects offline against the API schema, in two passes:
//  1. kubernetes-models (the OpenAPI schema as JSON Schema, via ajv): types, enums, formats,
//     required fields;
//  2. kubernetes-types + the TypeScript compiler: each object becomes a typed object literal,
//     so a field the API does not know (a typo such as imagePullPolicyy) is an error. The
//     API server would drop such a field silently, or reject it with kubectl --validate=strict.
//
//   node ci/validate-k8s.mjs PATH...                    every object must be valid
//   node ci/validate-k8s.mjs --expect-invalid PATH...   every PATH must be rejected (self-test)
//
// PATH is a kustomization directory (rendered with kubectl kustomize) or a YAML file.
import { createRequire } from "node:module";
import { join } from "node:path";
import { CI_DIR, describe, fail, loadObjects, need } from "./k8s-lib.mjs";

const require = createRequire(import.meta.url);

/** "apps/v1" -> { group: "apps", version: "v1" }; "v1" -> { group: "", version: "v1" }. */
function splitApiVersion(apiVersion) {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? { group: "", version: apiVersion }
                   : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** The kubernetes-models class of an object, or undefined for an unknown apiVersion/kind. */
function modelOf(obj) {
  if (typeof obj?.apiVersion !== "string" || typeof obj?.kind !== "string") {
    return undefined;
  }
  const { group, version } = splitApiVersion(obj.apiVersion);
  const module = group === "" ? `kubernetes-models/${version}/${obj.kind}`
                              : `kubernetes-models/${group}/${version}/${obj.kind}`;
  try {
    return require(module)[obj.kind];
  } catch {
    return undefined;
  }
}

/** Pass 1: kubernetes-models. Returns error strings. */
function validateModel(obj) {
  const Model = modelOf(obj);
  if (!Model) {
    return [`unknown apiVersion/kind ${obj?.apiVersion} ${obj?.kind} (not a built-in kind ` +
            `of the Kubernetes API)`];
  }
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    if (Array.isArray(e.errors) && e.errors.length > 0) {
      return e.errors.map((err) => {
        const allowed = err.params?.allowedValues;
        return `${err.instancePath || "/"}: ${err.message}` +
               (allowed ? ` (${allowed.join(", ")})` : "");
      });
    }
    return [String(e.message ?? e)];
  }
}

/** kubernetes-types module of an apiVersion: "networking.k8s.io/v1" -> "networking/v1". */
function typesModule(apiVersion) {
  const { group, version } = splitApiVersion(apiVersion);
  return `kubernetes-types/${group === "" ? "core" : group.split(".")[0]}/${version}`;
}

/** Pass 2: TypeScript over kubernetes-types. Returns Map(object index -> error strings). */
async function validateTypes(objects) {
  const ts = (await need("typescript")).default;
  const imports = new Map(); // "module\0Kind" -> alias
  const body = [];
  const ranges = []; // [firstLine, lastLine] (0-based) of each object literal
  objects.forEach((obj, i) => {
    const key = `${typesModule(obj.apiVersion)}\0${obj.kind}`;
    if (!imports.has(key)) {
      imports.set(key, `T${imports.size}`);
    }
    const literal = JSON.stringify(obj, null, 2).split("\n");
    ranges.push(literal.length);
    body.push(`export const o${i}: ${imports.get(key)} = ${literal.join("\n")};`);
  });
  const header = [...imports].map(([key, alias]) => {
    const [module, kind] = key.split("\0");
    return `import type { ${kind} as ${alias} } from "${module}";`;
  });
  const text = [...header, ...body].join("\n") + "\n";
  let line = header.length;
  const spans = ranges.map((n) => { const s = [line, line + n - 1]; line += n; return s; });

  // A virtual file inside ci/, so that module resolution finds ci/node_modules.
  const fileName = join(CI_DIR, "__k8s_objects__.ts");
  const options = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2020,
                    module: ts.ModuleKind.CommonJS,
                    moduleResolution: ts.ModuleResolutionKind.Node10,
                    skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === fileName ? ts.createSourceFile(name, text, language, true)
                      : getSourceFile(name, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram([fileName], options, host);
  const errors = new Map();
  const lines = text.split("\n");
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (!d.file || d.file.fileName !== fileName) {
      fail(`validate-k8s: TypeScript setup error: ${message}`);
    }
    const { line: at } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    const index = spans.findIndex(([a, b]) => at >= a && at <= b);
    if (index < 0) {
      // An import that does not resolve: kubernetes-types lacks a kind kubernetes-models has.
      fail(`validate-k8s: TypeScript setup error: ${message}`);
    }
    const list = errors.get(index) ?? [];
    list.push(`${lines[at].trim()}  <- ${message.split("\n")[0]}`);
    errors.set(index, list);
  }
  return errors;
}

/** Validates every path in one TypeScript program: { path: { objects, problems } }. */
async function validatePaths(paths) {
  const results = new Map();
  const typed = []; // [path, object] of the objects whose kind exists
  for (const path of paths) {
    const objects = await loadObjects(path);
    const problems = objects.length === 0 ? [`${path}: no objects`] : [];
    for (const obj of objects) {
      for (const e of validateModel(obj)) {
        problems.push(`${path}: ${describe(obj)}: schema: ${e}`);
      }
      // Pass 2 only for the objects whose kind exists (the others are reported above).
      if (modelOf(obj) !== undefined) {
        typed.push([path, obj]);
      }
    }
    results.set(path, { objects, problems });
  }
  for (const [i, list] of await validateTypes(typed.map(([, obj]) => obj))) {
    const [path, obj] = typed[i];
    for (const e of list) {
      results.get(path).problems.push(
        `${path}: ${describe(obj)}: unknown field or wrong type: ${e}`);
    }
  }
  return results;
}

const args = process.argv.slice(2);
const expectInvalid = args[0] === "--expect-invalid";
const paths = expectInvalid ? args.slice(1) : args;
if (paths.length === 0) {
  fail("usage: node ci/validate-k8s.mjs [--expect-invalid] KUSTOMIZATION_DIR|FILE.yaml...");
}
await need("kubernetes-models");
let failed = false;
for (const [path, { objects, problems }] of await validatePaths(paths)) {
  if (expectInvalid) {
    if (problems.length === 0) {
      console.error(`${path}: accepted, but it is invalid: the validator misses this mistake`);
      failed = true;
    } else {
      console.log(`${path}: rejected as expected:\n  ${problems.join("\n  ")}`);
    }
  } else if (problems.length > 0) {
    console.error(problems.join("\n"));
    failed = true;
  } else {
    console.log(`${path}: ${objects.length} objects valid ` +
                `(${objects.map((o) => o.kind).join(", ")})`);
  }
}
process.exit(failed ? 1 : 0);
