import { lstat, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeSecretFile } from "../../src/internal/writeSecretFile.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "secret-file-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mode = async (file: string) => (await stat(file)).mode & 0o777;

describe("writeSecretFile (plaintext weights, keys)", () => {
  it("writes a new file readable by its owner only", async () => {
    const file = path.join(dir, "weights.json");
    await writeSecretFile(file, "weights");
    expect(await readFile(file, "utf8")).toBe("weights");
    expect((await mode(file)).toString(8)).toBe("600");
  });

  it("an existing weights file readable by others (0644) ends 0600 with the new contents", async () => {
    const file = path.join(dir, "weights.json");
    await writeFile(file, "old", { mode: 0o644 });
    expect((await mode(file)).toString(8)).toBe("644");
    await writeSecretFile(file, "new weights");
    expect(await readFile(file, "utf8")).toBe("new weights");
    expect((await mode(file)).toString(8)).toBe("600");
  });

  it("a symlink planted at the weights path is replaced, not followed: the file it points to is unchanged", async () => {
    const victim = path.join(dir, "world-readable.txt");
    await writeFile(victim, "someone else's file", { mode: 0o644 });
    const file = path.join(dir, "weights.json");
    await symlink(victim, file);
    await writeSecretFile(file, "secret weights");
    expect(await readFile(victim, "utf8")).toBe("someone else's file");
    expect((await mode(victim)).toString(8)).toBe("644");
    expect((await lstat(file)).isSymbolicLink()).toBe(false);
    expect(await readFile(file, "utf8")).toBe("secret weights");
    expect((await mode(file)).toString(8)).toBe("600");
  });

  it("leaves no temporary file behind, whether it succeeds or fails", async () => {
    await writeSecretFile(path.join(dir, "a"), "x");
    // A directory where the file should be: the rename fails.
    await rm(path.join(dir, "a"));
    await writeFile(path.join(dir, "keep"), "");
    const blocked = path.join(dir, "blocked");
    await import("node:fs/promises").then((fs) => fs.mkdir(path.join(blocked, "inner"), { recursive: true }));
    await expect(writeSecretFile(blocked, "x")).rejects.toBeDefined();
    expect((await readdir(dir)).sort()).toEqual(["blocked", "keep"]);
  });
});
