import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  createWalletClient,
  custom,
  decodeEventLog,
  getAddress,
  parseEther,
  toHex,
  type Address,
  type TransactionReceipt,
} from "viem";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import { createSystem } from "../../../test/helpers/system.ts";
import { generateKeyholderKeyPair } from "../../src/crypto/keyholderKeys.ts";
import { decodePolicyLog } from "../../src/policy/decodePolicyLog.ts";
import { createGenesisPolicy } from "../../src/policy/Policy.ts";
import {
  decodePolicyCall,
  describePolicyCall,
  describePolicyEvent,
  encodePolicyCall,
  policyActions,
  policyForms,
  type PolicyFormContext,
  type PolicySetter,
} from "../../src/policy/policyActions.ts";
import { toDatetimeLocal } from "../../src/policy/policyForm.ts";
import { reducePolicy } from "../../src/policy/reducePolicy.ts";

const setters = policyRegistryAbi
  .filter((item) => item.type === "function" && item.stateMutability !== "view")
  .map((item) => item.name);
const events = policyRegistryAbi.filter((item) => item.type === "event").map((item) => item.name);

describe("the policy actions table", () => {
  test("has one row for each setter of the registry's ABI, and no row for anything else", () => {
    const missing = setters.filter((name) => !(name in policyActions));
    expect(missing, "setters of PolicyRegistry without a row in policyActions").toEqual([]);
    expect(Object.keys(policyActions).sort()).toEqual([...new Set(setters)].sort());
  });

  test("each row's event is in the ABI, and every event of the ABI is some row's, so the history reads them all", () => {
    for (const [setter, row] of Object.entries(policyActions)) expect(events, setter).toContain(row.event);
    const emitted = new Set(Object.values(policyActions).map((row) => row.event));
    expect(events.filter((name) => !emitted.has(name))).toEqual([]);
  });

  test("form ids are unique: links to the builder name them", () => {
    const ids = policyForms.map((form) => form.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

/**
 * Every form, filled in as a proposer would, run on a real chain as the timelock (which is what an
 * executed proposal does): the call succeeds, emits its row's event, and both read in words.
 */
describe("each form on a real chain", () => {
  let system: Awaited<ReturnType<typeof createSystem>>;
  const receipts: { functionName: PolicySetter; receipt: TransactionReceipt }[] = [];

  beforeAll(async () => {
    system = await createSystem();
    const { timelock, policyRegistry } = system.deployment.contracts;
    await system.testClient.impersonateAccount({ address: timelock });
    await system.testClient.setBalance({ address: timelock, value: parseEther("10") });
    const asTimelock = createWalletClient({ account: timelock, transport: custom(system.connection.provider) });
    const alice = system.accounts.contributor.account.address;
    const bob = system.accounts.attester.account.address;
    const worker = system.accounts.worker.account.address;
    const keyholders = system.accounts.keyholders.map((k) => k.account.address);
    const keys = keyholders.map(() => toHex(generateKeyholderKeyPair().publicKey));
    const now = Number((await system.publicClient.getBlock()).timestamp);
    const context: PolicyFormContext = { policy: undefined, dataSchemaUID: `0x${"ab".repeat(32)}`, now };

    // What a proposer types into each form, in an order the registry accepts (a worker before its run).
    const values: Record<string, Record<string, string>> = {
      allowSubmitters: { addresses: alice },
      removeSubmitters: { addresses: `${alice}, ${bob}` },
      attestationRequirement: { attesters: `${alice}\n${bob}`, minAttestations: "2", maxAge: "30 d" },
      quota: { consumer: alice, queriesPerEpoch: "100" },
      tier: { tierId: "0" },
      queryFee: { fee: "0.001" },
      committee: { members: keyholders.map((k, i) => `${k} ${keys[i]}`).join("\n"), threshold: "2" },
      worker: { worker, authorised: "true" },
      approveTrainingRun: {
        runId: "run 1",
        spec: "spec 1",
        operator: worker,
        expiresAt: toDatetimeLocal(now + 86_400),
      },
      revokeTrainingRun: { runId: "run 1" },
      revealDelay: { delay: "7 d" },
      engageKillSwitch: { reason: "suspected poisoned data" },
      liftKillSwitch: { engagementId: "1" },
      guardian: { guardian: bob },
    };
    expect(Object.keys(values).sort(), "every form needs sample values here").toEqual(
      policyForms.map((f) => f.id).sort(),
    );
    for (const [id, typed] of Object.entries(values)) {
      const form = policyForms.find((f) => f.id === id)!;
      const built = form.build({ ...form.defaults(context), ...typed }, context);
      if (!built.ok) throw new Error(`form ${id}: ${JSON.stringify(built.errors)}`);
      const data = encodePolicyCall(built.value);
      expect(decodePolicyCall(data)).toEqual(built.value);
      const hash = await asTimelock.sendTransaction({ to: policyRegistry, data, chain: null });
      receipts.push({ functionName: built.value.functionName, receipt: await system.wait(hash) });
    }
    // A consumer joins a tier by paying; no proposal makes this call.
    const join = await system.accounts.consumer.writeContract({
      address: policyRegistry,
      abi: policyRegistryAbi,
      functionName: "joinTier",
      args: [0, 1n],
      value: parseEther("0.001"),
    });
    receipts.push({ functionName: "joinTier", receipt: await system.wait(join) });
  });

  afterAll(async () => {
    await system?.connection.close();
  });

  test("every setter was called, and emitted its row's event", () => {
    expect(new Set(receipts.map((r) => r.functionName))).toEqual(new Set(setters));
    for (const { functionName, receipt } of receipts) {
      const names = receipt.logs.map(
        (log) => decodeEventLog({ abi: policyRegistryAbi, data: log.data, topics: log.topics }).eventName,
      );
      expect(names, functionName).toContain(policyActions[functionName].event);
    }
  });

  test("each event reads as a sentence in the history, and the reducer applies them all", async () => {
    const logs = receipts.flatMap(({ receipt }) => receipt.logs);
    const block = async (n: bigint) => (await system.publicClient.getBlock({ blockNumber: n })).timestamp;
    const decoded = await Promise.all(
      logs.map(async (log) => decodePolicyLog({ ...log, blockTimestamp: await block(log.blockNumber) })),
    );
    const sentences = decoded.map(describePolicyEvent);
    for (const [i, sentence] of sentences.entries())
      expect(sentence, decoded[i]!.eventName).not.toBe(decoded[i]!.eventName);
    expect(sentences).toContain("Set the model reveal delay to 7 d");
    expect(sentences).toContain(
      `Allowed ${getAddress(system.accounts.contributor.account.address).slice(0, 6)}…${getAddress(system.accounts.contributor.account.address).slice(-4)} to submit training data`,
    );
    const policy = reducePolicy(
      createGenesisPolicy({ guardian: system.accounts.guardian.account.address, revealDelay: 600n }),
      decoded,
    );
    expect(policy.policyVersion).toBe(BigInt(decoded.length));
    expect(policy.guardian).toBe(getAddress(system.accounts.attester.account.address));
  });

  test("a call's words say what changes against the policy it would change", () => {
    const consumer: Address = getAddress(system.accounts.consumer.account.address);
    const policy = createGenesisPolicy({ guardian: consumer, revealDelay: 600n });
    expect(describePolicyCall({ functionName: "setQuota", args: [consumer, 5n] }, policy)).toMatchObject({
      summary: `Let ${consumer.slice(0, 6)}…${consumer.slice(-4)} make 5 queries per epoch`,
      changes: [{ before: "none", after: "5 queries per epoch" }],
    });
    expect(describePolicyCall({ functionName: "joinTier", args: [0, 2n] }).summary).toBe(
      "Join access tier 0 for 2 epochs, paying its price",
    );
  });
});
