// The guardian Safe's commands: engage the kill switch through the Safe, one owner at a time.
//
//   npm run guardian -- propose --reason "why"   an owner proposes engaging the kill switch, and signs
//   npm run guardian -- sign [FILE]              a second owner signs the proposed transaction
//   npm run guardian -- execute [FILE]           anyone executes it once enough owners signed
//   npm run guardian -- status                   the kill switch, the guardian, pending transactions
//
// On the local stack (`npm start`) everything comes from the data directory and the owners are
// development accounts: pick one with --owner 1|2|3. On another chain pass --rpc-url and
// --manifest, and the acting key in GUARDIAN_PRIVATE_KEY (never a flag, so it stays out of shell
// history). A proposed transaction is a file; owners on different machines pass it along.
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { createPublicClient, http, isAddressEqual, type Address, type Hex, type PublicClient } from "viem";
import {
  safeTransactionStatus,
  signSafeTransaction,
  type PendingSafeTransaction,
  type SafeContracts,
} from "@dao-ai/pipeline-worker/safe";
import { privateKeyToAccount } from "viem/accounts";
import { policyRegistryAbi } from "../deployments/abis.ts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { SafeDeployment } from "./lib/deploy/deploySafe.ts";
import type { Deployment } from "./lib/deploy/deploySystem.ts";
import { DEV_ROLES, devPrivateKey } from "./lib/stack/devAccounts.ts";
import {
  engageKillSwitchCall,
  executeGuardianTransaction,
  guardianConnection,
  listPendingTransactions,
  proposeGuardianTransaction,
  readPendingTransaction,
  writePendingTransaction,
} from "./lib/actors/guardianTransactions.ts";
import { readManifest } from "./lib/deploy/manifest.ts";
import { DEFAULT_DATA_DIR, readJson, stackPaths, type StackInfo } from "./lib/stack/stackFiles.ts";
import { runChainCli } from "./lib/cli/runChainCli.ts";
import { LOCAL_CHAIN_ID } from "./lib/stack/stackServices.ts";

const USAGE = `Usage: npm run guardian -- <command> [options]

Commands:
  propose --reason TEXT   an owner proposes engaging the kill switch through the Safe, and signs it
  sign [FILE]             another owner adds a signature
  execute [FILE]          anyone executes it once enough owners have signed
  status                  the kill switch, the guardian Safe and its pending transactions

Options:
  --owner N               on the local stack: act as the Safe's owner N (1, 2 or 3)
  --account N             on the local stack: execute from development account N (default 9, an outsider)
  --data-dir DIR          the local stack's data directory (default .data)
  --rpc-url URL           another chain: its JSON-RPC endpoint (with --manifest)
  --manifest FILE         another chain: its deployment manifest (the guardian Safe is its guardian)
  --safe-contracts FILE   another chain: where its Safe contracts are, if not at the canonical addresses
                          (default: the FILE.guardian-safe.json npm run deploy wrote next to the manifest)
  --dir DIR               where proposed transactions are kept (default: the data directory's guardian/)

On another chain the acting key comes from GUARDIAN_PRIVATE_KEY. FILE defaults to the only
transaction pending in --dir.`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    reason: { type: "string" },
    owner: { type: "string" },
    account: { type: "string" },
    "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
    "rpc-url": { type: "string" },
    manifest: { type: "string" },
    "safe-contracts": { type: "string" },
    dir: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

type Context = {
  rpcUrl: string;
  chainId: number;
  deployment: Deployment;
  safe: Address;
  contracts: SafeContracts | undefined;
  pendingDir: string;
  local: boolean;
  publicClient: PublicClient;
};

const shown = (path: string) => relative(process.cwd(), path) || ".";

function loadContext(): Context {
  const remote = values["rpc-url"] !== undefined || values.manifest !== undefined;
  if (remote) {
    if (!values["rpc-url"] || !values.manifest) {
      throw new BaseError("--rpc-url and --manifest go together.", {
        hints: ["Pass the chain's RPC endpoint and the manifest `npm run deploy` wrote for it."],
      });
    }
    const deployment = readManifest(values.manifest);
    // Written by `npm run deploy -- --guardian-owners ...` next to the manifest; absent, the Safe
    // is taken to be made from the chain's canonical contracts.
    const safeFile = values["safe-contracts"] ?? values.manifest.replace(/\.json$/, ".guardian-safe.json");
    const described = existsSync(safeFile) ? readJson<SafeDeployment | SafeContracts>(safeFile) : undefined;
    // Either a Safe's description (with its contracts, if not canonical) or the contracts alone.
    const contracts = described && "address" in described ? described.contracts : described;
    return {
      rpcUrl: values["rpc-url"],
      chainId: deployment.chainId,
      deployment,
      safe: deployment.guardian,
      contracts,
      pendingDir: values.dir ?? join(process.cwd(), "guardian"),
      local: false,
      publicClient: createPublicClient({ transport: http(values["rpc-url"]) }) as PublicClient,
    };
  }
  const paths = stackPaths(values["data-dir"]!);
  const manifestFile = paths.manifest(LOCAL_CHAIN_ID);
  const safe = readJson<SafeDeployment>(paths.safe);
  if (!existsSync(manifestFile) || !safe) {
    throw new BaseError(`No local stack in ${shown(paths.root)}.`, {
      hints: [
        "Start it with `npm start` (or pass the --data-dir it uses).",
        "For another chain, pass --rpc-url and --manifest.",
      ],
    });
  }
  const stack = readJson<Partial<StackInfo>>(paths.stack);
  const rpcUrl = stack?.rpcUrl ?? "http://127.0.0.1:8545";
  return {
    rpcUrl,
    chainId: LOCAL_CHAIN_ID,
    deployment: readManifest(manifestFile),
    safe: safe.address,
    contracts: safe.contracts,
    pendingDir: values.dir ?? paths.guardian,
    local: true,
    publicClient: createPublicClient({ transport: http(rpcUrl) }) as PublicClient,
  };
}

/** The key acting: a named owner's or account's on the local stack, GUARDIAN_PRIVATE_KEY elsewhere. */
function actingKey(context: Context, role: "owner" | "executor", pending?: PendingSafeTransaction): Hex {
  const fromEnv = process.env.GUARDIAN_PRIVATE_KEY as Hex | undefined;
  if (!context.local) {
    if (!fromEnv) {
      throw new BaseError("GUARDIAN_PRIVATE_KEY is not set.", {
        hints: [
          role === "owner"
            ? "Export the private key of one of the Safe's owners as GUARDIAN_PRIVATE_KEY."
            : "Export any funded account's private key as GUARDIAN_PRIVATE_KEY; it pays the gas.",
        ],
      });
    }
    return fromEnv;
  }
  if (role === "executor") {
    const index = values.account === undefined ? DEV_ROLES.outsider : Number(values.account);
    return devPrivateKey(index);
  }
  const owners = DEV_ROLES.guardianOwners;
  let n: number;
  if (values.owner !== undefined) {
    n = Number(values.owner);
    if (!Number.isInteger(n) || n < 1 || n > owners.length) {
      throw new BaseError(`--owner must be 1, 2 or 3; got ${values.owner}.`);
    }
  } else {
    // The first owner who has not signed yet.
    const signed = (pending?.signatures ?? []).map((s) => s.signer);
    n =
      owners.findIndex(
        (index) => !signed.some((s) => isAddressEqual(s, privateKeyToAccount(devPrivateKey(index)).address)),
      ) + 1;
  }
  return devPrivateKey(owners[n - 1]!);
}

function pendingFile(context: Context): string {
  const given = positionals[1];
  if (given) return given;
  const pending = listPendingTransactions(context.pendingDir);
  if (pending.length === 1) return pending[0]!.file;
  throw new BaseError(
    pending.length === 0
      ? `No guardian transaction is pending in ${shown(context.pendingDir)}.`
      : `${pending.length} guardian transactions are pending in ${shown(context.pendingDir)}; say which.`,
    {
      hints:
        pending.length === 0
          ? ['Propose one first: npm run guardian -- propose --reason "why"']
          : pending.map((p) => `${shown(p.file)}: ${p.pending.description}`),
    },
  );
}

async function killSwitch(context: Context) {
  return context.publicClient.readContract({
    address: context.deployment.contracts.policyRegistry,
    abi: policyRegistryAbi,
    functionName: "killSwitch",
  });
}

async function propose(context: Context) {
  if (!values.reason) {
    throw new BaseError("--reason is required.", {
      hints: ['Say why the system must stop, e.g. --reason "Poisoned data found in the last training set".'],
    });
  }
  if ((await killSwitch(context)).engaged) {
    throw new BaseError("The kill switch is already engaged.", { hints: ["Only a DAO vote can lift it."] });
  }
  const call = engageKillSwitchCall(context.deployment.contracts.policyRegistry, values.reason);
  const safe = connection(context, actingKey(context, "owner"));
  const pending = await proposeGuardianTransaction({ connection: safe, safe: context.safe, ...call });
  const file = writePendingTransaction(context.pendingDir, pending);
  const { threshold, confirmations } = await safeTransactionStatus(safe, pending);
  console.log(
    `Owner ${pending.signatures[0]?.signer ?? pending.ownerSafeSignatures[0]?.signer} proposed: ${pending.description}`,
  );
  console.log(`  Safe ${pending.safe}, nonce ${pending.transaction.nonce}, safeTxHash ${pending.safeTxHash}`);
  console.log(`  Signed by ${confirmations} of the ${threshold} owners needed. Saved to ${shown(file)}`);
  console.log(
    `Next, another owner signs it:\n  npm run guardian -- sign ${shown(file)}${where(context, " --owner 2")}`,
  );
}

async function sign(context: Context) {
  const file = pendingFile(context);
  const pending = readPendingTransaction(file);
  const safe = connection(context, actingKey(context, "owner", pending));
  const signed = await signSafeTransaction(safe, pending);
  // Saved where the other commands look, whichever file it came from (the UI's export, a message).
  const saved = writePendingTransaction(context.pendingDir, signed);
  const { threshold, confirmations: count } = await safeTransactionStatus(safe, signed);
  console.log(`Owner ${privateKeyToAccount(safe.signer as Hex).address} signed: ${signed.description}`);
  console.log(`  Signed by ${count} of the ${threshold} owners needed. Saved to ${shown(saved)}`);
  console.log(
    count >= threshold
      ? `Next, anyone executes it (here, or in the UI's Guardian page):\n  npm run guardian -- execute ${shown(saved)}${where(context, "")}`
      : `Next, another owner signs it (here, or in the UI's Guardian page):\n  npm run guardian -- sign ${shown(saved)}${where(context, "")}`,
  );
}

async function execute(context: Context) {
  const file = pendingFile(context);
  const pending = readPendingTransaction(file);
  const executed = await executeGuardianTransaction(connection(context, actingKey(context, "executor")), pending);
  writePendingTransaction(context.pendingDir, executed);
  console.log(`Executed by ${executed.executed!.by} in transaction ${executed.executed!.transactionHash}.`);
  const state = await killSwitch(context);
  if (state.engaged) {
    console.log(`The kill switch is engaged: "${state.reason}".`);
    console.log("Workers stop ingest, inference and training as soon as they see it. Only a DAO vote can lift it.");
  }
}

async function status(context: Context) {
  const state = await killSwitch(context);
  const guardian = await context.publicClient.readContract({
    address: context.deployment.contracts.policyRegistry,
    abi: policyRegistryAbi,
    functionName: "guardian",
  });
  console.log(
    state.engaged
      ? `The kill switch is ENGAGED (engagement ${state.engagementId}) since ${new Date(Number(state.engagedAt) * 1000).toISOString()} by ${state.engagedBy}: "${state.reason}". Lifting it takes a vote on liftKillSwitch(${state.engagementId}).`
      : "The kill switch is off.",
  );
  console.log(`The registry's guardian is ${guardian}.`);
  if (!isAddressEqual(guardian, context.safe)) {
    console.log(`  That is not the Safe ${context.safe} this data names: the DAO has replaced the guardian.`);
  }
  const pending = listPendingTransactions(context.pendingDir);
  if (pending.length === 0) console.log(`No guardian transaction is pending in ${shown(context.pendingDir)}.`);
  for (const p of pending) {
    console.log(`Pending: ${p.pending.description}`);
    console.log(`  ${shown(p.file)}, signed by ${p.pending.signatures.map((s) => s.signer).join(", ")}`);
  }
}

/** The options the next command needs to reach the same Safe (with the next owner's key in the environment elsewhere). */
function where(context: Context, local: string): string {
  if (context.local) {
    return `${local}${values["data-dir"] === DEFAULT_DATA_DIR ? "" : ` --data-dir ${shown(values["data-dir"]!)}`}`;
  }
  return ` --rpc-url ${context.rpcUrl} --manifest ${shown(values.manifest!)}${values.dir ? ` --dir ${shown(values.dir)}` : ""}`;
}

function connection(context: Context, privateKey: Hex) {
  return guardianConnection({
    provider: context.rpcUrl,
    privateKey,
    chainId: context.chainId,
    contracts: context.contracts,
  });
}

runChainCli({
  usage: USAGE,
  help: values.help,
  command: positionals[0],
  commands: { propose, sign, execute, status },
  loadContext,
});
