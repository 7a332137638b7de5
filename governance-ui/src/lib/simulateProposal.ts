import { describePolicyEvent } from "@dao-ai/pipeline-worker/policy-actions";
import { decodeEventLog, type Address, type Log, type PublicClient } from "viem";
import { policyGovernorAbi, policyRegistryAbi } from "./abis.ts";
import { decodeError, type DecodedError } from "./decodeError.ts";
import type { Call } from "./describeCall.ts";
import type { Deployment } from "./RuntimeConfig.ts";

export type ActionSimulation =
  { ok: true; gas: bigint | undefined; effects: string[] } | { ok: false; error: DecodedError };

export type ProposalSimulation = {
  /** Whether the actions ran one after another on shared state (eth_simulateV1), as execution will. */
  sequential: boolean;
  actions: ActionSimulation[];
  /** Whether the connected account may submit the proposal (its votes against the threshold). */
  propose: { ok: true } | { ok: false; error: DecodedError } | undefined;
};

/**
 * Runs a proposal's actions as the timelock will when the proposal is executed, before anyone
 * votes on it: in order on shared state where the node supports eth_simulateV1, otherwise each
 * alone with eth_call and eth_estimateGas. Also checks that the proposer may propose.
 */
export async function simulateProposal(parameters: {
  publicClient: PublicClient;
  contracts: Deployment["contracts"];
  calls: Call[];
  proposer: Address | undefined;
  description: string;
}): Promise<ProposalSimulation> {
  const { publicClient, contracts, calls, proposer } = parameters;
  const timelock = contracts.timelock;

  let propose: ProposalSimulation["propose"];
  if (proposer) {
    try {
      await publicClient.simulateContract({
        account: proposer,
        address: contracts.governor,
        abi: policyGovernorAbi,
        functionName: "propose",
        args: [calls.map((c) => c.target), calls.map((c) => c.value), calls.map((c) => c.data), parameters.description],
      });
      propose = { ok: true };
    } catch (error) {
      propose = { ok: false, error: decodeError(error) };
    }
  }

  try {
    const { results } = await publicClient.simulateCalls({
      account: timelock,
      calls: calls.map((c) => ({ to: c.target, data: c.data, value: c.value })),
    });
    return {
      sequential: true,
      propose,
      actions: results.map((result) =>
        result.status === "success"
          ? { ok: true, gas: result.gasUsed, effects: effectsOf(result.logs ?? [], contracts) }
          : { ok: false, error: decodeError(result.error) },
      ),
    };
  } catch {
    // The node lacks eth_simulateV1: fall back to simulating each action alone.
  }

  const actions: ActionSimulation[] = [];
  for (const c of calls) {
    try {
      await publicClient.call({ account: timelock, to: c.target, data: c.data, value: c.value });
      const gas = await publicClient
        .estimateGas({ account: timelock, to: c.target, data: c.data, value: c.value })
        .catch(() => undefined);
      actions.push({ ok: true, gas, effects: [] });
    } catch (error) {
      actions.push({ ok: false, error: decodeError(error) });
    }
  }
  return { sequential: false, propose, actions };
}

/** The registry events an action would emit, in words. */
function effectsOf(logs: readonly Log[], contracts: Deployment["contracts"]): string[] {
  return logs
    .filter((log) => log.address.toLowerCase() === contracts.policyRegistry.toLowerCase())
    .flatMap((log) => {
      try {
        const { eventName, args } = decodeEventLog({ abi: policyRegistryAbi, data: log.data, topics: log.topics });
        return [`${describePolicyEvent({ eventName, args })} (policy version ${args.policyVersion})`];
      } catch {
        return [];
      }
    });
}
