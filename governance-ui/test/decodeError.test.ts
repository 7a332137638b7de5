import { encodeErrorResult, getAddress, parseEther } from "viem";
import { describe, expect, test } from "vitest";
import { policyGovernorAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { decodeError, decodeRevert } from "../src/lib/decodeError.ts";
import { WorkerProblemError } from "../src/lib/workerApi.ts";

describe("decodeError", () => {
  test("a registry revert shows its name and what it means", () => {
    const caller = getAddress("0x1000000000000000000000000000000000000001");
    const timelock = getAddress("0x2000000000000000000000000000000000000002");
    const data = encodeErrorResult({
      abi: policyRegistryAbi,
      errorName: "PolicyUnauthorized",
      args: [caller, timelock],
    });
    expect(decodeRevert(data)).toEqual({
      name: "PolicyUnauthorized",
      meaning: "Only the timelock (a passed proposal) may make this change.",
      args: [
        { name: "caller", value: caller },
        { name: "timelock", value: timelock },
      ],
      details: undefined,
    });
  });

  test("the Governor's threshold error speaks in tokens, not wei", () => {
    const data = encodeErrorResult({
      abi: policyGovernorAbi,
      errorName: "GovernorInsufficientProposerVotes",
      args: [getAddress("0x1000000000000000000000000000000000000001"), 0n, parseEther("1")],
    });
    expect(decodeRevert(data)?.meaning).toMatch(/^You need 1 votes to propose; you had 0 at the previous block\./);
  });

  test("an unknown selector is named as such, never shown as a hex blob alone", () => {
    expect(decodeRevert("0xdeadbeef")).toMatchObject({ name: "UnknownError" });
  });

  test("a worker's problem keeps its stable code and says what to do", () => {
    const decoded = decodeError(
      new WorkerProblemError({
        type: "http://worker/docs/errors.md#quota_exhausted",
        title: "The quota is spent",
        status: 429,
        code: "QUOTA_EXHAUSTED",
        detail: "0xabc has used its 3 queries of epoch 0.",
        retryable: true,
        hints: ["Wait for the next epoch."],
      }),
    );
    expect(decoded).toMatchObject({
      name: "QUOTA_EXHAUSTED",
      meaning: "0xabc has used its 3 queries of epoch 0. Wait for the next epoch.",
    });
  });
});
