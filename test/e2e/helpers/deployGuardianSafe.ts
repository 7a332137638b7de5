import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import {
  encodeFunctionData,
  parseEventLogs,
  zeroAddress,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";

const require = createRequire(import.meta.url);

function artifact(file: string): { abi: Abi; bytecode: Hex } {
  const path = require.resolve(`@safe-global/safe-contracts/build/artifacts/contracts/${file}`);
  return JSON.parse(readFileSync(path, "utf8")) as { abi: Abi; bytecode: Hex };
}

/**
 * A Safe 1.4.1 on a local chain, made the plain way (singleton, proxy factory, `setup`), to be the
 * guardian in browser tests: the UI gathers its owners' EIP-712 signatures and executes through it.
 */
export async function deployGuardianSafe(parameters: {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain, Account>;
  owners: Address[];
  threshold: number;
}): Promise<Address> {
  const { publicClient, walletClient } = parameters;
  const deploy = async (file: string) => {
    const { abi, bytecode } = artifact(file);
    const hash = await walletClient.deployContract({ abi, bytecode });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (!receipt.contractAddress) throw new Error(`Deploying ${file} failed.`);
    return { address: receipt.contractAddress, abi };
  };
  const singleton = await deploy("Safe.sol/Safe.json");
  const factory = await deploy("proxies/SafeProxyFactory.sol/SafeProxyFactory.json");
  const initializer = encodeFunctionData({
    abi: singleton.abi,
    functionName: "setup",
    args: [
      parameters.owners,
      BigInt(parameters.threshold),
      zeroAddress,
      "0x",
      zeroAddress,
      zeroAddress,
      0n,
      zeroAddress,
    ],
  });
  const hash = await walletClient.writeContract({
    address: factory.address,
    abi: factory.abi,
    functionName: "createProxyWithNonce",
    args: [singleton.address, initializer, 0n],
  });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  const [created] = parseEventLogs({ abi: factory.abi, eventName: "ProxyCreation", logs: receipt.logs }) as unknown as {
    args: { proxy: Address };
  }[];
  if (!created) throw new Error("The Safe proxy factory created no Safe.");
  return created.args.proxy;
}
