#!/usr/bin/env node
// Lints Dockerfiles with dockerfile-utils (the validator of the Dockerfile language server),
// every rule at "error". Fails on any diagnostic of severity error or warning.
//   node ci/lint-dockerfile.mjs [Dockerfile...]                  default: ./Dockerfile
//   node ci/lint-dockerfile.mjs --expect-invalid FILE...         each must be rejected (self-test)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SOURCE_DIR, fail, need } from "./k8s-lib.mjs";

const { validate, ValidationSeverity } = await need("dockerfile-utils");
const settings = Object.fromEntries(
  ["deprecatedMaintainer", "directiveCasing", "emptyContinuationLine", "instructionCasing",
   "instructionCmdMultiple", "instructionEntrypointMultiple", "instructionHealthcheckMultiple",
   "instructionJSONInSingleQuotes", "instructionWorkdirRelative"]
    .map((k) => [k, ValidationSeverity.ERROR]));
const SEVERITY = { 1: "error", 2: "warning", 3: "info", 4: "hint" };

const args = process.argv.slice(2);
const expectInvalid = args[0] === "--expect-invalid";
const files = expectInvalid ? args.slice(1)
                            : (args.length > 0 ? args : [join(SOURCE_DIR, "Dockerfile")]);
if (expectInvalid && files.length === 0) {
  fail("usage: node ci/lint-dockerfile.mjs [--expect-invalid] [Dockerfile...]");
}
let failed = false;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    fail(`${file}: ${e.message}`);
  }
  const diagnostics = validate(text, settings);
  const lines = diagnostics.map((d) =>
    `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ` +
    `${SEVERITY[d.severity] ?? "error"}: ${d.message}`);
  const serious = diagnostics.filter((d) => d.severity === undefined || d.severity <= 2);
  if (expectInvalid) {
    if (serious.length === 0) {
      console.error(`${file}: accepted, but it is invalid: the linter misses this mistake`);
      failed = true;
    } else {
      console.log(`${file}: rejected as expected:\n  ${lines.join("\n  ")}`);
    }
    continue;
  }
  if (lines.length > 0) {
    console[serious.length > 0 ? "error" : "log"](lines.join("\n"));
  }
  if (serious.length > 0) {
    failed = true;
  } else {
    console.log(`${file}: no errors or warnings`);
  }
}
process.exit(failed ? 1 : 0);
