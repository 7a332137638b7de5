// UsageSettlement from outside, as clients use it: vouchers and key grants signed with viem's
// signTypedData in the worker's published EIP-712 definitions, settled by the worker's wallet; a
// real Safe as consumer (ERC-1271), and an EOA that delegates to smart-account code with a real
// EIP-7702 (type-4) transaction.
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createWalletClient,
  custom,
  encodeAbiParameters,
  getAddress,
  hashTypedData,
  keccak256,
  parseAbi,
  parseEther,
  parseEventLogs,
  toHex,
  zeroAddress,
  type Address,
  type Hex,
  type LocalAccount,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  keyGrantTypes,
  usageDomain,
  usageTypes,
  type KeyGrantMessage,
  type UsageMessage,
} from "@dao-ai/pipeline-worker/eip712";
import { contributorRewardsAbi, usageSettlementAbi } from "../../deployments/abis.ts";
import { createSafe, deploySafeContracts } from "../../scripts/lib/deploy/deploySafe.ts";
import { devAccount } from "../../scripts/lib/stack/devAccounts.ts";
import { registryAction } from "../helpers/governance.ts";
import { expectRevert } from "../helpers/revert.ts";
import { createSnapshots } from "../helpers/snapshots.ts";
import { createSystem, type System } from "../helpers/system.ts";

const FEE = parseEther("0.001");
const QUOTA = 100n;
const DEPOSIT = parseEther("1");
const ERC1271_ABI = parseAbi(["function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4)"]);

let system: System;
let snapshots: ReturnType<typeof createSnapshots>;
/** The consumer's key, signing locally as a browser wallet or a script would. */
let consumer: LocalAccount;
let worker: Address;
let settlement: Address;

beforeAll(async () => {
  system = await createSystem();
  await system.delegateAll();
  consumer = devAccount(7);
  worker = system.accounts.worker.account.address;
  settlement = system.deployment.contracts.usageSettlement;
  await system.pass([
    registryAction(system, "setWorker", [worker, true]),
    registryAction(system, "setQuota", [consumer.address, QUOTA]),
    registryAction(system, "setQueryFee", [FEE]),
  ]);
  await deposit(consumer.address);
  snapshots = createSnapshots(system.testClient);
  await snapshots.save();
});
beforeEach(() => snapshots.restore());

async function deposit(who: Address) {
  await system.wait(
    await system.accounts.outsider.writeContract({
      address: settlement,
      abi: usageSettlementAbi,
      functionName: "deposit",
      args: [who],
      value: DEPOSIT,
    }),
  );
}

function read<T>(functionName: string, args: readonly unknown[] = []): Promise<T> {
  return system.publicClient.readContract({
    address: settlement,
    abi: usageSettlementAbi,
    functionName,
    args,
  } as never) as Promise<T>;
}

const domain = () => usageDomain(system.deployment.chainId, settlement);
const balanceOf = async (who: Address) => (await read<readonly bigint[]>("accountOf", [who]))[0];
const now = async () => (await system.publicClient.getBlock()).timestamp;
const currentEpoch = () =>
  system.publicClient.readContract({
    address: system.deployment.contracts.policyRegistry,
    abi: [
      { type: "function", name: "currentEpoch", inputs: [], outputs: [{ type: "uint64" }], stateMutability: "view" },
    ],
    functionName: "currentEpoch",
  });

/** A Usage voucher of `consumerAddress`'s own lane at the worker, for `total`. */
async function usage(consumerAddress: Address, total: bigint, maxFeePerQuery = FEE): Promise<UsageMessage> {
  return {
    consumer: consumerAddress,
    key: zeroAddress,
    worker,
    epoch: await currentEpoch(),
    total,
    maxFeePerQuery,
    inputHash: keccak256(toHex(`what is the capital of France? #${total}`)),
    deadline: (await now()) + 3_600n,
  };
}

const signUsage = (signer: LocalAccount, message: UsageMessage) =>
  signer.signTypedData({ domain: domain(), types: usageTypes, primaryType: "Usage", message });

const asVoucher = (
  { consumer: c, epoch, total, maxFeePerQuery, inputHash, deadline }: UsageMessage,
  signature: Hex,
) => ({
  consumer: c,
  epoch,
  total,
  maxFeePerQuery,
  inputHash,
  deadline,
  signature,
});

async function settle(vouchers: ReturnType<typeof asVoucher>[]) {
  return system.accounts.worker.writeContract({
    address: settlement,
    abi: usageSettlementAbi,
    functionName: "settle",
    args: [vouchers],
  });
}

describe("typed data (EIP-712 parity with UsageSettlement)", () => {
  it("has the domain the contract reports (EIP-5267)", async () => {
    const [, name, version, chainId, verifyingContract] = await read<readonly unknown[]>("eip712Domain");
    const d = domain();
    expect({ name, version, chainId, verifyingContract }).toEqual({
      name: d.name,
      version: d.version,
      chainId: BigInt(d.chainId),
      verifyingContract: getAddress(d.verifyingContract),
    });
  });

  it("hashes a Usage and a KeyGrant as usageDigest and keyGrantDigest do", async () => {
    const message = { ...(await usage(consumer.address, 7n)), key: privateKeyToAccount(generatePrivateKey()).address };
    expect(hashTypedData({ domain: domain(), types: usageTypes, primaryType: "Usage", message })).toBe(
      await read("usageDigest", [
        message.consumer,
        message.key,
        message.worker,
        message.epoch,
        message.total,
        message.maxFeePerQuery,
        message.inputHash,
        message.deadline,
      ]),
    );
    const grant: KeyGrantMessage = {
      consumer: consumer.address,
      key: message.key,
      worker,
      maxQueries: 1_000n,
      maxFeePerQuery: FEE,
      expiresAt: 1_900_000_000n,
    };
    expect(hashTypedData({ domain: domain(), types: keyGrantTypes, primaryType: "KeyGrant", message: grant })).toBe(
      await read("keyGrantDigest", [grant]),
    );
  });
});

describe("settlement as a worker sends it", () => {
  it("charges a lane's latest voucher once, at most the signed fee, and sweeps the fees to the epoch's pool", async () => {
    const message = await usage(consumer.address, 30n);
    const receipt = await system.wait(await settle([asVoucher(message, await signUsage(consumer, message))]));
    const [settled] = parseEventLogs({ abi: usageSettlementAbi, eventName: "UsageSettled", logs: receipt.logs });
    expect(settled?.args).toEqual({
      consumer: consumer.address,
      key: zeroAddress,
      worker: getAddress(worker),
      epoch: message.epoch,
      total: 30n,
      queries: 30n,
      fees: 30n * FEE,
    });
    expect(await balanceOf(consumer.address)).toBe(DEPOSIT - 30n * FEE);
    await expectRevert(settle([asVoucher(message, await signUsage(consumer, message))]), "UsageNothingToSettle", [
      consumer.address,
      zeroAddress,
      message.epoch,
      30n,
      30n,
    ]);

    // A vote raises the fee; a voucher signed before it still pays at most its maximum.
    const later = await usage(consumer.address, 40n);
    const signature = await signUsage(consumer, later);
    await system.pass([registryAction(system, "setQueryFee", [10n * FEE])]);
    await system.wait(await settle([asVoucher(later, signature)]));
    expect(await balanceOf(consumer.address)).toBe(DEPOSIT - 40n * FEE);

    // Once the epoch's window closes, anyone sweeps its fees into the contributors' pool.
    await system.testClient.increaseTime({ seconds: 2 * Number(await read<bigint>("settlementWindow")) });
    await system.testClient.mine({ blocks: 1 });
    const sweep = await system.wait(
      await system.accounts.outsider.writeContract({
        address: settlement,
        abi: usageSettlementAbi,
        functionName: "sweepFees",
        args: [message.epoch],
      }),
    );
    const [funded] = parseEventLogs({ abi: contributorRewardsAbi, eventName: "PoolFunded", logs: sweep.logs });
    expect(funded?.args).toEqual({ epoch: message.epoch, from: getAddress(settlement), amount: 40n * FEE });
    expect(await read("feesOf", [message.epoch])).toEqual([40n * FEE, true]);
  });

  it("settles a bearer key's count up to its cap, and refuses the rest", async () => {
    const appKey = privateKeyToAccount(generatePrivateKey());
    const grant: KeyGrantMessage = {
      consumer: consumer.address,
      key: appKey.address,
      worker: zeroAddress,
      maxQueries: 50n,
      maxFeePerQuery: FEE,
      expiresAt: (await now()) + 86_400n,
    };
    const grantSignature = await consumer.signTypedData({
      domain: domain(),
      types: keyGrantTypes,
      primaryType: "KeyGrant",
      message: grant,
    });
    const epoch = await currentEpoch();
    const settleKey = async (total: bigint) =>
      system.accounts.worker.writeContract({
        address: settlement,
        abi: usageSettlementAbi,
        functionName: "settleKeys",
        args: [
          [
            {
              grant,
              grantSignature,
              epoch,
              total,
              inputHash: `0x${"00".repeat(32)}`,
              deadline: 0n,
              keySignature: "0x",
            },
          ],
        ],
      });
    await system.wait(await settleKey(45n));
    await expectRevert(settleKey(51n), "UsageKeyCapExceeded", [appKey.address, 51n, 50n]);
    expect(await read("keyState", [consumer.address, appKey.address])).toEqual([45n, 0n]);
    expect(await balanceOf(consumer.address)).toBe(DEPOSIT - 45n * FEE);
  });

  it("refuses a voucher signed by someone else, changing nothing", async () => {
    const message = await usage(consumer.address, 5n);
    const thief = privateKeyToAccount(generatePrivateKey());
    await expectRevert(settle([asVoucher(message, await signUsage(thief, message))]), "UsageInvalidSignature", [
      consumer.address,
    ]);
    expect(await balanceOf(consumer.address)).toBe(DEPOSIT);
  });
});

describe("consumers that are accounts with code", () => {
  it("a Safe as consumer: its owner signs the voucher as a Safe message, the contract asks the Safe (ERC-1271)", async () => {
    const owner = devAccount(17);
    const contracts = await deploySafeContracts({
      publicClient: system.publicClient,
      walletClient: system.accounts.deployer,
    });
    const safe = await createSafe({
      provider: system.connection.provider as never,
      publicClient: system.publicClient,
      walletClient: system.accounts.deployer,
      owners: [owner.address],
      threshold: 1,
      saltNonce: 14n,
      contracts,
    });
    await system.pass([registryAction(system, "setQuota", [safe.address, QUOTA])]);
    await deposit(safe.address);

    const message = await usage(safe.address, 3n);
    const digest = hashTypedData({ domain: domain(), types: usageTypes, primaryType: "Usage", message });
    // What Safe{Wallet} asks an owner to sign for an off-chain message of the Safe: a SafeMessage
    // in the Safe's own domain, checked by its CompatibilityFallbackHandler.
    const signature = await owner.signTypedData({
      domain: { chainId: system.deployment.chainId, verifyingContract: safe.address },
      types: { SafeMessage: [{ name: "message", type: "bytes" }] },
      primaryType: "SafeMessage",
      message: { message: encodeAbiParameters([{ type: "bytes32" }], [digest]) },
    });
    await system.wait(await settle([asVoucher(message, signature)]));
    expect(await balanceOf(safe.address)).toBe(DEPOSIT - 3n * FEE);
    expect(await read("usedInEpoch", [safe.address, message.epoch])).toBe(3n);
  });

  it("an EOA delegated to smart-account code (EIP-7702) settles with its plain signature, which ERC-1271 alone refuses", async () => {
    const eoa = privateKeyToAccount(generatePrivateKey());
    const delegate = await system.viem.deployContract("Eip7702AccountMock");
    // The relayer sends the type-4 transaction carrying the EOA's authorisation.
    const relayer = createWalletClient({
      account: devAccount(9),
      chain: system.publicClient.chain!,
      transport: custom(system.connection.provider),
    });
    const authorization = await relayer.signAuthorization({ account: eoa, contractAddress: delegate.address });
    await system.wait(
      await relayer.sendTransaction({ authorizationList: [authorization], to: relayer.account.address, value: 0n }),
    );
    expect(await system.publicClient.getCode({ address: eoa.address })).toBe(
      `0xef0100${delegate.address.slice(2).toLowerCase()}`,
    );
    await system.pass([registryAction(system, "setQuota", [eoa.address, QUOTA])]);
    await deposit(eoa.address);

    const message = await usage(eoa.address, 2n);
    const signature = await signUsage(eoa, message);
    const digest = hashTypedData({ domain: domain(), types: usageTypes, primaryType: "Usage", message });
    // The review's case: asked through ERC-1271, the delegated account's code refuses the raw digest.
    const answer = await system.publicClient.readContract({
      address: eoa.address,
      abi: ERC1271_ABI,
      functionName: "isValidSignature",
      args: [digest, signature],
    });
    expect(answer).not.toBe("0x1626ba7e");
    await system.wait(await settle([asVoucher(message, signature)]));
    expect(await balanceOf(eoa.address)).toBe(DEPOSIT - 2n * FEE);
  });
});
