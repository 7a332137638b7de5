// A Safe transaction on its way through the Safe's owners, for every place that handles one: the
// guardian CLI (`npm run guardian`), the governance UI in the browser, and the tests. It is built
// on @safe-global/protocol-kit (which hashes, signs, packs signatures and executes), so owners
// that are accounts, Safes (EIP-1271) or any contract (an on-chain approveHash) all count. It has
// no framework and no Node API in it: the CLI keeps its files on disk, the UI in the browser, and
// both exchange the one file format declared here.
import protocolKitModule, {
  buildContractSignature,
  EthSafeSignature,
  EthSafeTransaction,
  preimageSafeTransactionHash,
  type Eip1193Provider,
} from "@safe-global/protocol-kit";
import {
  decodeErrorResult,
  getAddress,
  hashMessage,
  isAddress,
  isAddressEqual,
  isHex,
  recoverAddress,
  toEventSelector,
  type Abi,
  type Address,
  type Hex,
} from "viem";
import { z } from "zod";
import { BaseError } from "../internal/BaseError.ts";

// protocol-kit's types describe its CommonJS build, which Node's type rules (the CLI) see as a
// module whose `default` is the Safe class, and a bundler's (the UI) as the class itself; Node and
// Vite both load its ES build, whose default export is the class. This takes the class from
// either, so the types and the running code agree in both places.
type SafeClass = typeof protocolKitModule extends { default: infer C } ? C : typeof protocolKitModule;
const loaded = protocolKitModule as unknown as { default?: unknown };

/** protocol-kit's `Safe` class: `await ProtocolKit.init({ provider, signer, safeAddress, contractNetworks })`. */
export const ProtocolKit = (loaded.default ?? protocolKitModule) as SafeClass;

export type ProtocolKit = InstanceType<SafeClass>;

export type { Eip1193Provider };

/** Every refusal of this module is a BaseError: a short message and hints that say what to do. */
export { BaseError };

// protocol-kit's signing methods (types-kit's `SigningMethod` values, which protocol-kit takes as strings).
const SIGN_TYPED_DATA_V4 = "eth_signTypedData_v4";
const SAFE_SIGNATURE = "safe_sign";

const address = z
  .string()
  .refine((value) => isAddress(value, { strict: false }), "not an address")
  .transform((value) => getAddress(value));
const hex = z.string().refine((value) => isHex(value), "not hex (0x...)") as unknown as z.ZodType<Hex>;
const uint = z.string().regex(/^\d+$/, "not a non-negative integer");

/** Where a chain's Safe contracts are, in the shape protocol-kit's `contractNetworks[chainId]` takes. */
export const safeContractsSchema = z.object({
  safeSingletonAddress: address,
  safeProxyFactoryAddress: address,
  multiSendAddress: address,
  multiSendCallOnlyAddress: address,
  fallbackHandlerAddress: address,
  signMessageLibAddress: address,
  createCallAddress: address,
  simulateTxAccessorAddress: address,
});

export type SafeContracts = z.infer<typeof safeContractsSchema>;

/** protocol-kit's `contractNetworks` for one chain; undefined lets protocol-kit use the canonical deployment. */
export function safeContractNetworks(chainId: number, contracts: SafeContracts | undefined) {
  return contracts ? { [chainId.toString()]: contracts } : undefined;
}

/** The file format's name and version; a file with another one is refused, never guessed at. */
export const SAFE_TRANSACTION_FORMAT = "dao-ai/safe-transaction/v1";
/** What the guardian CLI wrote before the format carried contract signatures; read and upgraded. */
const LEGACY_FORMAT = "dao-ai/guardian-transaction/v1";

const transactionSchema = z.object({
  to: address,
  value: uint,
  data: hex,
  operation: z.union([z.literal(0), z.literal(1)]),
  safeTxGas: uint,
  baseGas: uint,
  gasPrice: uint,
  gasToken: address,
  refundReceiver: address,
  nonce: z.number().int().nonnegative(),
});

const signatureSchema = z.object({
  /** The owner of the Safe the signature is from: an account, or a contract (a Safe) that owns it. */
  signer: address,
  /** From an account, its 65-byte ECDSA signature; from a contract, what its EIP-1271 check takes. */
  data: hex,
  /** An EIP-1271 contract signature (protocol-kit's `isContractSignature`). */
  contract: z.boolean(),
});

const ownerSafeSignatureSchema = z.object({
  /** The Safe that owns the transaction's Safe, on whose behalf its owners sign. */
  ownerSafe: address,
  signer: address,
  data: hex,
});

const executedSchema = z.object({ transactionHash: hex, by: address, at: z.string() });

/**
 * A Safe transaction on its way through the owners, as a file: one owner proposes and signs it,
 * others add their signatures (in the CLI or in the UI, on any machine), and anyone executes it
 * once enough have signed. The file carries everything needed and nothing secret.
 */
export const pendingSafeTransactionSchema = z.object({
  format: z.literal(SAFE_TRANSACTION_FORMAT),
  chainId: z.number().int().positive(),
  safe: address,
  /** What the transaction does, in words. */
  description: z.string().max(2000),
  /** The Safe's EIP-712 hash of the transaction: what every owner signs. */
  safeTxHash: hex,
  transaction: transactionSchema,
  /** Signatures that count towards the Safe's threshold, one per owner. */
  signatures: z.array(signatureSchema),
  /**
   * Signatures of the owners of an owner that is itself a Safe, gathered until that Safe's own
   * threshold is met; then they become its one contract signature in `signatures`.
   */
  ownerSafeSignatures: z.array(ownerSafeSignatureSchema),
  proposedAt: z.string(),
  executed: executedSchema.optional(),
});

export type PendingSafeTransaction = z.infer<typeof pendingSafeTransactionSchema>;

const legacySchema = pendingSafeTransactionSchema
  .omit({ format: true, signatures: true, ownerSafeSignatures: true })
  .extend({
    format: z.literal(LEGACY_FORMAT),
    signatures: z.array(z.object({ signer: address, data: hex })),
  });

/**
 * Reads a pending transaction from a file's text (or parsed JSON) and checks its shape: the one
 * way in for the CLI's files and the UI's imports alike.
 */
export function parsePendingSafeTransaction(input: unknown): PendingSafeTransaction {
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (cause) {
      throw new BaseError("This is not a pending Safe transaction: it is not JSON.", {
        cause,
        hints: ["Use the file `npm run guardian -- propose` wrote, or the one the UI's Export saved."],
      });
    }
  }
  const format = (value as { format?: unknown } | null)?.format;
  if (format === LEGACY_FORMAT) {
    const legacy = legacySchema.safeParse(value);
    if (legacy.success) {
      return {
        ...legacy.data,
        format: SAFE_TRANSACTION_FORMAT,
        signatures: legacy.data.signatures.map((s) => ({ ...s, contract: false })),
        ownerSafeSignatures: [],
      };
    }
  }
  const parsed = pendingSafeTransactionSchema.safeParse(value);
  if (!parsed.success) {
    throw new BaseError(
      format === SAFE_TRANSACTION_FORMAT
        ? "This pending Safe transaction is damaged."
        : `This is not a pending Safe transaction (format ${JSON.stringify(format ?? null)}, expected ${SAFE_TRANSACTION_FORMAT}).`,
      {
        hints: [
          ...parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join(".") || "the file"}: ${issue.message}.`),
          "Ask whoever sent it for the original file.",
        ],
      },
    );
  }
  return parsed.data;
}

/** The file's text: what the CLI writes and the UI exports. */
export function serialisePendingSafeTransaction(pending: PendingSafeTransaction): string {
  return `${JSON.stringify(pendingSafeTransactionSchema.parse(pending), null, 2)}\n`;
}

/**
 * The same transaction signed along two paths (two owners each signed a copy): one file with every
 * signature of both. Signatures are only collected here; they are checked when used.
 */
export function mergePendingSafeTransactions(
  a: PendingSafeTransaction,
  b: PendingSafeTransaction,
): PendingSafeTransaction {
  if (a.safeTxHash.toLowerCase() !== b.safeTxHash.toLowerCase()) {
    throw new BaseError("These are two different transactions; only copies of the same one can be merged.", {
      hints: ["Finish or discard the transaction in progress before importing another one."],
    });
  }
  const signatures = [...a.signatures];
  for (const s of b.signatures) {
    if (!signatures.some((t) => isAddressEqual(t.signer, s.signer))) signatures.push(s);
  }
  const ownerSafeSignatures = [...a.ownerSafeSignatures];
  for (const s of b.ownerSafeSignatures) {
    const known = ownerSafeSignatures.some(
      (t) => isAddressEqual(t.ownerSafe, s.ownerSafe) && isAddressEqual(t.signer, s.signer),
    );
    // An owner Safe whose contract signature is complete needs its owners' parts no more.
    if (!known && !signatures.some((t) => isAddressEqual(t.signer, s.ownerSafe))) ownerSafeSignatures.push(s);
  }
  const executed = a.executed ?? b.executed;
  return { ...a, signatures, ownerSafeSignatures, ...(executed ? { executed } : {}) };
}

/** How to reach a chain's Safes, and who acts. */
export type SafeConnection = {
  /** An RPC URL or an EIP-1193 provider (a browser wallet's, or one that routes reads to the chain). */
  provider: string | Eip1193Provider;
  /** The acting account: its address (the provider signs for it) or, in the CLI, its private key. */
  signer?: string | undefined;
  chainId: number;
  /** The chain's Safe contracts; undefined: the canonical deployment protocol-kit knows. */
  contracts?: SafeContracts | undefined;
};

/** protocol-kit connected to one Safe, acting as the connection's signer. */
export async function connectSafe(connection: SafeConnection, safe: Address): Promise<ProtocolKit> {
  try {
    return await ProtocolKit.init({
      provider: connection.provider,
      ...(connection.signer ? { signer: connection.signer } : {}),
      safeAddress: safe,
      isL1SafeSingleton: true,
      contractNetworks: safeContractNetworks(connection.chainId, connection.contracts),
    });
  } catch (cause) {
    throw new BaseError(`Cannot use ${safe} as a Safe on chain ${connection.chainId}.`, {
      cause,
      hints: [
        "Check the address: it must be a Safe deployed on this chain.",
        "On a chain without the canonical Safe contracts, pass where they are (the guardian-safe.json the deploy wrote).",
      ],
    });
  }
}

async function signerOf(kit: ProtocolKit): Promise<Address> {
  const signer = await kit.getSafeProvider().getSignerAddress();
  if (!signer) throw new BaseError("No account is connected to sign.", { hints: ["Connect an owner's wallet."] });
  return getAddress(signer);
}

async function ownersOf(kit: ProtocolKit): Promise<Address[]> {
  return (await kit.getOwners()).map((o) => getAddress(o));
}

export type SafeCall = { to: Address; data: Hex; value?: bigint };

export type CreateSafeTransactionParameters = {
  connection: SafeConnection;
  safe: Address;
  /** One call, or several (batched through the Safe's MultiSend by protocol-kit). */
  calls: SafeCall[];
  description: string;
};

/** A new transaction of the Safe at its current nonce, signed by no one yet. */
export async function createSafeTransaction(
  parameters: CreateSafeTransactionParameters,
): Promise<PendingSafeTransaction> {
  const kit = await connectSafe(parameters.connection, parameters.safe);
  const transaction = await kit.createTransaction({
    transactions: parameters.calls.map((c) => ({ to: c.to, data: c.data, value: (c.value ?? 0n).toString() })),
  });
  const d = transaction.data;
  return {
    format: SAFE_TRANSACTION_FORMAT,
    chainId: parameters.connection.chainId,
    safe: getAddress(await kit.getAddress()),
    description: parameters.description,
    safeTxHash: (await kit.getTransactionHash(transaction)) as Hex,
    transaction: {
      to: getAddress(d.to),
      value: d.value,
      data: d.data as Hex,
      operation: d.operation === 1 ? 1 : 0,
      safeTxGas: d.safeTxGas,
      baseGas: d.baseGas,
      gasPrice: d.gasPrice,
      gasToken: getAddress(d.gasToken),
      refundReceiver: getAddress(d.refundReceiver),
      nonce: Number(d.nonce),
    },
    signatures: [],
    ownerSafeSignatures: [],
    proposedAt: new Date().toISOString(),
  };
}

/** How a connected account may sign for a Safe: as one of its owners, or as an owner of an owner that is a Safe. */
export type SafeSignerRole =
  | { kind: "owner"; account: Address }
  | { kind: "ownerSafe"; account: Address; ownerSafe: Address; ownerSafeThreshold: number }
  | { kind: "none"; account: Address };

/** Whether `account` can sign for `safe`, and how. */
export async function safeSignerRole(connection: SafeConnection, safe: Address): Promise<SafeSignerRole> {
  const kit = await connectSafe(connection, safe);
  const account = await signerOf(kit);
  const owners = await ownersOf(kit);
  if (owners.includes(account)) return { kind: "owner", account };
  const client = kit.getSafeProvider().getExternalProvider();
  for (const owner of owners) {
    const code = await client.getCode({ address: owner });
    if (!code || code === "0x") continue;
    const ownerKit = await connectSafe(connection, owner).catch(() => undefined);
    if (!ownerKit) continue; // a contract owner that is no Safe approves on chain (approveHash) instead.
    if ((await ownersOf(ownerKit)).includes(account)) {
      return { kind: "ownerSafe", account, ownerSafe: owner, ownerSafeThreshold: await ownerKit.getThreshold() };
    }
  }
  return { kind: "none", account };
}

/**
 * Rebuilds protocol-kit's transaction from the file and checks it against the chain: it is for
 * this chain and Safe, its hash is what the owners signed (the file was not altered), its nonce is
 * still unused, and every signature is a current owner's, as the Safe itself checks it.
 */
async function rebuild(connection: SafeConnection, kit: ProtocolKit, pending: PendingSafeTransaction) {
  const chainId = Number(await kit.getChainId());
  if (chainId !== pending.chainId) {
    throw new BaseError(`The transaction is for chain ${pending.chainId}; this is chain ${chainId}.`);
  }
  const safe = getAddress(await kit.getAddress());
  if (!isAddressEqual(safe, pending.safe)) {
    throw new BaseError(`The transaction is for the Safe ${pending.safe}, not ${safe}.`);
  }
  const transaction = new EthSafeTransaction({ ...pending.transaction, nonce: pending.transaction.nonce });
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
      { hints: ["Discard it; propose again if it is still needed."] },
    );
  }
  const preimage = preimageSafeTransactionHash(safe, transaction.data, kit.getContractVersion(), BigInt(chainId));
  const client = kit.getSafeProvider().getExternalProvider();
  for (const s of pending.signatures) {
    // The Safe recovers an account's signature itself, whatever name the file puts on it; a wrong
    // name would only misorder the packed signatures, so it is caught here.
    const recovered = s.contract ? s.signer : await recoverSafeSigner(hash, s.data).catch(() => undefined);
    if (!recovered || !isAddressEqual(recovered, s.signer)) {
      throw new BaseError(
        `The signature said to be ${s.signer}'s is not valid for this transaction: it was made by ${recovered ?? "no one"}.`,
        { hints: ["The file was altered. Do not execute it; ask for the original file, or propose again."] },
      );
    }
    const one = new EthSafeSignature(s.signer, s.data, s.contract);
    const single = new EthSafeTransaction(transaction.data);
    single.addSignature(one);
    try {
      // The Safe's own check (1.3.0 and 1.4.1): an account's ECDSA signature, or a contract owner's
      // EIP-1271 answer, for this hash, from a current owner.
      await client.readContract({
        address: safe,
        abi: CHECK_N_SIGNATURES_ABI,
        functionName: "checkNSignatures",
        args: [hash, preimage as Hex, single.encodedSignatures() as Hex, 1n],
      });
    } catch (cause) {
      throw new BaseError(
        `The signature said to be ${s.signer}'s is not valid for this transaction: the file was altered, or ${s.signer} is no longer an owner.`,
        { cause, hints: ["Do not execute it. Ask that owner to sign again, or propose again."] },
      );
    }
    transaction.addSignature(one);
  }
  await checkOwnerSafeSignatures(connection, pending, transaction);
  return transaction;
}

const CHECK_N_SIGNATURES_ABI = [
  {
    type: "function",
    name: "checkNSignatures",
    stateMutability: "view",
    inputs: [
      { name: "dataHash", type: "bytes32" },
      { name: "data", type: "bytes" },
      { name: "signatures", type: "bytes" },
      { name: "requiredSignatures", type: "uint256" },
    ],
    outputs: [],
  },
] as const;

/** The account behind an ECDSA signature of `hash`, typed-data style (v 27/28) or eth_sign style (v 31/32). */
async function recoverSafeSigner(hash: Hex, signature: Hex): Promise<Address> {
  const v = Number.parseInt(signature.slice(-2), 16);
  if (v > 30) {
    const adjusted = `${signature.slice(0, -2)}${(v - 4).toString(16)}` as Hex;
    return recoverAddress({ hash: hashMessage({ raw: hash }), signature: adjusted });
  }
  return recoverAddress({ hash, signature });
}

/**
 * The connected account adds its signature: as an owner of the Safe (EIP-712), or as an owner of an
 * owner that is a Safe (protocol-kit's Safe signature: an EIP-1271 contract signature, complete once
 * that Safe's own threshold of owners has signed). Returns the updated file; the input is unchanged.
 */
export async function signSafeTransaction(
  connection: SafeConnection,
  pending: PendingSafeTransaction,
): Promise<PendingSafeTransaction> {
  if (pending.executed) {
    throw new BaseError(`The transaction was already executed in ${pending.executed.transactionHash}.`);
  }
  const kit = await connectSafe(connection, pending.safe);
  const transaction = await rebuild(connection, kit, pending);
  const role = await safeSignerRole(connection, pending.safe);
  const signedBy = (who: Address) => pending.signatures.some((s) => isAddressEqual(s.signer, who));
  if (role.kind === "none") {
    throw new BaseError(`${role.account} is not an owner of the Safe ${pending.safe}, nor of a Safe that owns it.`, {
      hints: [`The owners are ${(await ownersOf(kit)).join(", ")}. Sign with one of their accounts.`],
    });
  }
  if (role.kind === "owner") {
    if (signedBy(role.account)) {
      throw new BaseError(`${role.account} has already signed this transaction.`, {
        hints: ["Another owner must sign it."],
      });
    }
    const unsigned = new EthSafeTransaction(transaction.data);
    const signed = await kit.signTransaction(unsigned, SIGN_TYPED_DATA_V4);
    const mine = [...signed.signatures.values()].find((s) => isAddressEqual(s.signer as Address, role.account));
    if (!mine) throw new BaseError("protocol-kit did not produce a signature.");
    return {
      ...pending,
      signatures: [...pending.signatures, { signer: role.account, data: mine.data as Hex, contract: false }],
    };
  }
  // An owner of an owner Safe signs the parent transaction as a message of that Safe.
  const { ownerSafe } = role;
  if (signedBy(ownerSafe)) {
    throw new BaseError(`The Safe ${ownerSafe}, which you own, has already signed this transaction.`);
  }
  const gathered = pending.ownerSafeSignatures.filter((s) => isAddressEqual(s.ownerSafe, ownerSafe));
  if (gathered.some((s) => isAddressEqual(s.signer, role.account))) {
    throw new BaseError(`${role.account} has already signed this transaction for the Safe ${ownerSafe}.`, {
      hints: [`Another owner of ${ownerSafe} must sign it.`],
    });
  }
  const ownerKit = await connectSafe(connection, ownerSafe);
  const unsigned = new EthSafeTransaction(transaction.data);
  const signed = await ownerKit.signTransaction(unsigned, SAFE_SIGNATURE, pending.safe);
  const mine = [...signed.signatures.values()].find((s) => isAddressEqual(s.signer as Address, role.account));
  if (!mine) throw new BaseError("protocol-kit did not produce a signature.");
  const parts = [...gathered, { ownerSafe, signer: role.account, data: mine.data as Hex }];
  const others = pending.ownerSafeSignatures.filter((s) => !isAddressEqual(s.ownerSafe, ownerSafe));
  if (parts.length < role.ownerSafeThreshold) {
    return { ...pending, ownerSafeSignatures: [...others, ...parts] };
  }
  const contractSignature = await buildContractSignature(
    parts.map((p) => new EthSafeSignature(p.signer, p.data)),
    ownerSafe,
  );
  return {
    ...pending,
    signatures: [...pending.signatures, { signer: ownerSafe, data: contractSignature.data as Hex, contract: true }],
    ownerSafeSignatures: others,
  };
}

export type SafeTransactionStatus = {
  safeTxHash: Hex;
  threshold: number;
  owners: Address[];
  /** Owners whose signature the file holds (accounts, and Safes whose owners have all signed). */
  signers: Address[];
  /** Owners that approved the hash on chain (approveHash): how contracts that are not Safes sign. */
  approvedOnChain: Address[];
  /** Owner Safes part-way through their own threshold. */
  ownerSafesSigning: { ownerSafe: Address; signed: Address[]; threshold: number }[];
  /** Signatures and approvals that count: the transaction may execute once this reaches the threshold. */
  confirmations: number;
  ready: boolean;
  /** The Safe's nonce moved past this transaction's: executed or replaced. */
  stale: boolean;
};

/** Where the transaction stands: who signed, how many more must, whether it can execute. */
export async function safeTransactionStatus(
  connection: SafeConnection,
  pending: PendingSafeTransaction,
): Promise<SafeTransactionStatus> {
  const kit = await connectSafe(connection, pending.safe);
  const [threshold, owners, nonce, approved] = await Promise.all([
    kit.getThreshold(),
    ownersOf(kit),
    kit.getNonce(),
    kit.getOwnersWhoApprovedTx(pending.safeTxHash),
  ]);
  const signers = pending.signatures.map((s) => s.signer);
  const approvedOnChain = approved.map((a) => getAddress(a)).filter((a) => !signers.includes(a));
  const ownerSafesSigning: SafeTransactionStatus["ownerSafesSigning"] = [];
  for (const ownerSafe of new Set(pending.ownerSafeSignatures.map((s) => s.ownerSafe))) {
    const ownerKit = await connectSafe(connection, ownerSafe);
    ownerSafesSigning.push({
      ownerSafe,
      signed: pending.ownerSafeSignatures.filter((s) => s.ownerSafe === ownerSafe).map((s) => s.signer),
      threshold: await ownerKit.getThreshold(),
    });
  }
  const confirmations = signers.length + approvedOnChain.length;
  const stale = pending.transaction.nonce < nonce;
  return {
    safeTxHash: pending.safeTxHash,
    threshold,
    owners,
    signers,
    approvedOnChain,
    ownerSafesSigning,
    confirmations,
    ready: !stale && !pending.executed && confirmations >= threshold,
    stale,
  };
}

/**
 * Checks that each signature an owner Safe's owners gave so far is an owner's of that Safe, for this
 * transaction: the Safe itself checks them only once they are all there, on execution.
 */
async function checkOwnerSafeSignatures(
  connection: SafeConnection,
  pending: PendingSafeTransaction,
  transaction: EthSafeTransaction,
) {
  for (const ownerSafe of new Set(pending.ownerSafeSignatures.map((s) => s.ownerSafe))) {
    const ownerKit = await connectSafe(connection, ownerSafe);
    const owners = await ownersOf(ownerKit);
    const preimage = preimageSafeTransactionHash(
      pending.safe,
      transaction.data,
      ownerKit.getContractVersion(),
      BigInt(pending.chainId),
    );
    const messageHash = (await ownerKit.getSafeMessageHash(preimage)) as Hex;
    for (const s of pending.ownerSafeSignatures.filter((p) => p.ownerSafe === ownerSafe)) {
      const recovered = await recoverSafeSigner(messageHash, s.data).catch(() => undefined);
      if (!recovered || !isAddressEqual(recovered, s.signer) || !owners.includes(getAddress(s.signer))) {
        throw new BaseError(`The signature said to be ${s.signer}'s for the Safe ${ownerSafe} is not valid.`, {
          hints: ["The file was altered, or that account no longer owns the Safe. Ask for the original file."],
        });
      }
    }
  }
}

const EXECUTION_FAILURE = toEventSelector("ExecutionFailure(bytes32,uint256)");

export type ExecuteSafeTransactionParameters = {
  /** Any account with gas money; an owner who has not signed counts as one more signature. */
  connection: SafeConnection;
  pending: PendingSafeTransaction;
  /** Errors the called contracts may revert with, to say why a call would fail. */
  errorsAbi?: Abi;
  /** Extra advice for a call that would revert with the named error. */
  hintsFor?: (errorName: string) => string[];
};

/** Executes the transaction once enough owners have signed it; returns the updated file. */
export async function executeSafeTransaction(
  parameters: ExecuteSafeTransactionParameters,
): Promise<PendingSafeTransaction> {
  const { connection, pending } = parameters;
  if (pending.executed) {
    throw new BaseError(`The transaction was already executed in ${pending.executed.transactionHash}.`);
  }
  const kit = await connectSafe(connection, pending.safe);
  const transaction = await rebuild(connection, kit, pending);
  const status = await safeTransactionStatus(connection, pending);
  const by = await signerOf(kit);
  // protocol-kit counts an executing owner who has not signed as one more signature.
  const executorCounts = status.owners.includes(by) && !status.signers.includes(by) ? 1 : 0;
  if (status.confirmations + executorCounts < status.threshold) {
    throw new BaseError(
      `The transaction has ${status.confirmations} of the ${status.threshold} owner signatures it needs.`,
      { hints: ["Another owner must sign it first."] },
    );
  }
  // The Safe refuses a transaction whose call fails only after the gas is spent: say first why it would fail.
  const failure = await simulateSafeCall(kit, pending, parameters.errorsAbi);
  if (failure) {
    throw new BaseError(`The Safe transaction would fail: the call it makes reverted with ${failure}.`, {
      hints: parameters.hintsFor?.(failure) ?? [
        "Check what the transaction calls, and that the Safe may make that call.",
      ],
    });
  }
  const result = await kit.executeTransaction(transaction);
  const transactionHash = result.hash as Hex;
  const client = kit.getSafeProvider().getExternalProvider();
  const receipt = await client.waitForTransactionReceipt({ hash: transactionHash, pollingInterval: 250 });
  // A Safe transaction whose inner call reverts still mines; the Safe then emits ExecutionFailure.
  const failed = receipt.logs.some((l) => isAddressEqual(l.address, pending.safe) && l.topics[0] === EXECUTION_FAILURE);
  if (receipt.status !== "success" || failed) {
    throw new BaseError(`The Safe transaction failed in ${transactionHash}: the call it makes reverted.`);
  }
  return { ...pending, executed: { transactionHash, by, at: new Date().toISOString() } };
}

/** The error the Safe's call would revert with now (its name and arguments), if any. */
async function simulateSafeCall(
  kit: ProtocolKit,
  pending: PendingSafeTransaction,
  errorsAbi: Abi = [],
): Promise<string | undefined> {
  if (pending.transaction.operation !== 0) return undefined; // a delegatecall (MultiSend) runs as the Safe itself.
  try {
    await kit
      .getSafeProvider()
      .getExternalProvider()
      .call({
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
      const decoded = decodeErrorResult({ abi: errorsAbi, data });
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
