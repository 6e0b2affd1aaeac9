#!/usr/bin/env node
// Small offline helpers for scripts and tests (tests/deploy is Python without a YAML parser):
//   node ci/k8s-tool.mjs json PATH       the objects of a kustomization dir or YAML file, as JSON
//   node ci/k8s-tool.mjs checksum PATH   the config checksum annotation the Deployment must carry
//   node ci/k8s-tool.mjs same A B        exit 0 when A and B hold the same objects (parsed, so
//                                        formatting differences between kubectl versions do
//                                        not count), else list the differences and exit 1
import { isDeepStrictEqual } from "node:util";
import { configChecksum, describe, fail, loadObjects } from "./k8s-lib.mjs";

const [command, path, other] = process.argv.slice(2);
if (!path || !["json", "checksum", "same"].includes(command) || (command === "same") !== !!other) {
  fail("usage: node ci/k8s-tool.mjs json|checksum PATH | same PATH PATH " +
       "(PATH: a kustomization directory or a YAML file)");
}
const objects = await loadObjects(path);
if (command === "json") {
  process.stdout.write(JSON.stringify(objects, null, 1) + "\n");
} else if (command === "checksum") {
  process.stdout.write(configChecksum(objects) + "\n");
} else {
  const theirs = await loadObjects(other);
  const names = (list) => list.map(describe);
  let same = true;
  for (const obj of objects) {
    const match = theirs.find((t) => describe(t) === describe(obj));
    if (!match) {
      console.error(`${describe(obj)}: in ${path}, missing from ${other}`);
      same = false;
    } else if (!isDeepStrictEqual(match, obj)) {
      console.error(`${describe(obj)}: differs between ${path} and ${other}`);
      same = false;
    }
  }
  for (const name of names(theirs).filter((n) => !names(objects).includes(n))) {
    console.error(`${name}: in ${other}, not in ${path}`);
    same = false;
  }
  process.exit(same ? 0 : 1);
}
