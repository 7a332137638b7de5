import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useState } from "react";
import type {
  Abi,
  Account,
  Chain,
  ContractFunctionArgs,
  ContractFunctionName,
  Hex,
  SimulateContractParameters,
  TransactionReceipt,
  WriteContractParameters,
} from "viem";
import { useApp } from "./AppContext.tsx";
import { decodeError, type DecodedError } from "./decodeError.ts";
import { useWallet, type ConnectedWallet } from "./WalletContext.tsx";

export type TxState =
  | { status: "idle" }
  | { status: "simulating"; label: string }
  | { status: "signing"; label: string }
  | { status: "pending"; label: string; hash: Hex }
  | { status: "confirmed"; label: string; hash: Hex; blockNumber: bigint }
  | { status: "failed"; label: string; hash?: Hex; error: DecodedError };

type Mutability = "nonpayable" | "payable";

/** A transaction to send, typed by its ABI: a misspelt function or a wrong argument does not compile. */
export type WriteRequest<
  abi extends Abi = Abi,
  functionName extends ContractFunctionName<abi, Mutability> = ContractFunctionName<abi, Mutability>,
> = {
  /** What the person is doing, in words: "Vote for", "Queue the proposal". */
  label: string;
  address: Hex;
  abi: abi;
  functionName: functionName;
  args?: ContractFunctionArgs<abi, Mutability, functionName>;
  value?: bigint;
};

/**
 * Sends transactions and tracks them: simulated first (so a revert shows its decoded error before
 * anything is signed), then signed, pending, and confirmed or failed. Reads refresh on confirmation.
 */
export function useWrite() {
  const { publicClient } = useApp();
  const { wallet } = useWallet();
  const queryClient = useQueryClient();
  const [state, setState] = useState<TxState>({ status: "idle" });

  const track = useCallback(
    async (label: string, send: (wallet: ConnectedWallet) => Promise<Hex>): Promise<TransactionReceipt | undefined> => {
      if (!wallet) {
        setState({
          status: "failed",
          label,
          error: { name: "NoWallet", meaning: "Connect a wallet (or pick a development account) first.", args: [] },
        });
        return undefined;
      }
      let hash: Hex | undefined;
      try {
        setState({ status: "signing", label });
        hash = await send(wallet);
        setState({ status: "pending", label, hash });
        const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 500 });
        if (receipt.status !== "success") {
          setState({
            status: "failed",
            label,
            hash,
            error: { name: "Reverted", meaning: "The transaction was mined but reverted.", args: [] },
          });
          return receipt;
        }
        setState({ status: "confirmed", label, hash, blockNumber: receipt.blockNumber });
        void queryClient.invalidateQueries();
        return receipt;
      } catch (error) {
        setState({ status: "failed", label, ...(hash ? { hash } : {}), error: decodeError(error) });
        return undefined;
      }
    },
    [wallet, publicClient, queryClient],
  );

  const write = useCallback(
    async <const abi extends Abi, functionName extends ContractFunctionName<abi, Mutability>>(
      typed: WriteRequest<abi, functionName>,
    ): Promise<TransactionReceipt | undefined> => {
      // Checked at the call site against its ABI; from here on any ABI's call is sent the same way.
      const request = typed as WriteRequest;
      // Without a wallet, track() reports it and never calls the sender.
      if (!wallet) return track(request.label, () => Promise.resolve("0x"));
      setState({ status: "simulating", label: request.label });
      try {
        const simulation: SimulateContractParameters<
          Abi,
          string,
          readonly unknown[],
          Chain | undefined,
          Chain | undefined,
          Account | undefined
        > = {
          account: wallet.client.account,
          address: request.address,
          abi: request.abi,
          functionName: request.functionName,
          args: request.args ?? [],
          value: request.value,
        };
        await publicClient.simulateContract(simulation);
      } catch (error) {
        setState({ status: "failed", label: request.label, error: decodeError(error) });
        return undefined;
      }
      return track(request.label, (w) => {
        const transaction: WriteContractParameters = {
          account: w.client.account,
          chain: w.client.chain,
          address: request.address,
          abi: request.abi,
          functionName: request.functionName,
          args: request.args ?? [],
          value: request.value,
        };
        return w.client.writeContract(transaction);
      });
    },
    [wallet, publicClient, track],
  );

  const reset = useCallback(() => setState({ status: "idle" }), []);
  const busy = state.status === "simulating" || state.status === "signing" || state.status === "pending";
  return { state, write, track, reset, busy };
}
