import { readFileSync, writeFileSync } from "node:fs";
import { relative } from "node:path";
import { repoRoot } from "./contractArtifacts.ts";

export type WriteGeneratedFileParameters = {
  /** Only compare, as `npm run build` does: a stale or missing file exits non-zero. */
  check: boolean;
  /** The npm script that regenerates the file, named in the message when it is stale. */
  command: string;
};

/** Writes a file generated from the build, or checks that the committed one is what the build gives. */
export function writeGeneratedFile(target: string, fresh: string, { check, command }: WriteGeneratedFileParameters) {
  const name = relative(repoRoot, target);
  if (!check) {
    writeFileSync(target, fresh);
    console.log(`Wrote ${name}`);
    return;
  }
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {
    // A missing file is stale too.
  }
  if (current !== fresh) {
    console.error(`${name} is stale: run \`npm run ${command}\` and commit the result.`);
    process.exit(1);
  }
  console.log(`${name} is up to date.`);
}
