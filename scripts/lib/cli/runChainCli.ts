import type { PublicClient } from "viem";
import { BaseError } from "@dao-ai/pipeline-worker/attestations";

/** What every chain CLI's commands run with: where the chain is and a client to it. */
export type ChainCliContext = { rpcUrl: string; local: boolean; publicClient: PublicClient };

export type RunChainCliParameters<C extends ChainCliContext> = {
  usage: string;
  help: boolean;
  /** The first positional argument. */
  command: string | undefined;
  commands: Record<string, (context: C) => Promise<void>>;
  loadContext: () => C;
};

/**
 * Runs a chain CLI's command (`npm run attest`, `npm run guardian`): prints the usage on --help or
 * without a command, refuses an unknown command, checks the chain answers before the command runs
 * (so an unreachable chain reads as that, not as a failed call deep inside it), and prints a
 * BaseError's message (what was wrong and what to do) rather than a stack trace, exiting 1.
 */
export function runChainCli<C extends ChainCliContext>(p: RunChainCliParameters<C>): void {
  const main = async () => {
    if (p.help || !p.command) {
      console.log(p.usage);
      process.exit(p.help ? 0 : 1);
    }
    const run = p.commands[p.command];
    if (!run) {
      const names = Object.keys(p.commands);
      throw new BaseError(`Unknown command "${p.command}".`, {
        hints: [`Use ${names.slice(0, -1).join(", ")} or ${names.at(-1)}.`],
      });
    }
    const context = p.loadContext();
    await context.publicClient.getChainId().catch((cause: unknown) => {
      throw new BaseError(`Cannot reach the chain at ${context.rpcUrl}.`, {
        cause,
        hints: context.local ? ["Is the stack running? Start it with `npm start`."] : ["Check --rpc-url."],
      });
    });
    await run(context);
  };
  main().catch((error: unknown) => {
    console.error(error instanceof BaseError ? error.message : error);
    process.exit(1);
  });
}
