import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EthSafeSignature, EthSafeTransaction, type Eip1193Provider } from "@safe-global/protocol-kit";
import {
  decodeErrorResult,
  encodeFunctionData,
  getAddress,
  isAddressEqual,
  recoverAddress,
  toEventSelector,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { policyGovernorAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { BaseError } from "../../pipeline-worker/src/internal/BaseError.ts";
import { safeContractNetworks, type SafeContracts } from "./deploySafe.ts";
import { ProtocolKit } from "./protocolKit.ts";

const FORMAT = "dao-ai/guardian-transaction/v1";
const EXECUTION_FAILURE = toEventSelector("ExecutionFailure(bytes32,uint256)");

/**
 * A Safe transaction on its way through the guardian's owners, as a file: one owner proposes and
 * signs it, others add their signatures, and anyone executes it once enough have signed. The file
 * carries everything needed, so owners on different machines pass it along (or share a folder).
 */
export type PendingGuardianTransaction = {
  format: typeof FORMAT;
  chainId: number;
  safe: Address;
  /** What the transaction does, in words. */
  description: string;
  /** The Safe's EIP-712 hash of the transaction: what every owner signs. */
  safeTxHash: Hex;
  transaction: {
    to: Address;
    value: string;
    data: Hex;
    operation: number;
    safeTxGas: string;
    baseGas: string;
    gasPrice: string;
    gasToken: Address;
    refundReceiver: Address;
    nonce: number;
  };
  signatures: { signer: Address; data: Hex }[];
  proposedAt: string;
  executed?: { transactionHash: Hex; by: Address; at: string };
};

export type ConnectGuardianParameters = {
  /** An RPC URL or an EIP-1193 provider. */
  provider: string | Eip1193Provider;
  /** The owner (or, to execute, any account) acting. */
  privateKey: Hex;
  safe: Address;
  chainId: number;
  /** The chain's Safe contracts; undefined: the canonical deployment protocol-kit knows. */
  contracts?: SafeContracts;
};

/** protocol-kit connected to the guardian Safe, acting as one account. */
export async function connectGuardian(parameters: ConnectGuardianParameters) {
  return ProtocolKit.init({
    provider: parameters.provider,
    signer: parameters.privateKey,
    safeAddress: parameters.safe,
    isL1SafeSingleton: true,
    contractNetworks: safeContractNetworks(parameters.chainId, parameters.contracts),
  });
}

type Kit = Awaited<ReturnType<typeof connectGuardian>>;

async function signerAddress(kit: Kit): Promise<Address> {
  const address = await kit.getSafeProvider().getSignerAddress();
  if (!address) throw new BaseError("protocol-kit has no signer.");
  return getAddress(address);
}

async function requireOwner(kit: Kit, who: Address) {
  const owners = (await kit.getOwners()).map((o) => getAddress(o));
  if (!owners.includes(who)) {
    throw new BaseError(`${who} is not an owner of the guardian Safe ${await kit.getAddress()}.`, {
      hints: [`The owners are ${owners.join(", ")}. Sign with one of their keys.`],
    });
  }
}

/** The engageKillSwitch call the guardian Safe makes on the PolicyRegistry. */
export function engageKillSwitchCall(policyRegistry: Address, reason: string) {
  const bytes = new TextEncoder().encode(reason).byteLength;
  if (bytes < 1 || bytes > 280) {
    throw new BaseError(`The reason must be 1 to 280 bytes long; it is ${bytes}.`, {
      hints: ["Say in a sentence why the system must stop; every user sees it."],
    });
  }
  return {
    to: policyRegistry,
    data: encodeFunctionData({ abi: policyRegistryAbi, functionName: "engageKillSwitch", args: [reason] }),
    description: `Engage the kill switch: ${reason}`,
  };
}

export type ProposeGuardianTransactionParameters = {
  kit: Kit;
  chainId: number;
  to: Address;
  data: Hex;
  description: string;
};

/** An owner proposes a Safe transaction and signs it first. */
export async function proposeGuardianTransaction(
  parameters: ProposeGuardianTransactionParameters,
): Promise<PendingGuardianTransaction> {
  const { kit } = parameters;
  const proposer = await signerAddress(kit);
  await requireOwner(kit, proposer);
  const transaction = await kit.createTransaction({
    transactions: [{ to: parameters.to, value: "0", data: parameters.data }],
  });
  const signed = await kit.signTransaction(transaction);
  const safeTxHash = (await kit.getTransactionHash(signed)) as Hex;
  const d = signed.data;
  return {
    format: FORMAT,
    chainId: parameters.chainId,
    safe: getAddress(await kit.getAddress()),
    description: parameters.description,
    safeTxHash,
    transaction: {
      to: getAddress(d.to),
      value: d.value,
      data: d.data as Hex,
      operation: d.operation,
      safeTxGas: d.safeTxGas,
      baseGas: d.baseGas,
      gasPrice: d.gasPrice,
      gasToken: getAddress(d.gasToken),
      refundReceiver: getAddress(d.refundReceiver),
      nonce: Number(d.nonce),
    },
    signatures: [...signed.signatures.values()].map((s) => ({ signer: getAddress(s.signer), data: s.data as Hex })),
    proposedAt: new Date().toISOString(),
  };
}

/**
 * Rebuilds the Safe transaction from its file and checks it: it is for this Safe, its hash is what
 * the owners signed (the file was not altered), each signature is its signer's, each signer is an
 * owner, and its nonce has not been used by another transaction since.
 */
async function rebuild(kit: Kit, pending: PendingGuardianTransaction) {
  if (pending.format !== FORMAT) throw new BaseError(`Not a guardian transaction file (format ${pending.format}).`);
  const safe = getAddress(await kit.getAddress());
  if (!isAddressEqual(safe, pending.safe)) {
    throw new BaseError(`The transaction is for the Safe ${pending.safe}, not the guardian ${safe}.`);
  }
  const transaction = new EthSafeTransaction({ ...pending.transaction });
  const hash = (await kit.getTransactionHash(transaction)) as Hex;
  if (hash.toLowerCase() !== pending.safeTxHash.toLowerCase()) {
    throw new BaseError("The transaction in the file does not match its safeTxHash: the file was altered.", {
      hints: ["Do not sign it. Ask the proposer for the original file, or propose again."],
    });
  }
  const nonce = await kit.getNonce();
  if (pending.transaction.nonce < nonce) {
    throw new BaseError(
      `The Safe has already used nonce ${pending.transaction.nonce} (it is at ${nonce}): this transaction was executed or replaced.`,
      { hints: ["Check the kill switch with `npm run guardian -- status`; propose again if it is still needed."] },
    );
  }
  const owners = (await kit.getOwners()).map((o) => getAddress(o));
  for (const s of pending.signatures) {
    const recovered = await recoverAddress({ hash, signature: s.data });
    if (!isAddressEqual(recovered, s.signer)) {
      throw new BaseError(`The signature said to be ${s.signer}'s was made by ${recovered}: the file was altered.`);
    }
    if (!owners.includes(getAddress(s.signer))) throw new BaseError(`${s.signer} is not an owner of the Safe.`);
    transaction.addSignature(new EthSafeSignature(s.signer, s.data));
  }
  return transaction;
}

/** A second (third...) owner adds a signature. */
export async function signGuardianTransaction(
  kit: Kit,
  pending: PendingGuardianTransaction,
): Promise<PendingGuardianTransaction> {
  if (pending.executed)
    throw new BaseError(`The transaction was already executed in ${pending.executed.transactionHash}.`);
  const signer = await signerAddress(kit);
  await requireOwner(kit, signer);
  if (pending.signatures.some((s) => isAddressEqual(s.signer, signer))) {
    throw new BaseError(`${signer} has already signed this transaction.`, {
      hints: ["Another owner must sign it: pass another --owner (or key)."],
    });
  }
  const transaction = await rebuild(kit, pending);
  const signed = await kit.signTransaction(transaction);
  const mine = signed.getSignature(signer.toLowerCase()) ?? signed.getSignature(signer);
  if (!mine) throw new BaseError("protocol-kit did not produce a signature.");
  return { ...pending, signatures: [...pending.signatures, { signer, data: mine.data as Hex }] };
}

/** How many owners have signed, and how many must. */
export async function signatureCount(kit: Kit, pending: PendingGuardianTransaction) {
  return { signed: pending.signatures.length, threshold: await kit.getThreshold() };
}

/** Anyone executes the transaction once enough owners have signed it; returns the updated file. */
export async function executeGuardianTransaction(
  kit: Kit,
  publicClient: PublicClient,
  pending: PendingGuardianTransaction,
): Promise<PendingGuardianTransaction> {
  if (pending.executed)
    throw new BaseError(`The transaction was already executed in ${pending.executed.transactionHash}.`);
  const { signed, threshold } = await signatureCount(kit, pending);
  if (signed < threshold) {
    throw new BaseError(`The transaction has ${signed} of the ${threshold} owner signatures it needs.`, {
      hints: ["Another owner must sign it first: `npm run guardian -- sign FILE --owner N`."],
    });
  }
  const transaction = await rebuild(kit, pending);
  const by = await signerAddress(kit);
  // The Safe refuses to execute a transaction whose call fails, so say first why it would fail.
  const failure = await simulateFromSafe(publicClient, pending);
  if (failure) {
    throw new BaseError(`The Safe transaction would fail: the call it makes reverted with ${failure}.`, {
      hints: failure.startsWith("PolicyNotGuardian")
        ? ["This Safe is no longer the guardian: the DAO replaced it. Check with `npm run guardian -- status`."]
        : failure.startsWith("PolicyKillSwitchAlreadyEngaged")
          ? ["The kill switch is already engaged; there is nothing to do."]
          : failure.startsWith("GovernorUnableToCancel")
            ? [
                "The guardian cannot cancel a proposal that only replaces the guardian or lifts the kill switch: the DAO can always replace its guardian by a vote.",
              ]
            : ["Check what the transaction calls, and that the Safe may make that call."],
    });
  }
  const result = await kit.executeTransaction(transaction);
  const transactionHash = result.hash as Hex;
  const receipt = await publicClient.waitForTransactionReceipt({ hash: transactionHash });
  // A Safe transaction whose inner call reverts still mines; the Safe then emits ExecutionFailure.
  const failed = receipt.logs.some((l) => isAddressEqual(l.address, pending.safe) && l.topics[0] === EXECUTION_FAILURE);
  if (receipt.status !== "success" || failed) {
    throw new BaseError(`The Safe transaction failed in ${transactionHash}: the call it makes reverted.`, {
      hints: ["Check that the Safe is still the guardian and that the kill switch is not already engaged."],
    });
  }
  return { ...pending, executed: { transactionHash, by, at: new Date().toISOString() } };
}

/** The error the Safe's call would revert with now (a registry error's name and arguments), if any. */
async function simulateFromSafe(publicClient: PublicClient, pending: PendingGuardianTransaction) {
  try {
    await publicClient.call({
      account: pending.safe,
      to: pending.transaction.to,
      data: pending.transaction.data,
      value: BigInt(pending.transaction.value),
    });
    return undefined;
  } catch (error) {
    const data = revertData(error);
    if (!data) return "an unknown error";
    try {
      // The Safe calls the registry (engage) or the Governor (cancel).
      const decoded = decodeErrorResult({ abi: [...policyRegistryAbi, ...policyGovernorAbi], data });
      return `${decoded.errorName}(${(decoded.args ?? []).map(String).join(", ")})`;
    } catch {
      return data;
    }
  }
}

function revertData(error: unknown): Hex | undefined {
  let e = error as { data?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 10; depth++) {
    if (typeof e.data === "string" && e.data.startsWith("0x")) return e.data as Hex;
    e = e.cause as typeof e;
  }
  return undefined;
}

export function writePendingTransaction(directory: string, pending: PendingGuardianTransaction): string {
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `${pending.safeTxHash}.json`);
  writeFileSync(file, `${JSON.stringify(pending, null, 2)}\n`);
  return file;
}

export function readPendingTransaction(file: string): PendingGuardianTransaction {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as PendingGuardianTransaction;
  } catch (cause) {
    throw new BaseError(`Cannot read the guardian transaction ${file}.`, {
      cause,
      hints: ["Pass the file `npm run guardian -- propose` wrote."],
    });
  }
}

/** The transactions in a folder that were not executed yet, oldest first. */
export function listPendingTransactions(directory: string): { file: string; pending: PendingGuardianTransaction }[] {
  let names: string[];
  try {
    names = readdirSync(directory).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  return names
    .map((n) => ({ file: join(directory, n), pending: readPendingTransaction(join(directory, n)) }))
    .filter((p) => p.pending.format === FORMAT && !p.pending.executed)
    .sort((a, b) => a.pending.proposedAt.localeCompare(b.pending.proposedAt));
}
