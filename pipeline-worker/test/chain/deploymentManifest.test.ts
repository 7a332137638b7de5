import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getAddress } from "viem";
import { parseDeploymentManifest } from "../../src/chain/deploymentManifest.ts";
import { readDeploymentManifest } from "../../src/chain/readDeploymentManifest.ts";
import { isWorkerError } from "../../src/internal/WorkerError.ts";
import { readNotifierDeployment } from "../../src/notifier/readNotifierDeployment.ts";
import { readPolicyDeployment } from "../../src/policy/readPolicyDeployment.ts";

// The deployment manifest has one schema (src/chain/deploymentManifest.ts), and every reader in
// the worker package validates the whole of it: a broken or foreign manifest is refused with
// CONFIG_INVALID naming the file and the field, before the service starts.

const address = (n: number) => `0x${n.toString(16).padStart(40, "0")}`;
const manifest = {
  chainId: 31337,
  deploymentBlock: "12",
  deployer: address(0xde),
  contracts: {
    schemaRegistry: address(1),
    eas: address(2),
    token: address(3),
    timelock: address(4),
    governor: address(5),
    policyRegistry: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
    contributorRewards: address(7),
    usageSettlement: address(8),
    modelCommitments: address(9),
    runRewards: address(10),
  },
  dataSchema: {
    uid: `0x${"ab".repeat(32)}`,
    definition: "bytes32 dataHash,uint64 size,string license,string provenance",
  },
  guardian: address(0x6a4),
  settings: {
    votingDelay: 1,
    votingPeriod: 50,
    proposalThreshold: "1000000000000000000",
    quorumNumerator: "4",
    lateQuorumExtension: 10,
    timelockMinDelay: "60",
    epochLength: "86400",
    revealDelay: "600",
  },
};
const { runRewards: _runRewards, ...withoutRunRewards } = manifest.contracts;
/** What each broken manifest gets wrong, as the error names it. */
const broken: [string, unknown, string][] = [
  ["a missing contract", { ...manifest, contracts: withoutRunRewards }, "contracts.runRewards is missing"],
  [
    "a mistyped block",
    { ...manifest, deploymentBlock: 12 },
    "deploymentBlock is invalid: expected string, received number",
  ],
  [
    "a malformed address",
    { ...manifest, contracts: { ...manifest.contracts, governor: "0x1234" } },
    "contracts.governor must be an address (0x and 40 hex digits)",
  ],
  // Hardhat Ignition's deployed_addresses.json: another tool's file, not this system's manifest.
  ["a foreign file", { "SystemModule#Governor": address(5) }, "chainId is missing"],
  ["not an object", [manifest], "it is not a JSON object"],
];

let dir: string;
const files = new Map<string, string>();
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "manifest-"));
  for (const [name, json] of [["valid", manifest], ...broken.map(([name, json]) => [name, json] as const)] as const) {
    const file = path.join(dir, `${name.replaceAll(" ", "-")}.json`);
    await writeFile(file, JSON.stringify(json));
    files.set(name, file);
  }
  const notJson = path.join(dir, "not-json.json");
  await writeFile(notJson, "{ this is not JSON");
  files.set("not JSON", notJson);
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The readers of the worker package, each given a manifest file. */
const readers: [string, (file: string) => unknown][] = [
  ["readDeploymentManifest (worker, CLIs, UI server)", readDeploymentManifest],
  ["readPolicyDeployment (worker, keyholder)", readPolicyDeployment],
  ["readNotifierDeployment (notifier)", readNotifierDeployment],
];

function refusal(read: () => unknown): { code: string; message: string; field: unknown } {
  try {
    read();
  } catch (error) {
    if (!isWorkerError(error)) throw error;
    return { code: error.code, message: error.shortMessage, field: error.extra.field };
  }
  throw new Error("the manifest was accepted");
}

describe("the deployment manifest", () => {
  it("is read whole, as written; the services take checksummed addresses from it", () => {
    const read = readDeploymentManifest(files.get("valid")!);
    expect(read).toEqual(manifest);
    expect(readPolicyDeployment(files.get("valid")!)).toEqual({
      chainId: 31337,
      policyRegistry: getAddress(manifest.contracts.policyRegistry),
      deploymentBlock: 12n,
      guardian: getAddress(manifest.guardian),
      revealDelay: 600n,
    });
    expect(readNotifierDeployment(files.get("valid")!)).toMatchObject({ governor: getAddress(address(5)) });
  });

  describe.each(readers)("%s", (_name, read) => {
    it.each(broken)("refuses %s, naming the file and the field", (name, _json, problem) => {
      const file = files.get(name)!;
      const { code, message } = refusal(() => read(file));
      expect(code).toBe("CONFIG_INVALID");
      expect(message).toBe(`The deployment manifest ${file} is invalid: ${problem}.`);
    });

    it("refuses a file that is not JSON, naming it", () => {
      const file = files.get("not JSON")!;
      expect(refusal(() => read(file))).toMatchObject({
        code: "CONFIG_INVALID",
        message: `Cannot read the deployment manifest ${file}.`,
      });
    });
  });

  it("names the field in the error's extra, and every problem in its hints", () => {
    let error: unknown;
    try {
      parseDeploymentManifest({ ...manifest, deployer: undefined, guardian: 7 });
    } catch (caught) {
      error = caught;
    }
    expect(isWorkerError(error, "CONFIG_INVALID")).toBe(true);
    const workerError = error as Error & { extra: Record<string, unknown>; hints: string[] };
    expect(workerError.extra.field).toBe("deployer");
    expect(workerError.message).toContain("The deployment manifest is invalid: deployer is missing.");
    expect(workerError.hints[0]).toBe("Also: guardian is invalid: expected string, received number.");
    expect(workerError.hints.at(-1)).toContain("npm run deploy");
  });
});
