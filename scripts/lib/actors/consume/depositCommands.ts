import { parseEther } from "viem";
import { usageSettlementAbi } from "@dao-ai/pipeline-worker/abis";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { eth, transact, type ConsumeCommands, type ConsumeContext } from "./consumeContext.ts";

const USAGE = `  deposit ETH          add ETH to the consumer's deposit in UsageSettlement: it pays the query fees
  withdraw             the deposit and any withdrawal pending
  withdraw request ETH ask to withdraw; it unlocks once the settlement window of the current epoch has
                       closed (what was served before can still be charged), and workers count it gone at once
  withdraw take        take the requested amount once unlocked`;

function amount(text: string | undefined, what: string): bigint {
  if (text === undefined || !/^\d+(\.\d+)?$/.test(text) || parseEther(text) === 0n) {
    throw new BaseError(`${what} takes an amount of ETH above 0, such as 0.01; got ${text ?? "nothing"}.`);
  }
  return parseEther(text);
}

async function accountOf(context: ConsumeContext) {
  const [balance, pendingWithdrawal, unlocksAt] = await context.publicClient.readContract({
    address: context.deployment.contracts.usageSettlement,
    abi: usageSettlementAbi,
    functionName: "accountOf",
    args: [context.consumer],
  });
  return { balance, pendingWithdrawal, unlocksAt };
}

const when = (seconds: bigint) => new Date(Number(seconds) * 1000).toISOString();

async function deposit(context: ConsumeContext) {
  const value = amount(context.args[0], "deposit");
  // Anyone may pay into a consumer's deposit: --consumer names another's.
  const consumer = context.consumer;
  await transact(context, `Depositing ${eth(value)} for ${consumer}`, () =>
    context.wallet.writeContract({
      address: context.deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "deposit",
      args: [consumer],
      value,
    }),
  );
  console.log(`Deposit of ${consumer}: ${eth((await accountOf(context)).balance)}.`);
}

async function withdraw(context: ConsumeContext) {
  const { usageSettlement } = context.deployment.contracts;
  const [action, value] = context.args;
  const account = await accountOf(context);
  if (action === undefined) {
    console.log(`Deposit of ${context.consumer}: ${eth(account.balance)}.`);
    console.log(
      account.pendingWithdrawal === 0n
        ? "No withdrawal is pending."
        : `Withdrawal of ${eth(account.pendingWithdrawal)} pending, unlocked from ${when(account.unlocksAt)}; workers already count it as gone.`,
    );
    return;
  }
  if (action === "request") {
    const wei = amount(value, "withdraw request");
    if (wei > account.balance) {
      throw new BaseError(`The deposit is ${eth(account.balance)}: less than the ${eth(wei)} asked for.`);
    }
    if (account.pendingWithdrawal > 0n) {
      context.say(`This replaces the pending withdrawal of ${eth(account.pendingWithdrawal)} (and restarts its wait).`);
    }
    await transact(context, `Requesting a withdrawal of ${eth(wei)}`, () =>
      context.wallet.writeContract({
        address: usageSettlement,
        abi: usageSettlementAbi,
        functionName: "requestWithdrawal",
        args: [wei],
      }),
    );
    const after = await accountOf(context);
    console.log(`Withdrawal of ${eth(after.pendingWithdrawal)} requested; take it from ${when(after.unlocksAt)} with:`);
    console.log(`  npm run consume -- withdraw take${context.where}`);
    console.log("Until then the workers count it as gone: they serve only what the rest of the deposit pays for.");
    return;
  }
  if (action === "take") {
    if (account.pendingWithdrawal === 0n) {
      throw new BaseError("No withdrawal is pending.", {
        hints: [`Request one first: npm run consume -- withdraw request ETH${context.where}`],
      });
    }
    const now = (await context.publicClient.getBlock()).timestamp;
    if (now < account.unlocksAt) {
      throw new BaseError(`The withdrawal unlocks at ${when(account.unlocksAt)}, in ${account.unlocksAt - now} s.`, {
        hints: ["It waits until no settlement can still charge the queries served before the request; try again then."],
      });
    }
    await transact(context, `Withdrawing ${eth(account.pendingWithdrawal)}`, () =>
      context.wallet.writeContract({ address: usageSettlement, abi: usageSettlementAbi, functionName: "withdraw" }),
    );
    console.log(`Withdrawn. Deposit left: ${eth((await accountOf(context)).balance)}.`);
    return;
  }
  throw new BaseError(`Unknown withdraw command "${action}".`, {
    hints: ["Use withdraw, withdraw request ETH or withdraw take."],
  });
}

export const depositCommands: ConsumeCommands = { usage: USAGE, commands: { deposit, withdraw } };
