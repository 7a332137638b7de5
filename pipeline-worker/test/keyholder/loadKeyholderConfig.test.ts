import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadKeyholderConfig } from "../../src/keyholder/loadKeyholderConfig.ts";

let dir: string;
const key = `0x${"42".repeat(32)}`;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "keyholder-config-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function load(keyFile: string) {
  return loadKeyholderConfig(
    { KEYHOLDER_PRIVATE_KEY_FILE: keyFile, KEYHOLDER_RPC_URL: "http://127.0.0.1:8545", KEYHOLDER_CHAIN_ID: "31337" },
    dir,
  );
}

describe("loadKeyholderConfig: the key file", () => {
  it("reads a key file readable by its owner only", async () => {
    const file = path.join(dir, "owner-only.key");
    await writeFile(file, `${key}\n`, { mode: 0o600 });
    expect(Buffer.from(load(file).privateKey).toString("hex")).toBe("42".repeat(32));
    await chmod(file, 0o400);
    expect(load(file).privateKey).toHaveLength(32);
  });

  it("refuses a key file readable by group or others (0644, 0640), as ssh does, saying chmod 600 FILE", async () => {
    for (const mode of [0o644, 0o640, 0o604]) {
      const file = path.join(dir, `open-${mode.toString(8)}.key`);
      await writeFile(file, `${key}\n`);
      await chmod(file, mode);
      let error: { code?: string; message?: string } = {};
      try {
        load(file);
      } catch (thrown) {
        error = thrown as typeof error;
      }
      expect(error.code).toBe("CONFIG_INVALID");
      expect(error.message).toContain(`chmod 600 ${file}`);
      expect(error.message).toContain(`0${mode.toString(8)}`);
      // The key itself is never in the message.
      expect(error.message).not.toContain("42".repeat(32));
    }
  });
});
