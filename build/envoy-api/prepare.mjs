// Unpacks Envoy's API protos from the pinned npm package (package.json "envoyApiPackage") into
// <out>/include, and writes the import closure of roots.txt as two lists for the Envoy.Api.Protos
// build: messages.txt (message-only files) and services.txt (files that declare gRPC services).
// Nothing here is committed: the output folder is ignored by git.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, "..", "..", ".cache", "envoy-api"));
const spec = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).envoyApiPackage;
const stamp = join(out, "stamp.txt");
const rootsText = readFileSync(join(here, "roots.txt"), "utf8");
const wanted = `${spec}\n${rootsText}\n${readFileSync(fileURLToPath(import.meta.url), "utf8")}`;

if (existsSync(stamp) && readFileSync(stamp, "utf8") === wanted) {
  process.exit(0);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "envoy-api-"));
try {
  const tarball = execFileSync("npm", ["pack", spec, "--silent", "--pack-destination", work], { encoding: "utf8" })
    .trim().split("\n").pop();
  execFileSync("tar", ["-xzf", join(work, tarball), "-C", work]);
  const deps = join(work, "package", "deps");
  const include = join(out, "include");
  // One merged include tree: every import resolves against a single root.
  for (const root of ["envoy-api", "xds", "googleapis", "protoc-gen-validate"]) {
    cpSync(join(deps, root), include, { recursive: true });
  }

  const roots = rootsText.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const seen = new Set();
  const messages = [];
  const services = [];
  const pending = [...roots];
  while (pending.length > 0) {
    const file = pending.pop();
    if (seen.has(file) || file.startsWith("google/protobuf/")) {
      continue; // well-known types ship with Google.Protobuf and Grpc.Tools
    }
    seen.add(file);
    const path = join(include, file);
    if (!existsSync(path)) {
      throw new Error(`${file} is not in ${spec} (needed by the closure of roots.txt)`);
    }
    let text = readFileSync(path, "utf8");
    // The package's validate.proto predates `ignore_empty`; validation rules mean nothing to
    // C# code generation, so the option is dropped from our unpacked copy.
    if (text.includes("ignore_empty")) {
      text = text.replace(/\s*ignore_empty:\s*true/g, "");
      writeFileSync(path, text);
    }
    // protoc's C# generator emits both a `ClearBody` property (field clear_body) and a
    // `ClearBody()` method (for oneof field body) on ext_proc's BodyMutation, which does not
    // compile. Renaming the field keeps its number and JSON name, so the wire format is unchanged.
    if (file === "envoy/service/ext_proc/v3/external_processor.proto") {
      text = text.replace("bool clear_body = 2;", 'bool clear_body_flag = 2 [json_name = "clearBody"];');
      writeFileSync(path, text);
    }
    for (const m of text.matchAll(/^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm)) {
      pending.push(m[1]);
    }
    (/^\s*service\s+\w+\s*\{/m.test(text) ? services : messages).push(file);
  }
  messages.sort();
  services.sort();
  writeFileSync(join(out, "messages.txt"), messages.join("\n") + "\n");
  writeFileSync(join(out, "services.txt"), services.join("\n") + "\n");
  writeFileSync(stamp, wanted);
  console.log(`envoy-api: ${messages.length + services.length} files from ${spec} (${roots.length} roots) in ${out}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
