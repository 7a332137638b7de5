import {
  BaseError as ViemError,
  ContractFunctionRevertedError,
  type Address,
  type GetContractReturnType,
  type Hex,
} from "viem";
import { policyRegistryAbi } from "../../deployments/abis.ts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { decodePolicyLog } from "@dao-ai/pipeline-worker/decodePolicyLog";
import {
  describePolicyCall,
  describePolicyEvent,
  policyCall,
  type PolicySetter,
  type PolicySetterArgs,
} from "@dao-ai/pipeline-worker/policy-actions";
import { createGovernanceDriver, type Proposal, type ProposalAction } from "../lib/actors/createGovernanceDriver.ts";
import { createReporter } from "../lib/cli/createReporter.ts";
import type { WorkerClient, WorkerResponse } from "../lib/actors/createWorkerClient.ts";
import type { Deployment } from "../lib/deploy/deploySystem.ts";
import { DEV_ROLES } from "../lib/stack/devAccounts.ts";
import type { LocalChainClients } from "../lib/stack/localChain.ts";
import type { StackInfo } from "../lib/stack/stackFiles.ts";

/** Everything the chapters share. */
export type Demo = {
  info: StackInfo;
  deployment: Deployment;
  clients: LocalChainClients;
  worker: WorkerClient;
  /** The policy registry, read with its typed ABI. */
  registry: GetContractReturnType<typeof policyRegistryAbi, LocalChainClients["publicClient"]>;
  /** The stack's data directory, which the chapters' commands are given. */
  dataDir: string;
  governance: ReturnType<typeof createGovernanceDriver>;
  /** The epoch the story happens in (the chain's). */
  epoch: bigint;
  /** Tells this run's proposals and data apart from earlier runs'. */
  run: string;
  contributed: { dataHash: Hex; size: bigint; weight: bigint }[];
};

export const roles = {
  holders: DEV_ROLES.holders.map((i) => ({ index: i, name: `Holder ${"ABC"[DEV_ROLES.holders.indexOf(i)]}` })),
  attester: DEV_ROLES.attester,
  contributor: DEV_ROLES.contributor,
  consumer: DEV_ROLES.consumer,
  worker: DEV_ROLES.worker,
  outsider: DEV_ROLES.outsider,
  untrustedAttester: DEV_ROLES.untrustedAttester,
};

export const report = createReporter();
export const { line, style, expect } = report;

let chapterNumber = 0;
/** How many chapters have begun: the one a failure happened in. */
export function chaptersBegun(): number {
  return chapterNumber;
}

export function chapter(title: string, story: string) {
  line();
  line(style.bold(`${++chapterNumber}. ${title}`));
  line(`   ${story}`);
}

/** What a worker refusal looks like, in a line (a request it accepted has none). */
export function problem(response: WorkerResponse<unknown> | undefined): string {
  if (!response) return "accepted";
  return `${response.status} ${response.body.code ?? ""}: ${response.body.detail ?? ""}`.trim();
}

export async function wait(clients: LocalChainClients, hash: Hex) {
  const receipt = await clients.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new BaseError(`Transaction ${hash} reverted.`);
  return receipt;
}

/** A proposal's action, with what it does in words where the demo knows them. */
export type DemoAction = ProposalAction & { summary?: string };

/** A proposal's call to the policy registry, a row of the policy actions table: typed by the ABI, in the UI's words. */
export function registry<F extends PolicySetter>(d: Demo, functionName: F, args: PolicySetterArgs<F>): DemoAction {
  const call = policyCall(functionName, args);
  const target = d.deployment.contracts.policyRegistry;
  return { target, abi: policyRegistryAbi, ...call, summary: describePolicyCall(call).summary };
}

/** The name of the custom error a call reverts with, from `account`. */
export async function revertOf(
  d: Demo,
  call: { address: Address; abi: readonly unknown[]; functionName: string; args: readonly unknown[] },
  account: Address,
): Promise<string | undefined> {
  try {
    await d.clients.publicClient.simulateContract({ ...call, account } as never);
    return undefined;
  } catch (error) {
    const reverted =
      error instanceof ViemError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined;
    return (reverted as ContractFunctionRevertedError | undefined)?.data?.errorName ?? "an unknown error";
  }
}

/** Waits until the worker holds (at least) the chain's current policy version and is ready to serve. */
export async function waitForWorkerPolicy(d: Demo) {
  const version = await d.registry.read.policyVersion();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const policy = await d.worker.get<{ policyVersion?: string }>("/v1/policy");
    if (policy.status === 200 && BigInt(policy.body.policyVersion ?? "0") >= version) return version;
    if (Date.now() > deadline) {
      throw new BaseError(`The worker did not reach policy version ${version} within 30 s (${problem(policy)}).`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Takes a proposal through every stage, saying what happens and checking the Governor's state at each. */
export async function vote(
  d: Demo,
  actions: DemoAction[],
  title: string,
  ballots: { holder: number; support: 0 | 1 | 2; reason: string }[],
) {
  const g = d.governance;
  // The description says what each registry call does, in the words the UI shows voters.
  const said = actions.flatMap((a) => (a.summary ? [`- ${a.summary}`] : []));
  const description = `# ${title}\n\n${said.length > 0 ? `${said.join("\n")}\n\n` : ""}Demo run ${d.run}.`;
  const proposal: Proposal = await g.propose(actions, description);
  expect((await g.state(proposal)) === "Pending", `Holder A proposes "${title}"; the proposal is pending`);
  await g.openVoting(proposal);
  expect((await g.state(proposal)) === "Active", "the voting delay passes; the vote is open");
  for (const b of ballots) {
    const holder = roles.holders[b.holder]!;
    await g.vote(proposal, { voter: d.clients.wallet(holder.index), support: b.support, reason: b.reason });
    line(style.dim(`    ${holder.name} votes ${["against", "for", "abstain"][b.support]}: "${b.reason}"`));
  }
  await g.closeVoting(proposal);
  expect(
    (await g.state(proposal)) === "Succeeded",
    "the vote closes; the proposal passed (quorum, more for than against)",
  );
  await g.queue(proposal);
  expect((await g.state(proposal)) === "Queued", "it is queued in the timelock, where anyone can see it coming");
  await g.waitForTimelock(proposal);
  const receipt = await g.execute(proposal);
  expect((await g.state(proposal)) === "Executed", "the timelock delay passes; anyone executes it");
  // What changed, as the UI's policy history reads it.
  const registryAddress = d.deployment.contracts.policyRegistry.toLowerCase();
  for (const log of receipt.logs.filter((l) => l.address.toLowerCase() === registryAddress)) {
    const event = decodePolicyLog(log);
    line(style.dim(`    policy version ${event.args.policyVersion}: ${describePolicyEvent(event)}`));
  }
  return receipt;
}
