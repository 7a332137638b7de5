import { describe, expect, it } from "vitest";
import { policyRegistryAbi } from "../../deployments/abis.ts";
import { verifyDeployment } from "../../scripts/lib/deploy/verifyDeployment.ts";
import { createSystem } from "../helpers/system.ts";

describe("deploySystem", () => {
  it("deploys a system that passes every verification check", async () => {
    const system = await createSystem();
    const checks = await verifyDeployment(system.publicClient, system.deployment);
    const failed = checks.filter((c) => !c.ok);
    expect(failed).toEqual([]);
    expect(checks.length).toBeGreaterThan(20);
  });

  it("lets governance change policy end to end", async () => {
    const system = await createSystem();
    await system.delegateAll();
    const consumer = system.accounts.consumer.account.address;
    await system.pass([
      {
        target: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "setQuota",
        args: [consumer, 25n],
      },
    ]);
    const quota = await system.publicClient.readContract({
      address: system.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "quotaOf",
      args: [consumer],
    });
    expect(quota).toBe(25n);
  });
});
