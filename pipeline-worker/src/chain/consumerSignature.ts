import {
  AbiDecodingDataSizeTooSmallError,
  BaseError as ViemBaseError,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  ExecutionRevertedError,
  bytesToHex,
  parseAbi,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { WorkerError } from "../internal/WorkerError.ts";
import { recoverDigestSigner, sameAddress } from "./signatures.ts";

/** ERC-1271's interface; `isValidSignature` returns its own selector for a valid signature. */
const erc1271Abi = parseAbi(["function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4)"]);
const ERC1271_MAGIC_VALUE = "0x1626ba7e";

export type ConsumerSignatureCheck = {
  client: Pick<PublicClient, "readContract">;
  consumer: Address;
  digest: Uint8Array;
  signature: Hex;
  /** The block to ask an ERC-1271 account at: the head the policy was read at. */
  blockNumber: bigint;
};

/**
 * Whether `signature` is the consumer's over `digest`, as UsageSettlement decides it: ECDSA first
 * (so an EOA's plain signature counts even when it delegates to smart-account code under EIP-7702,
 * whose `isValidSignature` may refuse raw digests), then ERC-1271's `isValidSignature` on the
 * consumer (a Safe, any smart account) at the given block. A signature is accepted here exactly
 * when the contract would accept it, so nothing is served that cannot be settled. The ERC-1271
 * step is a chain read: only a consumer's signature that ECDSA refuses costs one.
 */
export async function isConsumerSignature(check: ConsumerSignatureCheck): Promise<boolean> {
  try {
    if (sameAddress(recoverDigestSigner(check.digest, check.signature), check.consumer)) return true;
  } catch {
    // Not a 65-byte low-s ECDSA signature (a Safe's owner signatures, say): ERC-1271 decides.
  }
  try {
    const magic = await check.client.readContract({
      address: check.consumer,
      abi: erc1271Abi,
      functionName: "isValidSignature",
      args: [bytesToHex(check.digest), check.signature],
      blockNumber: check.blockNumber,
    });
    return magic.toLowerCase() === ERC1271_MAGIC_VALUE;
  } catch (error) {
    // An account without code answers nothing, a contract that refuses the signature reverts or
    // answers something short: the contract reads all as "not valid" (SignatureChecker), and so
    // does the worker.
    if (error instanceof ViemBaseError && error.walk((e) => refusalErrors.some((type) => e instanceof type)))
      return false;
    throw new WorkerError("CHAIN_UNAVAILABLE", "The worker could not ask the consumer's account for its signature.", {
      cause: error,
      hints: ["Retry later; nothing was counted or stored."],
    });
  }
}

const refusalErrors = [
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  ExecutionRevertedError,
  AbiDecodingDataSizeTooSmallError,
];
