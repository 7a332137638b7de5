import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import type { Address } from "viem";
import { governanceTokenAbi, policyGovernorAbi } from "./abis.ts";
import { useApp } from "./AppContext.tsx";
import { useChainQuery } from "./ChainHead.tsx";
import { readPolicy } from "./readPolicy.ts";
import { readProposals, readVotes } from "./readProposals.ts";
import { createWorkerApi } from "./workerApi.ts";

/** The whole policy, refreshed on every block. */
export function usePolicy() {
  return useChainQuery(["policy"], readPolicy);
}

export function useProposals() {
  return useChainQuery(["proposals"], readProposals);
}

export function useVotes(proposalId: bigint) {
  return useChainQuery(["votes", proposalId.toString()], (app, head) => readVotes(app, head, proposalId));
}

/** The Governor's settings, which change only through governance. */
export function useGovernorSettings() {
  return useChainQuery(["governor-settings"], async ({ publicClient, contracts }, head) => {
    const governor = { address: contracts.governor, abi: policyGovernorAbi, blockNumber: head.number } as const;
    const [votingDelay, votingPeriod, proposalThreshold, quorumNumerator, lateQuorumExtension, proposalGuardian] =
      await Promise.all([
        publicClient.readContract({ ...governor, functionName: "votingDelay" }),
        publicClient.readContract({ ...governor, functionName: "votingPeriod" }),
        publicClient.readContract({ ...governor, functionName: "proposalThreshold" }),
        publicClient.readContract({ ...governor, functionName: "quorumNumerator" }),
        publicClient.readContract({ ...governor, functionName: "lateQuorumVoteExtension" }),
        publicClient.readContract({ ...governor, functionName: "proposalGuardian" }),
      ]);
    return { votingDelay, votingPeriod, proposalThreshold, quorumNumerator, lateQuorumExtension, proposalGuardian };
  });
}

/** An account's tokens, votes and delegate. */
export function useVotingPower(account: Address | undefined) {
  return useChainQuery(
    ["voting-power", account],
    async ({ publicClient, contracts }, head) => {
      const token = { address: contracts.token, abi: governanceTokenAbi, blockNumber: head.number } as const;
      const [balance, votes, pastVotes, delegate, totalSupply, symbol] = await Promise.all([
        publicClient.readContract({ ...token, functionName: "balanceOf", args: [account!] }),
        publicClient.readContract({ ...token, functionName: "getVotes", args: [account!] }),
        // What the Governor counts for a proposal made now: votes at the previous block.
        head.number > 0n
          ? publicClient.readContract({ ...token, functionName: "getPastVotes", args: [account!, head.number - 1n] })
          : Promise.resolve(0n),
        publicClient.readContract({ ...token, functionName: "delegates", args: [account!] }),
        publicClient.readContract({ ...token, functionName: "totalSupply" }),
        publicClient.readContract({ ...token, functionName: "symbol" }),
      ]);
      return { balance, votes, pastVotes, delegate, totalSupply, symbol };
    },
    { enabled: account !== undefined },
  );
}

/** The worker's API client, or null when the app runs without a worker. */
export function useWorkerApi() {
  const { workerUrl } = useApp();
  return useMemo(() => (workerUrl ? createWorkerApi(workerUrl) : null), [workerUrl]);
}

/** Whether the worker answers, polled. */
export function useWorkerHealth() {
  const api = useWorkerApi();
  return useQuery({
    queryKey: ["worker", "policy"],
    queryFn: () => api!.policy(),
    enabled: api !== null,
    refetchInterval: 3_000,
    retry: false,
  });
}
