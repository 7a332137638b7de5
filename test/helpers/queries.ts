import { keccak256, parseEther, toHex, zeroAddress, zeroHash, type Address, type Hex, type LocalAccount } from "viem";
import { policyRegistryAbi, usageSettlementAbi } from "../../deployments/abis.ts";
import { keyGrantTypedData, usageTypedData, type KeyGrantMessage, type UsageMessage } from "./queryTypedData.ts";
import type { System, Wallet } from "./system.ts";

/** A consumer-signed Usage voucher as `UsageSettlement.settle` takes it (key = 0, worker = the sender). */
export type Voucher = {
  consumer: Address;
  epoch: bigint;
  total: bigint;
  maxFeePerQuery: bigint;
  inputHash: Hex;
  deadline: bigint;
  signature: Hex;
};

/** A key the consumer authorised, with the consumer's signature over its KeyGrant. */
export type SignedGrant = { grant: KeyGrantMessage; signature: Hex };

/** One entry of `UsageSettlement.settleKeys`. */
export type KeySettlement = {
  grant: KeyGrantMessage;
  grantSignature: Hex;
  epoch: bigint;
  total: bigint;
  inputHash: Hex;
  deadline: bigint;
  keySignature: Hex;
};

/** The default maximum fee a voucher or grant allows: far above any fee the tests set. */
export const DEFAULT_MAX_FEE = parseEther("1");

/**
 * Consumers sign usage in TypeScript (EIP-712, `usageTypedData` and `keyGrantTypedData`); a worker
 * settles it on chain. Missing fields default to: the signer as consumer, the development worker,
 * the current epoch, a deadline an hour away, a unique input hash, DEFAULT_MAX_FEE.
 */
export function createQueries(system: System) {
  const { publicClient, deployment } = system;
  const typed = { chainId: deployment.chainId, usageSettlement: deployment.contracts.usageSettlement };
  let inputs = 0;
  const nextInputHash = () => keccak256(toHex(`input ${++inputs}`));

  function currentEpoch() {
    return publicClient.readContract({
      address: deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "currentEpoch",
    });
  }

  async function usageMessage(fields: Partial<UsageMessage> & { consumer: Address; total: bigint }) {
    return {
      consumer: fields.consumer,
      key: fields.key ?? zeroAddress,
      worker: fields.worker ?? system.accounts.worker.account.address,
      epoch: fields.epoch ?? (await currentEpoch()),
      total: fields.total,
      maxFeePerQuery: fields.maxFeePerQuery ?? DEFAULT_MAX_FEE,
      inputHash: fields.inputHash ?? nextInputHash(),
      deadline: fields.deadline ?? (await publicClient.getBlock()).timestamp + 3_600n,
    } satisfies UsageMessage;
  }

  /** The consumer's own voucher: "the worker may charge me up to `total` queries of this lane". */
  async function sign(consumer: Wallet, fields: Partial<UsageMessage> & { total: bigint }): Promise<Voucher> {
    const message = await usageMessage({ ...fields, consumer: fields.consumer ?? consumer.account.address });
    const signature = await consumer.signTypedData({
      account: consumer.account,
      ...usageTypedData({ ...typed, message }),
    });
    const { consumer: signedFor, epoch, total, maxFeePerQuery, inputHash, deadline } = message;
    return { consumer: signedFor, epoch, total, maxFeePerQuery, inputHash, deadline, signature };
  }

  /** The consumer authorises `key` with one signature; defaults: 1,000 queries, any worker, a day. */
  async function grantKey(consumer: Wallet, key: Address, fields: Partial<KeyGrantMessage> = {}): Promise<SignedGrant> {
    const grant: KeyGrantMessage = {
      consumer: fields.consumer ?? consumer.account.address,
      key,
      worker: fields.worker ?? zeroAddress,
      maxQueries: fields.maxQueries ?? 1_000n,
      maxFeePerQuery: fields.maxFeePerQuery ?? DEFAULT_MAX_FEE,
      expiresAt: fields.expiresAt ?? (await publicClient.getBlock()).timestamp + 86_400n,
    };
    const signature = await consumer.signTypedData({
      account: consumer.account,
      ...keyGrantTypedData({ ...typed, message: grant }),
    });
    return { grant, signature };
  }

  /** A bearer settlement: the worker's own count of the key's lane, with no key signature. */
  function bearer(signed: SignedGrant, lane: { epoch: bigint; total: bigint }): KeySettlement {
    return {
      grant: signed.grant,
      grantSignature: signed.signature,
      epoch: lane.epoch,
      total: lane.total,
      inputHash: zeroHash,
      deadline: 0n,
      keySignature: "0x",
    };
  }

  /** A session-key settlement: the key signed the lane's Usage voucher (at the grant's maximum fee). */
  async function session(
    signed: SignedGrant,
    key: LocalAccount,
    fields: Partial<UsageMessage> & { total: bigint },
  ): Promise<KeySettlement> {
    const message = await usageMessage({
      ...fields,
      consumer: signed.grant.consumer,
      key: key.address,
      maxFeePerQuery: signed.grant.maxFeePerQuery,
    });
    const keySignature = await key.signTypedData(usageTypedData({ ...typed, message }));
    const { epoch, total, inputHash, deadline } = message;
    return { grant: signed.grant, grantSignature: signed.signature, epoch, total, inputHash, deadline, keySignature };
  }

  function settle(vouchers: Voucher[], from: Wallet = system.accounts.worker) {
    return from.writeContract({
      address: deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "settle",
      args: [vouchers],
    });
  }

  function settleKeys(settlements: KeySettlement[], from: Wallet = system.accounts.worker) {
    return from.writeContract({
      address: deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "settleKeys",
      args: [settlements],
    });
  }

  function deposit(consumer: Wallet, value: bigint) {
    return consumer.writeContract({
      address: deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "deposit",
      args: [consumer.account.address],
      value,
    });
  }

  return { currentEpoch, sign, grantKey, bearer, session, settle, settleKeys, deposit };
}
