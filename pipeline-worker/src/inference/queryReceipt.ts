import { keccak_256 } from "@noble/hashes/sha3.js";
import {
  bytesToHex,
  encodeAbiParameters,
  getAddress,
  hashTypedData,
  isAddressEqual,
  keccak256,
  recoverMessageAddress,
  stringToBytes,
  toHex,
  zeroHash,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { policyRegistryAbi } from "../abis.ts";
import { usageDomain, usageTypes, type UsageMessage } from "../chain/typedData.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import type { ModelAnswer } from "../model/Model.ts";

/**
 * A worker's signed statement that it answered one query with one answer, from one model, and
 * counted it as total `total` of the lane (consumer, key, worker, epoch). The consumer can check it
 * alone: recompute the digest from its own voucher and the answer it got, recover the signer, and
 * check on chain that the signer is a worker the DAO authorised (`PolicyRegistry.isWorker`). A
 * consumer holding a receipt can show anyone what the worker answered and counted, which keeps a
 * worker from charging for answers it did not give or denying answers it did.
 */
export type QueryReceipt = {
  version: 2;
  /** The worker that answered; its signature is below. */
  worker: Address;
  /** The EIP-712 digest of the Usage voucher (UsageSettlement's `usageDigest`); zero for a bearer key. */
  usageDigest: Hex;
  /** What the query asked: keccak256 of the input (POST /v1/queries) or chatInputHash of the request. */
  inputHash: Hex;
  /**
   * keccak256(abi.encode(string label, string score)); for a chat completion by an external model
   * (the gateway), keccak256 of the UTF-8 text answered.
   */
  answerHash: Hex;
  /** The model's id (e.g. the hash of its weights), and its keccak256 as signed. */
  model: string;
  modelHash: Hex;
  consumer: Address;
  /** The key that authorised the query; the zero address for the consumer's own wallet. */
  key: Address;
  epoch: string;
  /** The query's total in its lane: the charge this query raised the lane to, at most. */
  total: string;
  /** The consumer's quota per epoch when the query was served. */
  quota: string;
  /** The digest the worker signed, with EIP-191 (`personal_sign` over these 32 bytes). */
  digest: Hex;
  signature: Hex;
};

/** Separates receipt digests from every other 32-byte value a worker key might sign. */
export const QUERY_RECEIPT_TAG = keccak256(toHex("DAO AI Query Receipt v2"));

/** Answers seen lately and their hashes: a model gives few distinct answers, and each costs an ABI encoding. */
const answerHashes = new Map<string, Hex>();
const MAX_KEPT_ANSWERS = 1024;

export function answerHashOf(answer: ModelAnswer): Hex {
  const key = `${answer.score}\n${answer.label}`;
  let hash = answerHashes.get(key);
  if (hash === undefined) {
    hash = keccak256(encodeAbiParameters([{ type: "string" }, { type: "string" }], [answer.label, answer.score]));
    if (answerHashes.size >= MAX_KEPT_ANSWERS) answerHashes.clear();
    answerHashes.set(key, hash);
  }
  return hash;
}

export type ReceiptDigestParameters = {
  usageDigest: Hex;
  inputHash: Hex;
  answerHash: Hex;
  modelHash: Hex;
  consumer: Address;
  key: Address;
  epoch: bigint;
  total: bigint;
  quota: bigint;
};

/**
 * keccak256(abi.encode(tag, usageDigest, inputHash, answerHash, modelHash, address consumer,
 * address key, uint64 epoch, uint64 total, uint64 quota)).
 */
export function receiptDigestOf(parameters: ReceiptDigestParameters): Hex {
  return bytesToHex(receiptDigestBytes(parameters));
}

/** The ten words, the tag written once; reused, as `receiptDigestBytes` is synchronous. */
const receiptWords = Buffer.alloc(10 * 32);
receiptWords.write(QUERY_RECEIPT_TAG.slice(2), 0, 32, "hex");

/**
 * `receiptDigestOf` as bytes, encoded by hand (ten 32-byte words) and hashed with @noble/hashes'
 * keccak_256 on the bytes: the worker computes one per signed query.
 */
export function receiptDigestBytes(parameters: ReceiptDigestParameters): Uint8Array {
  const words = receiptWords;
  words.fill(0, 32);
  words.write(parameters.usageDigest.slice(2), 32, 32, "hex");
  words.write(parameters.inputHash.slice(2), 64, 32, "hex");
  words.write(parameters.answerHash.slice(2), 96, 32, "hex");
  words.write(parameters.modelHash.slice(2), 128, 32, "hex");
  words.write(parameters.consumer.slice(2), 160 + 12, 20, "hex");
  words.write(parameters.key.slice(2), 192 + 12, 20, "hex");
  words.writeBigUInt64BE(parameters.epoch, 224 + 24);
  words.writeBigUInt64BE(parameters.total, 256 + 24);
  words.writeBigUInt64BE(parameters.quota, 288 + 24);
  return keccak_256(words);
}

export type VerifyQueryReceiptParameters = {
  receipt: QueryReceipt;
  /** The Usage voucher the query was sent with, as signed; for a bearer key, its lane and total alone. */
  usage: UsageMessage | { consumer: Address; key: Address; epoch: bigint; total: bigint; inputHash: Hex };
  /** The answer the consumer received: a label and score, or the text of a gateway's completion. */
  answer: ModelAnswer | { content: string };
  chainId: number;
  usageSettlement: Address;
  /** With both, the signer must also be an authorised worker in the registry now. */
  client?: PublicClient | undefined;
  policyRegistry?: Address | undefined;
};

/**
 * Checks a receipt against the voucher the consumer signed and the answer it received, and returns
 * the worker that signed it. Throws SIGNATURE_INVALID when anything differs, and
 * WORKER_NOT_AUTHORISED when a registry is given and the signer is not an authorised worker.
 */
export async function verifyQueryReceipt(parameters: VerifyQueryReceiptParameters): Promise<Address> {
  const { receipt, usage } = parameters;
  const invalid = (why: string) =>
    new WorkerError("SIGNATURE_INVALID", `The receipt does not match: ${why}.`, {
      hints: ["Keep the voucher you signed and the answer as received; the receipt binds both."],
    });
  const usageDigest =
    "worker" in usage
      ? hashTypedData({
          domain: usageDomain(parameters.chainId, parameters.usageSettlement),
          types: usageTypes,
          primaryType: "Usage",
          message: usage,
        })
      : zeroHash;
  if (receipt.usageDigest !== usageDigest) throw invalid("it is for another voucher");
  if (receipt.inputHash !== usage.inputHash) throw invalid("it is for another input");
  const answerHash =
    "content" in parameters.answer
      ? keccak256(stringToBytes(parameters.answer.content))
      : answerHashOf(parameters.answer);
  if (receipt.answerHash !== answerHash) throw invalid("it is for another answer");
  if (receipt.modelHash !== keccak256(toHex(receipt.model))) throw invalid("the model hash is not the model's");
  if (!isAddressEqual(receipt.consumer, usage.consumer) || !isAddressEqual(receipt.key, usage.key))
    throw invalid("it is for another consumer or key");
  if (receipt.epoch !== usage.epoch.toString() || receipt.total !== usage.total.toString())
    throw invalid("it is for another epoch or total");
  const digest = receiptDigestOf({
    usageDigest,
    inputHash: usage.inputHash,
    answerHash,
    modelHash: receipt.modelHash,
    consumer: usage.consumer,
    key: usage.key,
    epoch: usage.epoch,
    total: usage.total,
    quota: BigInt(receipt.quota),
  });
  if (receipt.digest !== digest) throw invalid("its digest is not the digest of its fields");
  let signer: Address;
  try {
    signer = await recoverMessageAddress({ message: { raw: digest }, signature: receipt.signature });
  } catch (cause) {
    throw new WorkerError("SIGNATURE_INVALID", "The receipt's signature does not recover to any address.", { cause });
  }
  if (!isAddressEqual(signer, receipt.worker)) throw invalid("it is not signed by the worker it names");
  if (parameters.client !== undefined && parameters.policyRegistry !== undefined) {
    const authorised = await parameters.client.readContract({
      address: parameters.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "isWorker",
      args: [signer],
    });
    if (!authorised) {
      throw new WorkerError("WORKER_NOT_AUTHORISED", `${signer} signed the receipt but is not an authorised worker.`);
    }
  }
  return getAddress(signer);
}
