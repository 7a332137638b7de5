import type { SafeConnection, SafeContracts } from "@dao-ai/pipeline-worker/safe";
import {
  numberToHex,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type TypedDataDefinition,
  type WalletClient,
} from "viem";

export type CreateSafeConnectionParameters = {
  /** Reads: the app's chain, whatever network the wallet is on. */
  publicClient: PublicClient;
  /** The connected wallet, which signs and sends; absent: read-only (who signed, is it ready). */
  walletClient?: WalletClient<Transport, Chain, Account> | undefined;
  chainId: number;
  safeContracts?: SafeContracts | undefined;
};

type RequestArguments = { method: string; params?: unknown };

/**
 * protocol-kit in the browser takes an EIP-1193 provider and the signer's address. This one reads
 * from the app's chain and hands every signature and transaction to the connected wallet client,
 * whatever is behind it: a browser wallet (which prompts its user) or the development accounts
 * (which sign in the page). viem has no helper that turns a wallet client back into a provider.
 */
export function createSafeConnection(parameters: CreateSafeConnectionParameters): SafeConnection {
  const { publicClient, walletClient, chainId } = parameters;
  const account = walletClient?.account;
  const provider = {
    async request({ method, params }: RequestArguments): Promise<unknown> {
      const args = (params ?? []) as unknown[];
      switch (method) {
        case "eth_accounts":
        case "eth_requestAccounts":
          return account ? [account.address] : [];
        case "eth_chainId":
          return numberToHex(chainId);
      }
      if (!walletClient || !account) return publicClient.request({ method, params } as never);
      switch (method) {
        case "eth_signTypedData_v4": {
          const typed = JSON.parse(args[1] as string) as TypedDataDefinition & { types: Record<string, unknown> };
          // viem adds the domain's type itself.
          const { EIP712Domain: _domainType, ...types } = typed.types;
          return walletClient.signTypedData({ ...typed, types, account } as never);
        }
        case "personal_sign":
          return walletClient.signMessage({ account, message: { raw: args[0] as Hex } });
        case "eth_sign":
          return walletClient.signMessage({ account, message: { raw: args[1] as Hex } });
        case "eth_sendTransaction": {
          const tx = args[0] as { to: Address; data?: Hex; value?: Hex; gas?: Hex };
          return walletClient.sendTransaction({
            account,
            chain: walletClient.chain,
            to: tx.to,
            ...(tx.data ? { data: tx.data } : {}),
            ...(tx.value ? { value: BigInt(tx.value) } : {}),
            ...(tx.gas ? { gas: BigInt(tx.gas) } : {}),
          });
        }
        default:
          return publicClient.request({ method, params } as never);
      }
    },
  };
  return { provider, signer: account?.address, chainId, contracts: parameters.safeContracts };
}
