import { encodePolicyCall, policyActions, type PolicyCall } from "@dao-ai/pipeline-worker/policy-actions";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import {
  encodeFunctionData,
  getAbiItem,
  getContract,
  formatEther,
  zeroAddress,
  BaseError as ViemError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import {
  contributorRewardsAbi,
  governanceTokenAbi,
  modelCommitmentsAbi,
  policyGovernorAbi,
  policyRegistryAbi,
  runRewardsAbi,
  timelockControllerAbi,
  usageSettlementAbi,
} from "../../../deployments/abis.ts";
import type { Deployment } from "./deploySystem.ts";

/** One property of a safe deployment, checked. */
export type VerificationCheck = { name: string; ok: boolean; detail: string };

const DUMMY: Address = "0x000000000000000000000000000000000000dEaD";

/**
 * Every registry setter only the timelock may call, with an example call from the policy actions
 * table; each must revert with PolicyUnauthorized for anyone else. A new setter's table row brings
 * it here.
 */
export const REGISTRY_SETTERS: PolicyCall[] = Object.entries(policyActions).flatMap(([functionName, row]) =>
  row.caller === "timelock" ? [{ functionName, args: row.example } as PolicyCall] : [],
);

/** The name of the custom error an `eth_call` reverted with, or undefined if it did not revert. */
async function revertName(client: PublicClient, to: Address, from: Address, data: Hex): Promise<string | undefined> {
  try {
    await client.call({ account: from, to, data });
    return undefined;
  } catch (error) {
    const reverted =
      error instanceof ViemError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined;
    const raw = (reverted as ContractFunctionRevertedError | undefined)?.raw ?? findRevertData(error);
    if (!raw) return "unknown revert";
    try {
      return decodeErrorResult({ abi: policyRegistryAbi, data: raw }).errorName;
    } catch {
      return "undecodable revert";
    }
  }
}

function findRevertData(error: unknown): Hex | undefined {
  let e = error as { data?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 10; depth++) {
    if (typeof e.data === "string" && e.data.startsWith("0x")) return e.data as Hex;
    if (e.data && typeof (e.data as { data?: unknown }).data === "string") return (e.data as { data: Hex }).data;
    e = e.cause as typeof e;
  }
  return undefined;
}

/**
 * Checks that a deployment is safe to hand to the DAO: only the Governor can propose to or cancel
 * in the timelock, the timelock's admin is renounced, the deployer holds no role anywhere, every
 * registry setter rejects every caller but the timelock, and the contracts point at each other.
 * Reads only (calls and logs), so it runs against any chain after every deployment.
 */
export async function verifyDeployment(client: PublicClient, deployment: Deployment): Promise<VerificationCheck[]> {
  const c = deployment.contracts;
  const checks: VerificationCheck[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });

  for (const [name, address] of Object.entries(c)) {
    const code = await client.getCode({ address });
    check(`${name} has code`, !!code && code !== "0x", address);
  }
  // Every other check reads these contracts; without code they would only fail confusingly.
  if (checks.some((c) => !c.ok)) return checks;

  // Each contract read through its typed ABI, so a renamed function is a type error here.
  const view = {
    timelock: getContract({ address: c.timelock, abi: timelockControllerAbi, client }).read,
    governor: getContract({ address: c.governor, abi: policyGovernorAbi, client }).read,
    registry: getContract({ address: c.policyRegistry, abi: policyRegistryAbi, client }).read,
    token: getContract({ address: c.token, abi: governanceTokenAbi, client }).read,
    contributorRewards: getContract({ address: c.contributorRewards, abi: contributorRewardsAbi, client }).read,
    usageSettlement: getContract({ address: c.usageSettlement, abi: usageSettlementAbi, client }).read,
    runRewards: getContract({ address: c.runRewards, abi: runRewardsAbi, client }).read,
    modelCommitments: getContract({ address: c.modelCommitments, abi: modelCommitmentsAbi, client }).read,
  };

  // Timelock roles. TimelockController does not enumerate members, so holders are rebuilt from
  // its RoleGranted/RoleRevoked events since deployment.
  const roleId = (r: "PROPOSER_ROLE" | "CANCELLER_ROLE" | "EXECUTOR_ROLE" | "DEFAULT_ADMIN_ROLE") => view.timelock[r]();
  const proposerRole = await roleId("PROPOSER_ROLE");
  const cancellerRole = await roleId("CANCELLER_ROLE");
  const executorRole = await roleId("EXECUTOR_ROLE");
  const adminRole = await roleId("DEFAULT_ADMIN_ROLE");
  const holders = await roleHolders(client, c.timelock, BigInt(deployment.deploymentBlock));
  const members = (role: Hex) => [...(holders.get(role) ?? [])].sort();
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  check(
    "only the Governor can propose to the timelock",
    same(members(proposerRole), [c.governor.toLowerCase()]),
    `proposers: ${members(proposerRole).join(", ") || "none"}`,
  );
  check(
    "only the Governor can cancel in the timelock",
    same(members(cancellerRole), [c.governor.toLowerCase()]),
    `cancellers: ${members(cancellerRole).join(", ") || "none"}`,
  );
  // The Governor tells the votes its guardian may not cancel (replacing the guardian, lifting the
  // kill switch) by the registry's address: another address would leave them cancellable.
  const governorRegistry = await view.governor.policyRegistry();
  check(
    "the Governor's guardian cannot cancel votes replacing it or lifting the kill switch",
    governorRegistry.toLowerCase() === c.policyRegistry.toLowerCase(),
    `the Governor's registry: ${governorRegistry}`,
  );
  check(
    "anyone can execute a queued proposal",
    await view.timelock.hasRole([executorRole, zeroAddress]),
    "EXECUTOR_ROLE held by the zero address",
  );
  check(
    "the timelock's admin role is renounced (only the timelock administers itself)",
    same(members(adminRole), [c.timelock.toLowerCase()]),
    `admins: ${members(adminRole).join(", ") || "none"}`,
  );
  const deployerRoles: string[] = [];
  for (const [role, who] of holders) {
    if (who.has(deployment.deployer.toLowerCase())) deployerRoles.push(role);
  }
  const registryGuardian = await view.registry.guardian();
  const proposalGuardian = await view.governor.proposalGuardian();
  const deployerIsWorker = await view.registry.isWorker([deployment.deployer]);
  check(
    "the deployer holds no role anywhere",
    deployerRoles.length === 0 &&
      registryGuardian.toLowerCase() !== deployment.deployer.toLowerCase() &&
      proposalGuardian.toLowerCase() !== deployment.deployer.toLowerCase() &&
      !deployerIsWorker,
    deployerRoles.length ? `timelock roles: ${deployerRoles.join(", ")}` : "no timelock role, not guardian, not worker",
  );

  // Settings: what the manifest promises voters is what the chain enforces.
  const s = deployment.settings;
  const minDelay = await view.timelock.getMinDelay();
  check(
    "the timelock delay is the manifest's",
    minDelay.toString() === s.timelockMinDelay,
    `chain ${minDelay} s, manifest ${s.timelockMinDelay} s`,
  );
  const governorSettings = {
    votingDelay: (await view.governor.votingDelay()).toString(),
    votingPeriod: (await view.governor.votingPeriod()).toString(),
    proposalThreshold: (await view.governor.proposalThreshold()).toString(),
    quorumNumerator: (await view.governor.quorumNumerator()).toString(),
    lateQuorumExtension: (await view.governor.lateQuorumVoteExtension()).toString(),
  };
  const promised = {
    votingDelay: String(s.votingDelay),
    votingPeriod: String(s.votingPeriod),
    proposalThreshold: s.proposalThreshold,
    quorumNumerator: s.quorumNumerator,
    lateQuorumExtension: String(s.lateQuorumExtension),
  };
  check(
    "the Governor's settings are the manifest's",
    JSON.stringify(governorSettings) === JSON.stringify(promised),
    `chain ${JSON.stringify(governorSettings)}, manifest ${JSON.stringify(promised)}`,
  );

  // Governability. The timelock votes only by a proposal, and so do the system's other contracts
  // (they never delegate): only the tokens outside them can ever vote. Together, once delegated,
  // they must reach the proposal threshold and the quorum, or no proposal can ever pass and the
  // DAO, and the treasury in its timelock, are frozen from the first day. Balances are counted,
  // not votes: at deployment nobody has delegated yet, and anyone can delegate to one proposer.
  const supply = await view.token.totalSupply();
  let locked = 0n;
  for (const address of new Set(Object.values(c).map((a) => a.toLowerCase() as Address))) {
    locked += await view.token.balanceOf([address]);
  }
  const outside = supply - locked;
  const threshold = await view.governor.proposalThreshold();
  const quorum = (supply * (await view.governor.quorumNumerator())) / (await view.governor.quorumDenominator());
  const held = `holders outside the timelock have ${formatEther(outside)} of ${formatEther(supply)} tokens`;
  check(
    "holders outside the timelock can reach the proposal threshold",
    outside > 0n && outside >= threshold,
    `${held}; the proposal threshold is ${formatEther(threshold)}`,
  );
  check(
    "holders outside the timelock can reach the quorum",
    outside > 0n && outside >= quorum,
    `${held}; the quorum is ${formatEther(quorum)}`,
  );

  // Wiring.
  check("the Governor uses the timelock", eq(await view.governor.timelock(), c.timelock), "");
  check("the Governor counts the token's votes", eq(await view.governor.token(), c.token), "");
  check("the registry obeys the timelock", eq(await view.registry.timelock(), c.timelock), "");
  check(
    "rewards read the registry and EAS",
    eq(await view.contributorRewards.policy(), c.policyRegistry) && eq(await view.contributorRewards.eas(), c.eas),
    "",
  );
  check(
    "settlement pays into rewards",
    eq(await view.usageSettlement.rewards(), c.contributorRewards) &&
      eq(await view.usageSettlement.policy(), c.policyRegistry),
    "",
  );
  check(
    "settlement pays served models' fees into run rewards",
    eq(await view.usageSettlement.runRewards(), c.runRewards) &&
      eq(await view.usageSettlement.modelCommitments(), c.modelCommitments),
    "",
  );
  check(
    "run rewards read the registry, rewards and model commitments",
    eq(await view.runRewards.policy(), c.policyRegistry) &&
      eq(await view.runRewards.contributorRewards(), c.contributorRewards) &&
      eq(await view.runRewards.modelCommitments(), c.modelCommitments),
    "",
  );
  // UsageSettlement caches the registry's epoch length (its settlement window): they must agree.
  const window = await view.usageSettlement.settlementWindow();
  const epochLength = await view.registry.epochLength();
  check(
    "settlement's window is the registry's epoch",
    window === epochLength,
    `settlement window ${String(window)}, epoch length ${String(epochLength)}`,
  );
  check("model commitments read the registry", eq(await view.modelCommitments.policy(), c.policyRegistry), "");

  // Every setter, from every account that might hold power, must be refused; from the timelock it
  // must pass the access check (it may still fail for state reasons, which is fine).
  const outsiders = [deployment.deployer, c.governor, registryGuardian, proposalGuardian, DUMMY].filter(
    (a) => a !== zeroAddress,
  );
  for (const setter of REGISTRY_SETTERS) {
    const data = encodePolicyCall(setter);
    const refusals = await Promise.all(outsiders.map((from) => revertName(client, c.policyRegistry, from, data)));
    const timelockResult = await revertName(client, c.policyRegistry, c.timelock, data);
    check(
      `${setter.functionName} rejects every caller but the timelock`,
      refusals.every((r) => r === "PolicyUnauthorized") && timelockResult !== "PolicyUnauthorized",
      `outsiders: ${refusals.join(", ")}; timelock: ${timelockResult ?? "accepted"}`,
    );
  }
  const engage = encodeFunctionData({
    abi: policyRegistryAbi,
    functionName: "engageKillSwitch",
    args: ["verification"],
  });
  const strangers = [deployment.deployer, c.governor, DUMMY].filter(
    (a) => a.toLowerCase() !== registryGuardian.toLowerCase(),
  );
  const engageRefusals = await Promise.all(strangers.map((from) => revertName(client, c.policyRegistry, from, engage)));
  check(
    "only the guardian and the timelock can engage the kill switch",
    engageRefusals.every((r) => r === "PolicyNotGuardian"),
    `others: ${engageRefusals.join(", ")}`,
  );
  return checks;
}

function eq(a: unknown, b: string): boolean {
  return typeof a === "string" && a.toLowerCase() === b.toLowerCase();
}

async function roleHolders(client: PublicClient, timelock: Address, fromBlock: bigint): Promise<Map<Hex, Set<string>>> {
  // Only the two role events are asked for (one topic filter), not every operation the timelock ran.
  const logs = await client.getLogs({
    address: timelock,
    events: [
      getAbiItem({ abi: timelockControllerAbi, name: "RoleGranted" }),
      getAbiItem({ abi: timelockControllerAbi, name: "RoleRevoked" }),
    ],
    fromBlock,
    toBlock: "latest",
    strict: true,
  });
  const holders = new Map<Hex, Set<string>>();
  for (const log of logs) {
    const set = holders.get(log.args.role) ?? new Set<string>();
    if (log.eventName === "RoleGranted") set.add(log.args.account.toLowerCase());
    else set.delete(log.args.account.toLowerCase());
    holders.set(log.args.role, set);
  }
  return holders;
}

/** Throws with every failed check listed, so a deploy script stops on an unsafe deployment. */
export function assertVerified(checks: VerificationCheck[]): void {
  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0) {
    throw new BaseError(`Deployment verification failed: ${failed.length} check(s).`, {
      details: failed.map((f) => `${f.name} (${f.detail})`).join("; "),
      hints: ["Do not hand this deployment to the DAO; find what changed its roles, and redeploy."],
    });
  }
}
