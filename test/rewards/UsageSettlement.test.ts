import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  getAddress,
  hashTypedData,
  keccak256,
  maxUint64,
  parseEther,
  parseEventLogs,
  recoverTypedDataAddress,
  toHex,
  type Address,
  type Hex,
} from "viem";
import { contributorRewardsAbi, policyRegistryAbi, usageSettlementAbi } from "../../deployments/abis.ts";
import { queryDomain, queryTypes } from "../../pipeline-worker/src/chain/typedData.ts";
import { createGovernance, registryAction } from "../helpers/governance.ts";
import { createQueries, type SignedQuery } from "../helpers/queries.ts";
import { queryTypedData, type QueryMessage } from "../helpers/queryTypedData.ts";
import { expectRevert } from "../helpers/revert.ts";
import { createSnapshots } from "../helpers/snapshots.ts";
import { createSystem, type System, type Wallet } from "../helpers/system.ts";

const FEE = parseEther("0.01");
const QUOTA = 3n;
const DEPOSIT = parseEther("1");

let system: System;
let queries: ReturnType<typeof createQueries>;
let snapshots: ReturnType<typeof createSnapshots>;

beforeAll(async () => {
  system = await createSystem();
  queries = createQueries(system);
  await system.delegateAll();
  const { worker, consumer, outsider } = system.accounts;
  await createGovernance(system).pass([
    registryAction(system, "setWorker", [worker.account.address, true]),
    registryAction(system, "setQuota", [consumer.account.address, QUOTA]),
    registryAction(system, "setQuota", [outsider.account.address, QUOTA]),
    registryAction(system, "setQueryFee", [FEE]),
  ]);
  await system.wait(await queries.deposit(consumer, DEPOSIT));
  snapshots = createSnapshots(system.testClient);
  await snapshots.save();
});
beforeEach(() => snapshots.restore());

const address = (w: Wallet): Address => getAddress(w.account.address);

function readSettlement<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
  return system.publicClient.readContract({
    address: system.deployment.contracts.usageSettlement,
    abi: usageSettlementAbi,
    functionName,
    args,
  } as never) as Promise<T>;
}

const queryDigest = (m: QueryMessage) =>
  readSettlement<Hex>("queryDigest", [m.consumer, m.inputHash, m.nonce, m.epoch, m.deadline]);

/** Nothing about the consumer's usage changed: no usage, nonces unspent, deposit intact. */
async function expectNothingSettled(consumer: Address, signed: SignedQuery[], balance = DEPOSIT) {
  const epoch = await queries.currentEpoch();
  expect(await readSettlement("settledUsage", [consumer, epoch])).toBe(0n);
  for (const q of signed) expect(await readSettlement("isNonceUsed", [q.consumer, q.nonce])).toBe(false);
  expect((await readSettlement<readonly bigint[]>("accountOf", [consumer]))[0]).toBe(balance);
}

describe("Query typed data (EIP-712 parity with UsageSettlement)", () => {
  const messages = (consumer: Address): QueryMessage[] => [
    { consumer, inputHash: keccak256(toHex("hello")), nonce: 0n, epoch: 0n, deadline: 1n },
    { consumer, inputHash: keccak256(toHex("world")), nonce: 257n, epoch: 12n, deadline: 1_900_000_000n },
    { consumer, inputHash: `0x${"ff".repeat(32)}`, nonce: maxUint64, epoch: maxUint64, deadline: maxUint64 },
  ];

  it("has the domain the contract reports (EIP-5267)", async () => {
    const [, name, version, chainId, verifyingContract] = await readSettlement<readonly unknown[]>("eip712Domain");
    const { domain } = queryTypedData({
      chainId: system.deployment.chainId,
      usageSettlement: system.deployment.contracts.usageSettlement,
      message: messages(address(system.accounts.consumer))[0]!,
    });
    expect({ name, version, chainId, verifyingContract }).toEqual({
      name: domain.name,
      version: domain.version,
      chainId: BigInt(domain.chainId!),
      verifyingContract: getAddress(domain.verifyingContract!),
    });
  });

  it("hashes every query to the digest queryDigest returns, with the worker's definition", async () => {
    const { chainId, contracts } = system.deployment;
    for (const message of messages(address(system.accounts.consumer))) {
      const onChain = await queryDigest(message);
      expect(
        hashTypedData({
          domain: queryDomain(chainId, contracts.usageSettlement),
          types: queryTypes,
          primaryType: "Query",
          message,
        }),
      ).toBe(onChain);
    }
  });

  it("settles a query signed in TypeScript with viem's signTypedData", async () => {
    const { consumer, worker } = system.accounts;
    const query = await queries.sign(consumer, { nonce: 1n });
    const { signature, ...message } = query;
    const typedData = queryTypedData({
      chainId: system.deployment.chainId,
      usageSettlement: system.deployment.contracts.usageSettlement,
      message,
    });
    expect(hashTypedData(typedData)).toBe(await queryDigest(message));
    expect(await recoverTypedDataAddress({ ...typedData, signature })).toBe(address(consumer));

    const receipt = await system.wait(await queries.settle([query], worker));
    const epoch = query.epoch;
    const [settled] = parseEventLogs({ abi: usageSettlementAbi, eventName: "UsageSettled", logs: receipt.logs });
    expect(settled?.args).toEqual({ consumer: address(consumer), epoch, queries: 1n, totalSettled: 1n, fees: FEE });
    expect(await readSettlement("settledUsage", [address(consumer), epoch])).toBe(1n);
    expect(await readSettlement("isNonceUsed", [address(consumer), 1n])).toBe(true);
    expect(await readSettlement("accountOf", [address(consumer)])).toEqual([DEPOSIT - FEE, 0n, 0n]);
    // The fee went to the epoch's contributor reward pool.
    const [funded] = parseEventLogs({ abi: contributorRewardsAbi, eventName: "PoolFunded", logs: receipt.logs });
    expect(funded?.args).toEqual({
      epoch,
      from: getAddress(system.deployment.contracts.usageSettlement),
      amount: FEE,
    });
  });
});

describe("UsageSettlement refusals", () => {
  it("refuses a replayed query: each nonce settles once", async () => {
    const { consumer } = system.accounts;
    const query = await queries.sign(consumer, { nonce: 7n });
    await system.wait(await queries.settle([query]));
    await expectRevert(queries.settle([query]), "UsageNonceAlreadyUsed", [address(consumer), 7n]);
    // The same nonce with a fresh signature over other input is still the same nonce.
    const other = await queries.sign(consumer, { nonce: 7n });
    await expectRevert(queries.settle([other]), "UsageNonceAlreadyUsed", [address(consumer), 7n]);
    expect(await readSettlement("settledUsage", [address(consumer), query.epoch])).toBe(1n);
  });

  it("refuses a signature that is not the consumer's over this exact query", async () => {
    const { consumer, outsider } = system.accounts;
    const genuine = await queries.sign(consumer, { nonce: 1n });
    const byOther = await queries.sign(outsider, { nonce: 2n, consumer: address(consumer) });
    const tampered = { ...genuine, inputHash: keccak256(toHex("another input")) };
    for (const query of [byOther, tampered]) {
      await expectRevert(queries.settle([query]), "UsageInvalidSignature", [address(consumer), query.nonce]);
    }
    await expectNothingSettled(address(consumer), [genuine, byOther]);
  });

  it("refuses a signature made for another chain or another deployment", async () => {
    const { consumer } = system.accounts;
    const { chainId, contracts } = system.deployment;
    const message: QueryMessage = {
      consumer: address(consumer),
      inputHash: keccak256(toHex("q")),
      nonce: 3n,
      epoch: await queries.currentEpoch(),
      deadline: 2_000_000_000n,
    };
    const elsewhere = [
      queryTypedData({ chainId: chainId + 1, usageSettlement: contracts.usageSettlement, message }),
      queryTypedData({ chainId, usageSettlement: contracts.contributorRewards, message }),
    ];
    for (const typedData of elsewhere) {
      const signature = await consumer.signTypedData({ account: consumer.account, ...typedData });
      await expectRevert(queries.settle([{ ...message, signature }]), "UsageInvalidSignature", [address(consumer), 3n]);
    }
    await expectNothingSettled(address(consumer), []);
  });

  it("refuses a batch that would exceed the quota, settling none of it", async () => {
    const { consumer } = system.accounts;
    const batch = await Promise.all([1n, 2n, 3n, 4n].map((nonce) => queries.sign(consumer, { nonce })));
    const epoch = batch[0]!.epoch;
    await expectRevert(queries.settle(batch), "UsageExceedsQuota", [address(consumer), epoch, QUOTA + 1n, QUOTA]);
    await expectNothingSettled(address(consumer), batch);
    await system.wait(await queries.settle(batch.slice(0, 3)));
    expect(await readSettlement("settledUsage", [address(consumer), epoch])).toBe(QUOTA);
  });

  it("refuses a query for an epoch that has not started", async () => {
    const { consumer } = system.accounts;
    const epoch = await queries.currentEpoch();
    const query = await queries.sign(consumer, { nonce: 1n, epoch: epoch + 1n });
    await expectRevert(queries.settle([query]), "UsageFutureEpoch", [epoch + 1n, epoch]);
    await expectNothingSettled(address(consumer), [query]);
  });

  it("refuses a query the consumer's deposit cannot pay for", async () => {
    const { outsider } = system.accounts;
    const query = await queries.sign(outsider, { nonce: 1n });
    await expectRevert(queries.settle([query]), "UsageInsufficientDeposit", [address(outsider), 0n, FEE]);
    await expectNothingSettled(address(outsider), [query], 0n);
  });

  it("refuses settlement by anyone but an authorised worker", async () => {
    const { consumer, outsider } = system.accounts;
    const query = await queries.sign(consumer, { nonce: 1n });
    for (const caller of [outsider, consumer]) {
      await expectRevert(queries.settle([query], caller), "UsageNotWorker", [address(caller)]);
    }
    await expectNothingSettled(address(consumer), [query]);
  });

  it("settles no fee while the kill switch is engaged", async () => {
    const { consumer, guardian } = system.accounts;
    const query = await queries.sign(consumer, { nonce: 1n });
    await system.wait(
      await guardian.writeContract({
        address: system.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["inference leaks training data"],
      }),
    );
    await expectRevert(queries.settle([query]), "UsageKillSwitchEngaged", []);
    await expectNothingSettled(address(consumer), [query]);
    expect(
      await system.publicClient.readContract({
        address: system.deployment.contracts.contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "totals",
      }),
    ).toEqual([0n, 0n]);
  });
});

describe("UsageSettlement deposits", () => {
  it("keeps a withdrawal locked until the end of the next epoch", async () => {
    const { consumer } = system.accounts;
    const epoch = await queries.currentEpoch();
    const end = await system.publicClient.readContract({
      address: system.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "epochEnd",
      args: [epoch],
    });
    const unlocksAt = end + 3_600n;
    const withdraw = () =>
      consumer.writeContract({
        address: system.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "withdraw",
      });
    await expectRevert(withdraw(), "UsageWithdrawalLocked", [0n]);
    await system.wait(
      await consumer.writeContract({
        address: system.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "requestWithdrawal",
        args: [parseEther("0.4")],
      }),
    );
    expect(await readSettlement("accountOf", [address(consumer)])).toEqual([DEPOSIT, parseEther("0.4"), unlocksAt]);
    await expectRevert(withdraw(), "UsageWithdrawalLocked", [unlocksAt]);

    // A query served before the request can still be settled meanwhile.
    await system.wait(await queries.settle([await queries.sign(consumer, { nonce: 1n })]));
    await system.testClient.setNextBlockTimestamp({ timestamp: unlocksAt });
    const before = await system.publicClient.getBalance({ address: address(consumer) });
    const receipt = await system.wait(await withdraw());
    const gas = receipt.gasUsed * receipt.effectiveGasPrice;
    expect(await system.publicClient.getBalance({ address: address(consumer) })).toBe(before + parseEther("0.4") - gas);
    expect(await readSettlement("accountOf", [address(consumer)])).toEqual([DEPOSIT - FEE - parseEther("0.4"), 0n, 0n]);
  });
});
