import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeFunctionData, type Address, type Hex } from "viem";
import { policyGovernorAbi, policyRegistryAbi } from "@dao-ai/pipeline-worker/abis";
import {
  createSafeTransaction,
  executeSafeTransaction,
  parsePendingSafeTransaction,
  serialisePendingSafeTransaction,
  signSafeTransaction,
  type Eip1193Provider,
  type PendingSafeTransaction,
  type SafeConnection,
  type SafeContracts,
} from "@dao-ai/pipeline-worker/safe";
import { BaseError } from "@dao-ai/pipeline-worker/errors";

// The guardian CLI's side of a Safe transaction: the guardian's calls, its hints, and the files
// owners pass along. Creating, signing, checking and executing are the shared module's
// (@dao-ai/pipeline-worker/safe), which the governance UI runs in the browser on the same files.

export type GuardianConnectionParameters = {
  /** An RPC URL or an EIP-1193 provider. */
  provider: string | Eip1193Provider;
  /** The owner (or, to execute, any account) acting. */
  privateKey: Hex;
  chainId: number;
  /** The chain's Safe contracts; undefined: the canonical deployment protocol-kit knows. */
  contracts?: SafeContracts | undefined;
};

/** How the CLI reaches the guardian Safe: protocol-kit signs with the acting key. */
export function guardianConnection(parameters: GuardianConnectionParameters): SafeConnection {
  return {
    provider: parameters.provider,
    signer: parameters.privateKey,
    chainId: parameters.chainId,
    contracts: parameters.contracts,
  };
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
  connection: SafeConnection;
  safe: Address;
  to: Address;
  data: Hex;
  description: string;
};

/** An owner proposes a transaction of the guardian Safe and signs it first. */
export async function proposeGuardianTransaction(
  parameters: ProposeGuardianTransactionParameters,
): Promise<PendingSafeTransaction> {
  const { connection, safe, to, data, description } = parameters;
  const created = await createSafeTransaction({ connection, safe, calls: [{ to, data }], description });
  return signSafeTransaction(connection, created);
}

/** What to do when the guardian's call would revert with the named error. */
function guardianHints(failure: string): string[] {
  if (failure.startsWith("PolicyNotGuardian")) {
    return ["This Safe is no longer the guardian: the DAO replaced it. Check with `npm run guardian -- status`."];
  }
  if (failure.startsWith("PolicyKillSwitchAlreadyEngaged")) {
    return ["The kill switch is already engaged; there is nothing to do."];
  }
  if (failure.startsWith("GovernorUnableToCancel")) {
    return [
      "The guardian cannot cancel a proposal that only replaces the guardian or lifts the kill switch: the DAO can always replace its guardian by a vote.",
    ];
  }
  return ["Check what the transaction calls, and that the Safe may make that call."];
}

/** Anyone executes a guardian transaction once enough owners have signed it; returns the updated file. */
export function executeGuardianTransaction(connection: SafeConnection, pending: PendingSafeTransaction) {
  return executeSafeTransaction({
    connection,
    pending,
    // The Safe calls the registry (engage) or the Governor (cancel).
    errorsAbi: [...policyRegistryAbi, ...policyGovernorAbi],
    hintsFor: guardianHints,
  });
}

export function writePendingTransaction(directory: string, pending: PendingSafeTransaction): string {
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `${pending.safeTxHash}.json`);
  writeFileSync(file, serialisePendingSafeTransaction(pending));
  return file;
}

export function readPendingTransaction(file: string): PendingSafeTransaction {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new BaseError(`Cannot read the guardian transaction ${file}.`, {
      cause,
      hints: ["Pass the file `npm run guardian -- propose` wrote, or one the UI exported."],
    });
  }
  try {
    return parsePendingSafeTransaction(text);
  } catch (cause) {
    throw new BaseError(`${file}: ${cause instanceof BaseError ? cause.shortMessage : String(cause)}`, {
      cause,
      hints: cause instanceof BaseError ? cause.hints : [],
    });
  }
}

/** The transactions in a folder that were not executed yet, oldest first; files of other kinds are skipped. */
export function listPendingTransactions(directory: string): { file: string; pending: PendingSafeTransaction }[] {
  let names: string[];
  try {
    names = readdirSync(directory).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  const found: { file: string; pending: PendingSafeTransaction }[] = [];
  for (const name of names) {
    const file = join(directory, name);
    try {
      found.push({ file, pending: readPendingTransaction(file) });
    } catch {
      // Not a pending transaction (another tool's file, or a damaged one): `sign FILE` says why.
    }
  }
  return found
    .filter((p) => !p.pending.executed)
    .sort((a, b) => a.pending.proposedAt.localeCompare(b.pending.proposedAt));
}
