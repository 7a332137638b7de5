import { encodePolicyCall, type PolicyCall } from "@dao-ai/pipeline-worker/policy-actions";
import { generateKeyholderKeyPair } from "@dao-ai/pipeline-worker/keyholderKeys";
import { createWalletClient, custom, getAddress, getContract, keccak256, parseEther, toHex } from "viem";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { policyRegistryAbi } from "../../deployments/abis.ts";
import { createSystem } from "../../test/helpers/system.ts";
import { createLogCache } from "../src/lib/createLogCache.ts";
import { readPolicy, tierList } from "../src/lib/readPolicy.ts";

/**
 * The UI's policy is the worker's reducer over the registry's events: on a real chain, after a
 * change of every kind, it must read what the registry's own views say.
 */
describe("readPolicy", () => {
  let system: Awaited<ReturnType<typeof createSystem>>;

  beforeAll(async () => {
    system = await createSystem();
    const { timelock, policyRegistry } = system.deployment.contracts;
    await system.testClient.impersonateAccount({ address: timelock });
    await system.testClient.setBalance({ address: timelock, value: parseEther("10") });
    const asTimelock = createWalletClient({ account: timelock, transport: custom(system.connection.provider) });
    const { contributor, attester, attester2, worker, consumer, outsider, keyholders } = system.accounts;
    const now = (await system.publicClient.getBlock()).timestamp;
    const runs = [keccak256(toHex("run 1")), keccak256(toHex("run 2"))];
    const changes: PolicyCall[] = [
      { functionName: "setSubmitters", args: [[contributor.account.address, outsider.account.address], true] },
      { functionName: "setSubmitter", args: [outsider.account.address, false] },
      {
        functionName: "setAttestationRequirement",
        args: [keccak256(toHex("schema")), [attester.account.address, attester2.account.address], 2, 86_400n],
      },
      { functionName: "setQuota", args: [consumer.account.address, 7n] },
      { functionName: "setTier", args: [0, 20n, parseEther("0.001"), true, 0] },
      { functionName: "setTier", args: [1, 50n, parseEther("0.002"), false, 10] },
      { functionName: "setQueryFee", args: [parseEther("0.0001")] },
      {
        functionName: "setCommittee",
        args: [
          keyholders.map((k) => k.account.address),
          keyholders.map(() => toHex(generateKeyholderKeyPair().publicKey)),
          2,
        ],
      },
      { functionName: "setWorker", args: [worker.account.address, true] },
      { functionName: "approveTrainingRun", args: [runs[0]!, runs[0]!, worker.account.address, now + 86_400n] },
      { functionName: "approveTrainingRun", args: [runs[1]!, runs[1]!, worker.account.address, now + 86_400n] },
      { functionName: "revokeTrainingRun", args: [runs[1]!] },
      { functionName: "setRevealDelay", args: [3_600n] },
    ];
    for (const call of changes) {
      await system.wait(
        await asTimelock.sendTransaction({ to: policyRegistry, data: encodePolicyCall(call), chain: null }),
      );
    }
    await system.wait(
      await outsider.writeContract({
        address: policyRegistry,
        abi: policyRegistryAbi,
        functionName: "joinTier",
        args: [0, 2n],
        value: parseEther("0.002"),
      }),
    );
    await system.wait(
      await system.accounts.guardian.writeContract({
        address: policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["suspected poisoned data"],
      }),
    );
  });

  afterAll(async () => {
    await system?.connection.close();
  });

  test("reads what the registry's views say, and the history of every change", async () => {
    const { publicClient, deployment } = system;
    const contracts = deployment.contracts;
    const logCache = createLogCache({ publicClient, fromBlock: BigInt(deployment.deploymentBlock) });
    const head = { number: await publicClient.getBlockNumber() };
    const policy = await readPolicy({ publicClient, contracts, logCache }, head);
    const registry = getContract({ address: contracts.policyRegistry, abi: policyRegistryAbi, client: publicClient });

    expect(policy.policyVersion).toBe(await registry.read.policyVersion());
    expect(policy.attestation).toEqual(await registry.read.attestationRequirement());
    expect(policy.feePerQuery).toBe(await registry.read.feePerQuery());
    expect(policy.revealDelay).toBe(await registry.read.revealDelay());
    expect(policy.guardian).toBe(await registry.read.guardian());
    expect(policy.killSwitch).toEqual(await registry.read.killSwitch());
    const [id, members, publicKeys, threshold] = await registry.read.committee();
    expect(policy.committee).toEqual({ id, members, publicKeys, threshold });
    expect([...policy.submitters]).toEqual([getAddress(system.accounts.contributor.account.address)]);
    expect(policy.quotas.get(getAddress(system.accounts.consumer.account.address))).toBe(7n);
    for (const tier of tierList(policy)) {
      const { queriesPerEpoch, pricePerEpoch, open, maxMembers } = tier;
      expect({ queriesPerEpoch, pricePerEpoch, open, maxMembers }).toEqual(await registry.read.tier([tier.tierId]));
      expect(tier.members).toBe(await registry.read.tierMembers([tier.tierId, policy.currentEpoch]));
    }
    expect(tierList(policy).map((t) => t.members)).toEqual([1, 0]);
    for (const [runId, run] of policy.trainingRuns) expect(run).toEqual(await registry.read.trainingRun([runId]));
    expect([...policy.trainingRuns.values()].map((r) => r.revoked)).toEqual([false, true]);
    expect(policy.history).toHaveLength(Number(policy.policyVersion));
    expect(policy.history[0]).toMatchObject({ eventName: "KillSwitchEngaged", proposalId: undefined });
  });
});
