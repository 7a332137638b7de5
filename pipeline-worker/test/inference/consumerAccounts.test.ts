import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  concat,
  concatHex,
  getAddress,
  hashTypedData,
  keccak256,
  toHex,
  zeroAddress,
  type Address,
  type Hex,
} from "viem";
import { usageSettlementAbi } from "../../../deployments/abis.ts";
import { createSafe, deploySafeContracts } from "../../../scripts/lib/deploy/deploySafe.ts";
import { registryAction } from "../../../test/helpers/governance.ts";
import { usageDomain, usageTypes } from "../../src/chain/typedData.ts";
import {
  createInferenceTestSystem,
  DEPOSIT,
  devAccount,
  type InferenceTestSystem,
} from "./createInferenceTestSystem.ts";

// The worker accepts a consumer's signature exactly when UsageSettlement does: ECDSA first, then
// ERC-1271 on the consumer. The review found an EIP-7702-delegated EOA escaping every fee (the
// worker's ECDSA check accepted, the contract's ERC-1271-only path refused); these tests serve
// and settle both kinds of account on the real contract, with the Solidity tests' fixture
// (Eip7702AccountMock, OpenZeppelin's ERC-7739 signer) for the delegation and a real Safe 1.4.1.

let t: InferenceTestSystem;
const OWNERS = [11, 12, 13].map((i) => devAccount(i));
let safe: Address;

beforeAll(async () => {
  t = await createInferenceTestSystem();
  const contracts = await deploySafeContracts({ publicClient: t.publicClient, walletClient: t.accounts.deployer });
  ({ address: safe } = await createSafe({
    provider: t.connection.provider as never,
    publicClient: t.publicClient,
    walletClient: t.accounts.deployer,
    owners: OWNERS.map((owner) => owner.address),
    threshold: 2,
    saltNonce: 14n,
    contracts,
  }));
  await t.pass([registryAction(t, "setQuota", [safe, 5n])]);
  await t.wait(
    await t.accounts.consumer.writeContract({
      address: t.deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "deposit",
      args: [safe],
      value: DEPOSIT,
    }),
  );
  await t.clock.sync();
});
afterAll(async () => {
  await t.cleanUp();
});

/** The Usage voucher of a query by `consumer` at `worker`, and its EIP-712 digest. */
async function usageOf(consumer: Address, worker: Address, total: bigint, input: string) {
  const message = {
    consumer,
    key: zeroAddress,
    worker,
    epoch: await t.currentEpoch(),
    total,
    maxFeePerQuery: t.fee,
    inputHash: keccak256(toHex(input)),
    deadline: BigInt(Math.floor(t.clock.now() / 1000)) + 600n,
  };
  const domain = usageDomain(t.deployment.chainId, t.deployment.contracts.usageSettlement);
  return { message, digest: hashTypedData({ domain, types: usageTypes, primaryType: "Usage", message }) };
}

const bodyOf = (message: Awaited<ReturnType<typeof usageOf>>["message"], input: string, signature: Hex) => ({
  consumer: message.consumer,
  input,
  epoch: message.epoch.toString(),
  total: message.total.toString(),
  maxFeePerQuery: message.maxFeePerQuery.toString(),
  deadline: Number(message.deadline),
  signature,
});

/**
 * The owners' signatures a Safe's ERC-1271 check accepts for `digest`: each owner signs the
 * SafeMessage hash of the 32 bytes in the Safe's own domain, and the signatures go in the order
 * of the owners' addresses.
 */
async function safeSignature(digest: Hex, signers: typeof OWNERS): Promise<Hex> {
  const messageHash = hashTypedData({
    domain: { chainId: t.deployment.chainId, verifyingContract: safe },
    types: { SafeMessage: [{ name: "message", type: "bytes" }] },
    primaryType: "SafeMessage",
    message: { message: digest },
  });
  const sorted = [...signers].sort((a, b) => (BigInt(a.address) < BigInt(b.address) ? -1 : 1));
  return concatHex(await Promise.all(sorted.map((owner) => owner.sign({ hash: messageHash }))));
}

describe("consumers that are accounts with code", () => {
  it("serves and settles an EIP-7702-delegated EOA's plain signature, as the contract accepts it, though its account code refuses raw digests", async () => {
    const delegate = await t.viem.deployContract("Eip7702AccountMock");
    await t.testClient.setCode({ address: t.consumer.address, bytecode: concat(["0xef0100", delegate.address]) });
    const worker = await t.startWorker();
    const { message, digest } = await usageOf(t.consumer.address, worker.address, 1n, "hello");
    const signature = await t.consumer.sign({ hash: digest });
    const response = await t.query(worker, bodyOf(message, "hello", signature));
    expect(response.status).toBe(200);
    expect(await worker.worker.inference.settle()).toMatchObject({ settled: 1, dropped: 0 });
    expect(
      await t.readSettlement("settledTotal", [t.consumer.address, zeroAddress, worker.address, message.epoch]),
    ).toBe(1n);
    // Its account code is asked only when ECDSA refuses: another key's signature is refused.
    const other = await usageOf(t.consumer.address, worker.address, 2n, "again");
    const forged = await devAccount(9).sign({ hash: other.digest });
    expect((await t.query(worker, bodyOf(other.message, "again", forged))).body.code).toBe("SIGNATURE_INVALID");
    await t.testClient.setCode({ address: t.consumer.address, bytecode: "0x" });
  });

  it("serves and settles a Safe consumer through ERC-1271 at the head block, and refuses signatures below its threshold", async () => {
    const worker = await t.startWorker();
    const { message, digest } = await usageOf(safe, worker.address, 1n, "from the treasury");
    const refused = await t.query(
      worker,
      bodyOf(message, "from the treasury", await safeSignature(digest, OWNERS.slice(0, 1))),
    );
    expect(refused).toMatchObject({ status: 401, body: { code: "SIGNATURE_INVALID" } });
    const response = await t.query(
      worker,
      bodyOf(message, "from the treasury", await safeSignature(digest, OWNERS.slice(1))),
    );
    expect(response.status).toBe(200);
    expect(response.body.usage).toMatchObject({ used: "1", quota: "5" });
    expect(await worker.worker.inference.settle()).toMatchObject({ settled: 1, dropped: 0 });
    expect(await t.readSettlement("settledTotal", [safe, zeroAddress, worker.address, message.epoch])).toBe(1n);
    const [balance] = await t.readSettlement<readonly [bigint]>("accountOf", [getAddress(safe)]);
    expect(balance).toBe(DEPOSIT - t.fee);
  });
});
