import { encodeErrorResult, getAddress, zeroAddress, type AbiParameter } from "viem";
import { describe, expect, test } from "vitest";
import { policyRegistryAbi } from "../../deployments/abis.ts";
import { readErrorNatspec } from "../../scripts/lib/deploy/readErrorNatspec.ts";
import { systemErrorsAbi } from "../src/lib/abis.ts";
import { decodeRevert } from "../src/lib/decodeError.ts";
import { isProjectError, meaningOf } from "../src/lib/errorMeanings.ts";
import { errorNatspec } from "../src/lib/errorNatspec.ts";

/** A value of each ABI type, to call a meaning with. */
function sample(parameter: AbiParameter): unknown {
  if (parameter.type.endsWith("]")) return [];
  if (parameter.type === "address") return zeroAddress;
  if (parameter.type === "bool") return false;
  if (parameter.type === "string") return "";
  if (parameter.type.startsWith("bytes")) return "0x";
  return 0n;
}

describe("the meaning of each contract error", () => {
  const built = readErrorNatspec();

  test("every error the project's contracts declare has NatSpec: a new error without it fails here", () => {
    const own = built.filter((e) => e.source.startsWith("contracts/"));
    expect(own.length).toBeGreaterThan(50);
    expect(own.filter((e) => e.text === "").map((e) => `${e.name} (${e.source})`)).toEqual([]);
  });

  test("the generated errorNatspec.ts is the build's (run `npm run generate:error-meanings` after changing an error)", () => {
    expect(errorNatspec).toEqual(Object.fromEntries(built.map(({ name, source, text }) => [name, { source, text }])));
  });

  test("every custom error of every ABI the UI decodes has a meaning", () => {
    const missing = systemErrorsAbi.flatMap((item) =>
      item.type === "error" && meaningOf(item.name, item.inputs.map(sample), item.inputs) === undefined
        ? [item.name]
        : [],
    );
    expect(missing).toEqual([]);
  });

  test("a project error reads as its NatSpec, with the arguments it names filled in", () => {
    const tierFull = encodeErrorResult({ abi: policyRegistryAbi, errorName: "PolicyTierFull", args: [2, 7n, 10] });
    expect(decodeRevert(tierFull)?.meaning).toBe("The tier already has its 10 members in 7.");
    const transfer = encodeErrorResult({
      abi: policyRegistryAbi,
      errorName: "PolicyTransferFailed",
      args: [getAddress("0x2000000000000000000000000000000000000002"), 5n],
    });
    expect(decodeRevert(transfer)?.meaning).toBe(
      "Forwarding a tier payment of 5 wei to the treasury 0x2000000000000000000000000000000000000002 failed.",
    );
    expect(isProjectError("PolicyTierFull")).toBe(true);
    expect(isProjectError("GovernorInsufficientProposerVotes")).toBe(false);
  });
});
