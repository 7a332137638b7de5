import { expect } from "vitest";
import {
  BaseError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  toFunctionSelector,
  type Abi,
  type Hex,
} from "viem";
import {
  contributorRewardsAbi,
  easAbi,
  governanceTokenAbi,
  modelCommitmentsAbi,
  policyGovernorAbi,
  policyRegistryAbi,
  schemaRegistryAbi,
  timelockControllerAbi,
  usageSettlementAbi,
} from "../../deployments/abis.ts";

/** A revert decoded to its custom error. */
export type DecodedRevert = { errorName: string; args: readonly unknown[] };

/**
 * Every custom error of every contract the system deploys, once each. A revert often comes from a
 * contract deeper in the call than the one called (the timelock under the Governor, EAS under the
 * rewards), so decoding against the called contract's ABI alone would leave it a hex blob.
 */
const ALL_ERRORS: Abi = (() => {
  const bySelector = new Map<string, Abi[number]>();
  for (const abi of [
    policyRegistryAbi,
    policyGovernorAbi,
    timelockControllerAbi,
    governanceTokenAbi,
    contributorRewardsAbi,
    usageSettlementAbi,
    modelCommitmentsAbi,
    easAbi,
    schemaRegistryAbi,
  ] as readonly Abi[]) {
    for (const item of abi) {
      if (item.type !== "error") continue;
      const signature = `${item.name}(${item.inputs.map((i) => i.type).join(",")})`;
      bySelector.set(toFunctionSelector(signature), item);
    }
  }
  return [...bySelector.values()];
})();

/** Decodes raw revert data against every error the system knows. */
export function decodeRevertData(data: Hex): DecodedRevert {
  const { errorName, args } = decodeErrorResult({ abi: ALL_ERRORS, data });
  return { errorName, args: args ?? [] };
}

/** The revert data somewhere in an error's cause chain (viem puts it in different places per path). */
function rawRevertData(error: unknown): Hex | undefined {
  if (error instanceof BaseError) {
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError && reverted.raw) return reverted.raw;
  }
  let e = error as { data?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 10; depth++) {
    if (typeof e.data === "string" && e.data.startsWith("0x") && e.data.length >= 10) return e.data as Hex;
    const nested = (e.data as { data?: unknown } | undefined)?.data;
    if (typeof nested === "string" && nested.startsWith("0x")) return nested as Hex;
    e = e.cause as typeof e;
  }
  return undefined;
}

/** Awaits a transaction or call that must revert, and returns the custom error it reverted with. */
export async function revertOf(action: Promise<unknown>): Promise<DecodedRevert> {
  let outcome: unknown;
  try {
    outcome = await action;
  } catch (error) {
    if (error instanceof BaseError) {
      const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
      if (reverted instanceof ContractFunctionRevertedError && reverted.data?.errorName) {
        return { errorName: reverted.data.errorName, args: reverted.data.args ?? [] };
      }
    }
    const raw = rawRevertData(error);
    if (raw) return decodeRevertData(raw);
    throw error;
  }
  throw new Error(`Expected a revert, but the call succeeded with ${String(outcome)}.`);
}

/** Lower-cases hex strings, so checksummed and plain addresses compare equal. */
function normalise(value: unknown): unknown {
  if (typeof value === "string" && value.startsWith("0x")) return value.toLowerCase();
  if (Array.isArray(value)) return value.map(normalise);
  return value;
}

/**
 * Asserts that `action` reverts with the custom error `errorName` and, when given, exactly `args`
 * (addresses and hashes compared case-insensitively). Returns the decoded error.
 */
export async function expectRevert(
  action: Promise<unknown>,
  errorName: string,
  args?: readonly unknown[],
): Promise<DecodedRevert> {
  const decoded = await revertOf(action);
  expect(decoded.errorName).toBe(errorName);
  if (args) expect(normalise(decoded.args)).toEqual(normalise(args));
  return decoded;
}
