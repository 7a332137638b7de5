import {
  getAddress,
  type Address,
  type Chain,
  type Hex,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { runRewardsAbi } from "@dao-ai/pipeline-worker/abis";
import {
  listCommittedModels,
  listContributions,
  readContributionEarnings,
  type CommittedModel,
  type ContributionEarning,
} from "@dao-ai/pipeline-worker/contributionEarnings";
import { BaseError } from "@dao-ai/pipeline-worker/attestations";
import type { WorkerClient } from "../createWorkerClient.ts";
import type { Deployment } from "../../deploy/deploySystem.ts";
import type { ChainCliContext } from "../../cli/runChainCli.ts";
import { eth, transact } from "../consume/consumeContext.ts";

/** What every `npm run contribute` command runs with: the chain, the contributor's wallet, a worker. */
export type ContributeContext = ChainCliContext & {
  deployment: Deployment;
  wallet: WalletClient<Transport, Chain, LocalAccount>;
  /** Whose earnings are shown (the wallet's, unless --contributor names another). */
  contributor: Address;
  /** A worker that serves the models' contributions trees (`GET /v1/runs/:runId/contributions`). */
  worker: WorkerClient;
  options: Readonly<Record<string, string | boolean | string[] | undefined>>;
  say: (line: string) => void;
};

export const EARNINGS_USAGE = `  earnings             which models used each of the contributor's contributions, and what each earned
                       from that model's fees (claimed, claimable)
  claim                claim everything claimable, with the proofs from the models' contributions trees
                       (--run RUN and --data HASH narrow it to one model or one contribution)`;

/** The contributor's rows, one per (model, contribution), read from the chain and the worker's trees. */
async function earningsOf(context: ContributeContext): Promise<{ rows: ContributionEarning[]; dataHashes: Hex[] }> {
  const { publicClient, deployment, worker } = context;
  const { contributorRewards, modelCommitments, runRewards } = deployment.contracts;
  const fromBlock = BigInt(deployment.deploymentBlock);
  const [dataHashes, models] = await Promise.all([
    listContributions(publicClient as PublicClient, contributorRewards, context.contributor, fromBlock),
    listCommittedModels(publicClient as PublicClient, modelCommitments, fromBlock),
  ]);
  const readTree = async (model: CommittedModel) => {
    const { status, body } = await worker.get(`/v1/runs/${model.runId}/contributions`);
    if (status !== 200) {
      throw new BaseError(`The worker at ${worker.url} did not give the contributions of run ${model.runId}.`, {
        hints: [
          `It answered ${status} ${body.code ?? ""}: ${body.detail ?? ""}`,
          "Pass --worker-url of a worker that trained or serves it.",
        ],
      });
    }
    return JSON.stringify(body);
  };
  const rows = await readContributionEarnings({
    publicClient: publicClient as PublicClient,
    contracts: { contributorRewards, modelCommitments, runRewards },
    models,
    dataHashes,
    readTree,
  });
  return { rows, dataHashes };
}

const short = (hex: string) => `${hex.slice(0, 10)}…`;

async function earnings(context: ContributeContext) {
  const { rows, dataHashes } = await earningsOf(context);
  if (dataHashes.length === 0) {
    console.log(`${context.contributor} has no recorded contribution.`);
    return;
  }
  for (const dataHash of dataHashes) {
    const used = rows.filter((r) => r.dataHash === dataHash.toLowerCase());
    console.log(`Contribution ${dataHash}:`);
    if (used.length === 0) console.log("  in no committed model yet: it earns from no model's queries.");
    for (const r of used) {
      console.log(
        `  model of run ${short(r.runId)}: weight ${r.weight} of ${r.totalWeight}; earned ${eth(r.claimed + r.claimable)} (claimed ${eth(r.claimed)}, claimable ${eth(r.claimable)}) of the ${eth(r.poolReceived)} its queries and grants paid so far`,
      );
    }
  }
  const claimable = rows.reduce((sum, r) => sum + r.claimable, 0n);
  if (claimable > 0n) context.say(`Claim ${eth(claimable)} with \`npm run contribute -- claim\`.`);
}

async function claim(context: ContributeContext) {
  const { rows } = await earningsOf(context);
  const run = context.options.run as string | undefined;
  const data = context.options.data as string | undefined;
  const chosen = rows.filter(
    (r) =>
      r.claimable > 0n &&
      (run === undefined || r.runId === run.toLowerCase()) &&
      (data === undefined || r.dataHash === data.toLowerCase()),
  );
  if (chosen.length === 0) {
    throw new BaseError("Nothing to claim.", {
      hints: ["`npm run contribute -- earnings` shows what each contribution earned and what is left to claim."],
    });
  }
  const total = chosen.reduce((sum, r) => sum + r.claimable, 0n);
  const hints = {
    RunRewardsKillSwitchEngaged: "The kill switch is engaged: claims wait until a vote lifts it.",
    RunRewardsContributionVoided: "A vote voided this contribution: it is paid from no pool.",
  };
  await transact(
    context,
    `Claiming ${eth(total)} for ${chosen.length} contribution${chosen.length === 1 ? "" : "s"} in ${new Set(chosen.map((r) => r.runId)).size} model(s)`,
    () =>
      context.wallet.writeContract({
        address: context.deployment.contracts.runRewards,
        abi: runRewardsAbi,
        functionName: "claimMany",
        args: [chosen.map((r) => ({ runId: r.runId, dataHash: r.dataHash, weight: r.weight, proof: r.proof }))],
      }),
    hints,
  );
  console.log(`Claimed ${eth(total)} for ${getAddress(chosen[0]!.contributor)}.`);
}

export const earningsCommands = { earnings, claim };
