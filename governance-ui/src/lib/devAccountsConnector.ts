import {
  createWalletClient,
  getAddress,
  hexToBigInt,
  hexToNumber,
  http,
  isAddressEqual,
  numberToHex,
  SwitchChainError,
  UnauthorizedProviderError,
  type Address,
  type EIP1193Parameters,
  type EIP1193Provider,
  type Hex,
  type RpcTransactionRequest,
  type Transport,
  type TypedDataDefinition,
} from "viem";
import { createConnector } from "wagmi";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { devAccounts } from "./devAccounts.ts";

export type DevAccountsConnectorParameters = {
  /** How the accounts reach the chain; the chain's first RPC URL over HTTP when absent. */
  transport?: Transport | undefined;
};

type Properties = {
  /** Development account `index` signs from now on, as if the person picked it in a wallet. */
  selectAccount(index: number): Promise<void>;
  connect(parameters?: {
    chainId?: number | undefined;
    isReconnecting?: boolean | undefined;
    /** Which development account to act as; the one used last (else #0) when absent. */
    accountIndex?: number | undefined;
  }): Promise<{ accounts: readonly Address[]; chainId: number }>;
};

type StorageItem = { "devAccounts.index": number };

devAccountsConnector.type = "devAccounts" as const;

/**
 * The development mnemonic's accounts as a wallet, for the local chain only: the demo runs with no
 * browser wallet installed. It is a whole EIP-1193 provider, not a client with a key in it, so
 * that everything built on providers (wagmi's actions, the Safe's protocol-kit) works with it as
 * with a browser wallet: it answers for the selected account, signs transactions, messages and
 * typed data in the page, and passes every other request to the chain.
 */
export function devAccountsConnector(parameters: DevAccountsConnectorParameters = {}) {
  let selected: number | undefined;

  return createConnector<EIP1193Provider, Properties, StorageItem>((config) => {
    const chain = config.chains[0];
    const transport = parameters.transport ?? http(chain.rpcUrls.default.http[0]);
    const rpc = transport({ chain, retryCount: 0 });

    async function account(index: number) {
      const list = await devAccounts();
      const found = list[index];
      if (!found) {
        throw new BaseError(`There is no development account #${index}.`, {
          hints: [`Pick one of #0 to #${list.length - 1}.`],
        });
      }
      return found;
    }

    async function signer(from: Address | undefined) {
      if (selected === undefined) throw notConnected();
      const current = await account(selected);
      if (from !== undefined && !isAddressEqual(from, current.address)) {
        throw new UnauthorizedProviderError(
          new BaseError(`The development account acting now is ${current.address}, not ${from}.`),
        );
      }
      return current;
    }

    async function request({ method, params }: EIP1193Parameters): Promise<unknown> {
      switch (method) {
        case "eth_accounts":
        case "eth_requestAccounts":
          return selected === undefined ? [] : [(await account(selected)).address];
        case "eth_chainId":
          return numberToHex(chain.id);
        case "wallet_switchEthereumChain": {
          const [{ chainId }] = params as [{ chainId: Hex }];
          if (hexToNumber(chainId) !== chain.id) {
            throw new SwitchChainError(new BaseError(`The development accounts exist on chain ${chain.id} only.`));
          }
          return null;
        }
        case "eth_sendTransaction": {
          const [tx] = params as [RpcTransactionRequest];
          const from = await signer(tx.from);
          const wallet = createWalletClient({ account: from, chain, transport });
          return wallet.sendTransaction(parseTransactionRequest(tx));
        }
        case "personal_sign": {
          const [message, address] = params as [Hex, Address];
          return (await signer(address)).signMessage({ message: { raw: message } });
        }
        case "eth_sign": {
          const [address, message] = params as [Address, Hex];
          return (await signer(address)).signMessage({ message: { raw: message } });
        }
        case "eth_signTypedData_v4": {
          const [address, typedData] = params as [Address, string | TypedDataDefinition];
          const definition = typeof typedData === "string" ? (JSON.parse(typedData) as TypedDataDefinition) : typedData;
          return (await signer(address)).signTypedData(definition);
        }
        default:
          return rpc.request({ method, params } as never);
      }
    }
    const provider = { request, on: () => {}, removeListener: () => {} } as unknown as EIP1193Provider;

    return {
      id: "devAccounts",
      name: "Development accounts",
      type: devAccountsConnector.type,
      async connect(parameters?: { accountIndex?: number | undefined }) {
        const index = parameters?.accountIndex ?? (await config.storage?.getItem("devAccounts.index")) ?? 0;
        const { address } = await account(index);
        selected = index;
        await config.storage?.setItem("devAccounts.index", index);
        return { accounts: [address], chainId: chain.id } as never;
      },
      async disconnect() {
        selected = undefined;
        await config.storage?.removeItem("devAccounts.index");
      },
      async getAccounts() {
        if (selected === undefined) throw notConnected();
        return [(await account(selected)).address];
      },
      async getChainId() {
        return chain.id;
      },
      async getProvider() {
        return provider;
      },
      async isAuthorized() {
        return (await config.storage?.getItem("devAccounts.index")) != null;
      },
      async selectAccount(index: number) {
        const { address } = await account(index);
        selected = index;
        await config.storage?.setItem("devAccounts.index", index);
        config.emitter.emit("change", { accounts: [address] });
      },
      onAccountsChanged(accounts) {
        if (accounts.length === 0) this.onDisconnect();
        else config.emitter.emit("change", { accounts: accounts.map((a) => getAddress(a)) });
      },
      onChainChanged(chainId) {
        config.emitter.emit("change", { chainId: Number(chainId) });
      },
      onDisconnect() {
        selected = undefined;
        config.emitter.emit("disconnect");
      },
    };
  });
}

function notConnected() {
  return new BaseError("No development account is selected.", { hints: ["Pick one under “Act as”."] });
}

/** eth_sendTransaction's hex fields as viem's sendTransaction takes them; the rest it fills in itself. */
function parseTransactionRequest(tx: RpcTransactionRequest) {
  const big = (value: Hex | undefined) => (value === undefined ? undefined : hexToBigInt(value));
  return {
    to: tx.to ?? null,
    data: tx.data,
    value: big(tx.value),
    gas: big(tx.gas),
    nonce: tx.nonce === undefined ? undefined : hexToNumber(tx.nonce),
    ...(tx.maxFeePerGas !== undefined
      ? { maxFeePerGas: big(tx.maxFeePerGas), maxPriorityFeePerGas: big(tx.maxPriorityFeePerGas) }
      : tx.gasPrice !== undefined
        ? { gasPrice: big(tx.gasPrice) }
        : {}),
  } as Parameters<ReturnType<typeof createWalletClient>["sendTransaction"]>[0];
}
