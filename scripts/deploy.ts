// Deploys the whole system to any EVM chain, verifies it, and writes deployments/<chainId>.json.
//
//   npm run deploy -- --rpc-url https://rpc.example --guardian 0xSafe... [--eas 0x.. --schema-registry 0x..]
//
// The deployer key comes from DEPLOYER_PRIVATE_KEY (never a flag, so it stays out of shell history).
// Without --rpc-url it deploys to a local node at http://127.0.0.1:8545 with its first development
// account. Where the chain already has EAS, pass its addresses to reuse it.
import { parseArgs } from "node:util";
import { createPublicClient, createWalletClient, http, isAddress, type Address, type Hex } from "viem";
import { privateKeyToAccount, mnemonicToAccount } from "viem/accounts";
import { BaseError } from "../pipeline-worker/src/internal/BaseError.ts";
import { deploySystem } from "./lib/deploySystem.ts";
import { manifestPath, writeManifest } from "./lib/manifest.ts";
import { assertVerified, verifyDeployment } from "./lib/verifyDeployment.ts";

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
    "epoch-length": { type: "string" },
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
  const account = key ? privateKeyToAccount(key) : mnemonicToAccount(DEV_MNEMONIC);
  const chain = {
    id: chainId,
    name: `chain ${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  };
  const walletClient = createWalletClient({ account, chain, transport });

  const guardian =
    address("guardian", values.guardian) ??
    (local ? mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 4 }).address : undefined);
  if (!guardian) {
    throw new BaseError("--guardian is required on a public chain.", {
      hints: ["Pass the guardian Safe's address; it may engage the kill switch and cancel proposals."],
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
    timelockMinDelay: values["timelock-delay"] ? BigInt(values["timelock-delay"]) : undefined,
    epochLength: values["epoch-length"] ? BigInt(values["epoch-length"]) : undefined,
    onProgress: (step) => console.log(`  ${step}`),
  });
  console.log("Verifying the deployment");
  const checks = await verifyDeployment(publicClient, deployment);
  for (const check of checks) console.log(`  ${check.ok ? "ok  " : "FAIL"} ${check.name}`);
  assertVerified(checks);
  const path = writeManifest(deployment, values.out ?? manifestPath(chainId));
  console.log(`Wrote ${path}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof BaseError ? error.message : error);
  process.exit(1);
});
