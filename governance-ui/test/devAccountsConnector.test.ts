// The development accounts as a wagmi connector, against Hardhat's in-process chain: it signs in
// the page (the node receives raw transactions only), acts as the account picked, refuses to sign
// for any other, and is remembered across a reload.
import { network } from "hardhat";
import {
  custom,
  parseEther,
  verifyMessage,
  verifyTypedData,
  type Chain,
  type EIP1193Provider,
  type EIP1193RequestFn,
} from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { beforeAll, describe, expect, test } from "vitest";
import { createConfig, createStorage, type Config } from "wagmi";
import {
  connect,
  disconnect,
  getConnection,
  reconnect,
  sendTransaction,
  signMessage,
  signTypedData,
  waitForTransactionReceipt,
} from "wagmi/actions";
import { devAccountsConnector } from "../src/lib/devAccountsConnector.ts";
import { DEV_MNEMONIC } from "../src/lib/devAccounts.ts";

const chain: Chain = {
  id: 31337,
  name: "Local chain",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: ["http://127.0.0.1:1"] } },
};
const address = (index: number) => mnemonicToAccount(DEV_MNEMONIC, { addressIndex: index }).address;

let node: EIP1193Provider;
/** What reached the node, by method. */
const seen: string[] = [];
/** localStorage stand-in, shared by the configs of one "browser". */
const stored = new Map<string, string>();

function createTestConfig(): Config {
  const transport = custom({
    request: ((request) => {
      seen.push(request.method);
      return node.request(request as never);
    }) as EIP1193RequestFn,
  });
  return createConfig({
    chains: [chain],
    connectors: [devAccountsConnector({ transport })],
    multiInjectedProviderDiscovery: false,
    storage: createStorage({
      storage: {
        getItem: (key) => stored.get(key) ?? null,
        setItem: (key, value) => void stored.set(key, value),
        removeItem: (key) => void stored.delete(key),
      },
    }),
    transports: { [chain.id]: transport },
  });
}

beforeAll(async () => {
  node = (await network.create()).provider as unknown as EIP1193Provider;
});

describe("devAccountsConnector", () => {
  test("acts as the account picked: sends, signs messages and typed data, all signed in the page", async () => {
    const config = createTestConfig();
    const [connector] = config.connectors;
    await connect(config, { connector: connector!, accountIndex: 3 } as never);
    expect(getConnection(config).address).toBe(address(3));

    seen.length = 0;
    const hash = await sendTransaction(config, { to: address(9), value: parseEther("1") });
    const receipt = await waitForTransactionReceipt(config, { hash });
    expect(receipt.from).toBe(address(3).toLowerCase());
    expect(seen).toContain("eth_sendRawTransaction");
    expect(seen).not.toContain("eth_sendTransaction");

    const message = "I am development account #3";
    const signature = await signMessage(config, { message });
    expect(await verifyMessage({ address: address(3), message, signature })).toBe(true);

    const typedData = {
      domain: { name: "Test", version: "1", chainId: chain.id },
      types: { Vote: [{ name: "proposalId", type: "uint256" }] },
      primaryType: "Vote",
      message: { proposalId: 42n },
    } as const;
    const typedSignature = await signTypedData(config, typedData);
    expect(await verifyTypedData({ address: address(3), ...typedData, signature: typedSignature })).toBe(true);
    expect(seen).not.toContain("eth_signTypedData_v4");
    await disconnect(config);
  });

  test("switches account as a wallet does, refuses to sign for another, and is remembered across a reload", async () => {
    const config = createTestConfig();
    const connector = config.connectors[0]! as Config["connectors"][number] & {
      selectAccount(index: number): Promise<void>;
    };
    await connect(config, { connector, accountIndex: 3 } as never);
    await connector.selectAccount(5);
    expect(getConnection(config).address).toBe(address(5));

    const provider = (await connector.getProvider()) as EIP1193Provider;
    await expect(
      provider.request({ method: "eth_sendTransaction", params: [{ from: address(3), to: address(9) }] }),
    ).rejects.toMatchObject({ code: 4100 });
    await expect(
      provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: "0x1" }] }),
    ).rejects.toMatchObject({ code: 4902 });
    await expect(connector.selectAccount(99)).rejects.toThrow("There is no development account #99.");
    expect(getConnection(config).address).toBe(address(5));

    // A reload: a new config over the same storage reconnects to #5 without asking.
    const reloaded = createTestConfig();
    await reconnect(reloaded);
    expect(getConnection(reloaded).address).toBe(address(5));

    await disconnect(reloaded);
    expect(await reloaded.connectors[0]!.isAuthorized()).toBe(false);
    const reloadedProvider = (await reloaded.connectors[0]!.getProvider()) as EIP1193Provider;
    expect(await reloadedProvider.request({ method: "eth_accounts" })).toEqual([]);
  });
});
