import {
  BaseError as ViemError,
  ContractFunctionRevertedError,
  formatEther,
  type Address,
  type Chain,
  type Hash,
  type LocalAccount,
  type Transport,
  type WalletClient,
} from "viem";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { WorkerClient } from "../createWorkerClient.ts";
import type { Deployment } from "../../deploy/deploySystem.ts";
import type { ChainCliContext } from "../../cli/runChainCli.ts";

/** What every `npm run consume` command runs with: the chain, the consumer's wallet, the workers. */
export type ConsumeContext = ChainCliContext & {
  deployment: Deployment;
  /** The consumer's wallet: CONSUMER_PRIVATE_KEY, or a development account on the local stack. */
  wallet: WalletClient<Transport, Chain, LocalAccount>;
  /** The consumer whose usage and keys are shown (the wallet's, unless --consumer names another). */
  consumer: Address;
  /** The workers the consumer uses (--worker-url, or the local stack's worker). */
  workers: WorkerClient[];
  /** The positional arguments after the command's name, e.g. `join-tier 1` gives ["1"], `keys revoke K` ["revoke", "K"]. */
  args: string[];
  /** The command line's options, by name. */
  options: Readonly<Record<string, string | boolean | string[] | undefined>>;
  /** The options that reach the same chain and consumer again, to print the next command. */
  where: string;
  /** Progress and explanations for a person (standard error: standard output carries results only). */
  say: (line: string) => void;
};

export type ConsumeCommand = (context: ConsumeContext) => Promise<void>;

/** A command group's entry in `npm run consume -- --help`. */
export type ConsumeCommands = { usage: string; commands: Record<string, ConsumeCommand> };

/**
 * Sends one of the consumer's transactions and waits for it, saying what it does. A revert is
 * reported by the contract error's name and arguments (from the ABI), with `hints` for the errors
 * the caller expects, instead of viem's hex-laden message.
 */
export async function transact(
  context: Pick<ConsumeContext, "say" | "publicClient">,
  what: string,
  send: () => Promise<Hash>,
  hints: Record<string, string> = {},
) {
  context.say(`${what}...`);
  let hash: Hash;
  try {
    hash = await send();
  } catch (cause) {
    const reverted =
      cause instanceof ViemError ? cause.walk((e) => e instanceof ContractFunctionRevertedError) : undefined;
    if (reverted instanceof ContractFunctionRevertedError && reverted.data?.errorName) {
      const { errorName, args = [] } = reverted.data;
      const shown = args.map((a) => (typeof a === "bigint" ? a.toString() : String(a))).join(", ");
      throw new BaseError(`Refused by the contract: ${errorName}(${shown}).`, {
        cause,
        hints: hints[errorName] ? [hints[errorName]] : [],
      });
    }
    throw new BaseError(`Could not send the transaction (${what}).`, { cause });
  }
  const receipt = await context.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new BaseError(`The transaction ${hash} reverted.`);
  context.say(`  done in transaction ${hash} (block ${receipt.blockNumber}).`);
  return receipt;
}

/** Wei as ETH for a person: `0.001 ETH`. */
export const eth = (wei: bigint) => `${formatEther(wei)} ETH`;
