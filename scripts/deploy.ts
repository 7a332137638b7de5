// Deploys the whole system to any EVM chain, verifies it, and writes deployments/<chainId>.json.
//
//   npm run deploy -- --rpc-url https://rpc.example --guardian 0xSafe... [--eas 0x.. --schema-registry 0x..] \
//     --holder 0xA...:400000 --holder 0xB...:250000 [--holders holders.json] \
//     --block-time 2 --voting-delay 1d --voting-period 7d --timelock-delay 2d [--proposal-threshold 1000 --quorum 4]
//   npm run deploy -- --rpc-url https://rpc.example --guardian-owners 0xA,0xB,0xC [--guardian-threshold 2] ...
//
// Off the local chain the initial token holders and the governance timings must be given (see
// lib/deployParameters.ts for the minimums); the local chain gets the demo's holders and timings.
// The deployer key comes from DEPLOYER_PRIVATE_KEY (never a flag, so it stays out of shell history).
// Without --rpc-url it deploys to a local node at http://127.0.0.1:8545 with its first development
// account. Where the chain already has EAS, pass its addresses to reuse it. The guardian is an
// existing Safe (--guardian), or a new one created here from the chain's canonical Safe 1.4.1
// contracts (--guardian-owners; --safe-contracts FILE where they are elsewhere, or
// --deploy-safe-contracts on a chain that has none).
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  createPublicClient,
  createWalletClient,
  http,
  isAddress,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { privateKeyToAccount, mnemonicToAccount } from "viem/accounts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { deploySafe, type SafeContracts, type SafeDeployment } from "./lib/deploy/deploySafe.ts";
import { deployParameters, parseClockMode } from "./lib/deploy/deployParameters.ts";
import { deploySystem, governanceTokenClockMode } from "./lib/deploy/deploySystem.ts";
import { manifestPath, writeManifest } from "./lib/deploy/manifest.ts";
import { assertVerified, verifyDeployment } from "./lib/deploy/verifyDeployment.ts";
import { chainAt } from "./lib/cli/chainAt.ts";

/** Hardhat's and Anvil's public development mnemonic: for local chains only. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";

const { values } = parseArgs({
  options: {
    "rpc-url": { type: "string", default: process.env.RPC_URL ?? "http://127.0.0.1:8545" },
    guardian: { type: "string" },
    eas: { type: "string" },
    "schema-registry": { type: "string" },
    out: { type: "string" },
    "timelock-delay": { type: "string" },
    holder: { type: "string", multiple: true },
    holders: { type: "string" },
    supply: { type: "string" },
    "block-time": { type: "string" },
    "voting-delay": { type: "string" },
    "voting-period": { type: "string" },
    "late-quorum-extension": { type: "string" },
    "proposal-threshold": { type: "string" },
    quorum: { type: "string" },
    "epoch-length": { type: "string" },
    "guardian-owners": { type: "string" },
    "guardian-threshold": { type: "string" },
    "safe-contracts": { type: "string" },
    "deploy-safe-contracts": { type: "boolean", default: false },
  },
});

function address(flag: string, value: string | undefined): Address | undefined {
  if (value === undefined) return undefined;
  if (!isAddress(value)) {
    throw new BaseError(`--${flag} is not an address: ${value}`, { hints: ["Pass a 0x-prefixed 20-byte address."] });
  }
  return value;
}

async function main() {
  const rpcUrl = values["rpc-url"]!;
  const transport = http(rpcUrl);
  const publicClient = createPublicClient({ transport });
  const chainId = await publicClient.getChainId().catch((cause: unknown) => {
    throw new BaseError(`Cannot reach the chain at ${rpcUrl}.`, {
      cause,
      hints: ["Check --rpc-url (or RPC_URL), or start a local chain with `npx hardhat node`."],
    });
  });
  const key = process.env.DEPLOYER_PRIVATE_KEY as Hex | undefined;
  const local = chainId === 31337;
  if (!key && !local) {
    throw new BaseError("DEPLOYER_PRIVATE_KEY is not set.", {
      hints: ["Export the deployer's private key as DEPLOYER_PRIVATE_KEY; it needs gas money on the chain."],
    });
  }
  // Checked before anything is sent: a deployment nobody could govern is refused, not verified after.
  const governance = deployParameters(values, {
    chainId,
    clock: parseClockMode(await governanceTokenClockMode(publicClient)),
  });
  const account = key ? privateKeyToAccount(key) : mnemonicToAccount(DEV_MNEMONIC);
  const chain = chainAt(chainId, rpcUrl);
  const walletClient = createWalletClient({ account, chain, transport });

  if (values.guardian && values["guardian-owners"]) {
    throw new BaseError("Pass --guardian or --guardian-owners, not both.", {
      hints: ["--guardian names an existing Safe; --guardian-owners creates one."],
    });
  }
  const safe = values["guardian-owners"] ? await createGuardianSafe(rpcUrl, publicClient, walletClient) : undefined;
  const guardian =
    safe?.address ??
    address("guardian", values.guardian) ??
    (local ? mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 4 }).address : undefined);
  if (!guardian) {
    throw new BaseError("--guardian or --guardian-owners is required on a public chain.", {
      hints: [
        "Pass the guardian Safe's address, or its owners to create one; it may engage the kill switch and cancel proposals.",
      ],
    });
  }
  const eas = address("eas", values.eas);
  const schemaRegistry = address("schema-registry", values["schema-registry"]);
  if ((eas === undefined) !== (schemaRegistry === undefined)) {
    throw new BaseError("--eas and --schema-registry go together.", {
      hints: ["Pass both to reuse a chain's EAS, or neither to deploy one."],
    });
  }

  console.log(`Deploying to chain ${chainId} at ${rpcUrl} from ${account.address}`);
  const deployment = await deploySystem({
    publicClient,
    walletClient,
    guardian,
    existingEas: eas && schemaRegistry ? { eas, schemaRegistry } : undefined,
    ...governance,
    epochLength: values["epoch-length"] ? BigInt(values["epoch-length"]) : undefined,
    onProgress: (step) => console.log(`  ${step}`),
  });
  console.log("Verifying the deployment");
  const checks = await verifyDeployment(publicClient, deployment);
  for (const check of checks) console.log(`  ${check.ok ? "ok  " : "FAIL"} ${check.name}`);
  assertVerified(checks);
  const path = writeManifest(deployment, values.out ?? manifestPath(chainId));
  console.log(`Wrote ${path}`);
  if (safe) {
    // The guardian commands need the Safe's contracts where they are not the canonical ones.
    const safeFile = path.replace(/\.json$/, ".guardian-safe.json");
    writeFileSync(safeFile, `${JSON.stringify(safe, null, 2)}\n`);
    console.log(`Wrote ${safeFile}`);
  }
}

/** Creates the guardian Safe from --guardian-owners and --guardian-threshold. */
async function createGuardianSafe(
  rpcUrl: string,
  publicClient: PublicClient,
  walletClient: Parameters<typeof deploySafe>[0]["walletClient"],
): Promise<SafeDeployment> {
  const owners = values["guardian-owners"]!.split(",").map((o, i) =>
    address(`guardian-owners (owner ${i + 1})`, o.trim())!,
  );
  const threshold = Number(values["guardian-threshold"] ?? Math.min(2, owners.length));
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > owners.length) {
    throw new BaseError(`--guardian-threshold must be between 1 and the ${owners.length} owners.`);
  }
  let contracts: SafeContracts | undefined;
  if (values["safe-contracts"]) {
    try {
      contracts = JSON.parse(readFileSync(values["safe-contracts"], "utf8")) as SafeContracts;
    } catch (cause) {
      throw new BaseError(`Cannot read the Safe contracts file ${values["safe-contracts"]}.`, {
        cause,
        hints: [
          "It is a JSON object with protocol-kit's field names: safeSingletonAddress, safeProxyFactoryAddress, ...",
        ],
      });
    }
  }
  console.log(`Creating a ${threshold}-of-${owners.length} guardian Safe`);
  try {
    const safe = await deploySafe({
      provider: rpcUrl,
      publicClient,
      walletClient,
      owners,
      threshold,
      deployContracts: values["deploy-safe-contracts"]!,
      ...(contracts ? { contracts } : {}),
      onProgress: (step) => console.log(`  ${step}`),
    });
    console.log(`  the guardian Safe is ${safe.address}`);
    return safe;
  } catch (cause) {
    if (cause instanceof BaseError) throw cause;
    throw new BaseError("Creating the guardian Safe failed.", {
      cause,
      hints: [
        "protocol-kit knows the canonical Safe 1.4.1 contracts of most chains; where they are elsewhere, pass --safe-contracts FILE.",
        "On a chain without Safe contracts (a new devnet), pass --deploy-safe-contracts.",
      ],
    });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof BaseError ? error.message : error);
  process.exit(1);
});
