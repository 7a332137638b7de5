import { decodeFunctionData, type Abi, type Address, type Hex } from "viem";
import {
  contributorRewardsAbi,
  governanceTokenAbi,
  policyGovernorAbi,
  policyRegistryAbi,
  runRewardsAbi,
  timelockControllerAbi,
  usageSettlementAbi,
} from "./abis.ts";
import type { Deployment } from "./RuntimeConfig.ts";
import { formatDuration, formatEth, formatTime, formatTokens, plural, shortAddress, shortHex } from "./format.ts";
import type { Policy } from "./readPolicy.ts";

/** One call a proposal makes, as the Governor stores it. */
export type Call = { target: Address; value: bigint; data: Hex };

/** A call in plain words, with what it changes when the current policy is known. */
export type DescribedCall = {
  /** The sentence a voter reads: "Allow 0xab…cd to submit training data". */
  summary: string;
  /** Which contract and function, for those who check: "PolicyRegistry.setSubmitter". */
  signature: string;
  /** The decoded arguments, labelled. */
  fields: { label: string; value: string }[];
  /** What changes, before and after (present when the policy was given and the call changes it). */
  changes: { label: string; before: string; after: string }[];
  /** Whether the call was recognised; an unrecognised call deserves a careful look. */
  known: boolean;
};

type Contracts = Deployment["contracts"];

const TARGETS: { key: keyof Contracts; name: string; abi: Abi }[] = [
  { key: "policyRegistry", name: "PolicyRegistry", abi: policyRegistryAbi },
  { key: "contributorRewards", name: "ContributorRewards", abi: contributorRewardsAbi },
  { key: "token", name: "GovernanceToken", abi: governanceTokenAbi },
  { key: "governor", name: "PolicyGovernor", abi: policyGovernorAbi },
  { key: "timelock", name: "TimelockController", abi: timelockControllerAbi },
  { key: "usageSettlement", name: "UsageSettlement", abi: usageSettlementAbi },
  { key: "runRewards", name: "RunRewards", abi: runRewardsAbi },
];

const yesNo = (value: boolean) => (value ? "yes" : "no");

/** Decodes a call against the system's ABIs and says what it does, in words. */
export function describeCall(call: Call, contracts: Contracts, policy?: Policy): DescribedCall {
  const target = TARGETS.find((t) => contracts[t.key].toLowerCase() === call.target.toLowerCase());
  const valueNote = call.value > 0n ? ` (sending ${formatEth(call.value)} from the treasury)` : "";
  if (call.data === "0x" || call.data.length < 10) {
    return {
      summary:
        call.value > 0n
          ? `Send ${formatEth(call.value)} from the treasury to ${shortAddress(call.target)}`
          : `Call ${shortAddress(call.target)} with no data`,
      signature: "transfer",
      fields: [
        { label: "to", value: call.target },
        { label: "value", value: formatEth(call.value) },
      ],
      changes: [],
      known: call.value > 0n,
    };
  }
  if (target) {
    try {
      const { functionName, args = [] } = decodeFunctionData({ abi: target.abi, data: call.data });
      const described = describeKnown(target.name, functionName, args, call, policy);
      if (described) {
        return {
          ...described,
          summary: described.summary + (target.key === "contributorRewards" ? "" : valueNote),
          signature: `${target.name}.${functionName}`,
          fields: described.fields ?? defaultFields(target.abi, functionName, args),
          known: true,
        };
      }
      return {
        summary: `Call ${target.name}.${functionName}${valueNote}`,
        signature: `${target.name}.${functionName}`,
        fields: defaultFields(target.abi, functionName, args),
        changes: [],
        known: true,
      };
    } catch {
      // Falls through to the raw description.
    }
  }
  return {
    summary: `Raw call to ${shortAddress(call.target)} (function ${call.data.slice(0, 10)})${valueNote}`,
    signature: "raw call",
    fields: [
      { label: "target", value: call.target },
      { label: "value", value: formatEth(call.value) },
      { label: "calldata", value: call.data },
    ],
    changes: [],
    known: false,
  };
}

type KnownDescription = Omit<DescribedCall, "signature" | "known" | "fields"> & { fields?: DescribedCall["fields"] };

function describeKnown(
  contract: string,
  fn: string,
  args: readonly unknown[],
  call: Call,
  policy: Policy | undefined,
): KnownDescription | undefined {
  const a = (i: number) => args[i];
  const addr = (i: number) => a(i) as Address;
  const changes: KnownDescription["changes"] = [];
  const has = (list: readonly Address[] | undefined, x: Address) =>
    list?.some((y) => y.toLowerCase() === x.toLowerCase()) ?? false;

  if (contract === "PolicyRegistry") {
    switch (fn) {
      case "setSubmitter": {
        const allowed = a(1) as boolean;
        if (policy) {
          changes.push({
            label: `${shortAddress(addr(0))} may submit data`,
            before: yesNo(has(policy.submitters, addr(0))),
            after: yesNo(allowed),
          });
        }
        return {
          summary: allowed
            ? `Allow ${shortAddress(addr(0))} to submit training data`
            : `Remove ${shortAddress(addr(0))} from the submitter allowlist`,
          changes,
        };
      }
      case "setSubmitters": {
        const list = a(0) as readonly Address[];
        const allowed = a(1) as boolean;
        if (policy) {
          for (const s of list) {
            changes.push({
              label: `${shortAddress(s)} may submit data`,
              before: yesNo(has(policy.submitters, s)),
              after: yesNo(allowed),
            });
          }
        }
        const who = list.map(shortAddress).join(", ");
        return {
          summary: allowed
            ? `Allow ${plural(list.length, "account")} to submit training data: ${who}`
            : `Remove ${plural(list.length, "account")} from the submitter allowlist: ${who}`,
          changes,
        };
      }
      case "setAttestationRequirement": {
        const attesters = a(1) as readonly Address[];
        const min = Number(a(2));
        const maxAge = a(3) as bigint;
        const after = requirementWords(min, attesters, maxAge);
        if (policy) {
          const r = policy.attestation;
          changes.push({
            label: "Attestation requirement",
            before: r.minAttestations === 0 ? "none" : requirementWords(r.minAttestations, r.attesters, r.maxAge),
            after,
          });
        }
        return {
          summary: `Require ${after} for each contribution (schema ${shortHex(a(0) as Hex)})`,
          changes,
          fields: [
            { label: "schema UID", value: a(0) as Hex },
            { label: "trusted attesters", value: attesters.join(", ") },
            { label: "attestations required", value: String(min) },
            { label: "maximum age", value: maxAge === 0n ? "no limit" : formatDuration(maxAge) },
          ],
        };
      }
      case "setQuota": {
        const quota = a(1) as bigint;
        if (policy) {
          changes.push({
            label: `Quota of ${shortAddress(addr(0))}`,
            before: quotaWords(policy.quotas.get(addr(0)) ?? 0n),
            after: quotaWords(quota),
          });
        }
        return {
          summary:
            quota === 0n
              ? `Remove consumer ${shortAddress(addr(0))} (no more queries)`
              : `Let ${shortAddress(addr(0))} make ${plural(quota, "query", "queries")} per epoch`,
          changes,
        };
      }
      case "setTier": {
        const tierId = Number(a(0));
        const tier = {
          queriesPerEpoch: a(1) as bigint,
          pricePerEpoch: a(2) as bigint,
          open: a(3) as boolean,
          maxMembers: Number(a(4)),
        };
        const existing = policy?.tiers.find((t) => t.tierId === tierId);
        if (policy) {
          changes.push({
            label: `Access tier ${tierId}`,
            before: existing && existing.queriesPerEpoch > 0n ? tierWords(existing) : "none",
            after: tier.queriesPerEpoch === 0n ? "none (removed)" : tierWords(tier),
          });
        }
        return {
          summary:
            tier.queriesPerEpoch === 0n
              ? `Remove access tier ${tierId}: its members keep no quota from it`
              : `${existing ? "Change" : "Add"} access tier ${tierId}: ${tierWords(tier)}, joined by paying with no vote`,
          changes,
          fields: [
            { label: "tier", value: String(tierId) },
            { label: "queries per epoch", value: tier.queriesPerEpoch.toString() },
            { label: "price per epoch", value: formatEth(tier.pricePerEpoch) },
            { label: "new members", value: tier.open ? "open" : "closed (members may renew)" },
            { label: "members at most", value: tier.maxMembers === 0 ? "no limit" : String(tier.maxMembers) },
          ],
        };
      }
      case "setQueryFee": {
        const fee = a(0) as bigint;
        if (policy)
          changes.push({ label: "Fee per query", before: formatEth(policy.feePerQuery), after: formatEth(fee) });
        return { summary: `Set the fee per query to ${formatEth(fee)}`, changes };
      }
      case "setCommittee": {
        const members = a(0) as readonly Address[];
        const threshold = Number(a(2));
        const after = `${plural(members.length, "member")}, ${threshold} needed to release a key`;
        if (policy) {
          const c = policy.committee;
          changes.push({
            label: "Keyholder committee",
            before: c.id === 0n ? "none" : `#${c.id}: ${plural(c.members.length, "member")}, ${c.threshold} needed`,
            after,
          });
        }
        return {
          summary: `Replace the keyholder committee: ${after} (${members.map(shortAddress).join(", ")})`,
          changes,
          fields: [
            { label: "members", value: members.join(", ") },
            { label: "public keys", value: (a(1) as readonly Hex[]).map((k) => shortHex(k, 8)).join(", ") },
            { label: "threshold", value: String(threshold) },
          ],
        };
      }
      case "approveTrainingRun": {
        const expiresAt = a(3) as bigint;
        if (policy) {
          const existing = policy.trainingRuns.find((r) => r.runId.toLowerCase() === (a(0) as Hex).toLowerCase());
          changes.push({
            label: `Training run ${shortHex(a(0) as Hex)}`,
            before: existing ? (existing.revoked ? "revoked" : "approved") : "not approved",
            after: `approved until ${formatTime(expiresAt)}`,
          });
        }
        return {
          summary: `Approve training run ${shortHex(a(0) as Hex)}, run by ${shortAddress(addr(2))}, until ${formatTime(expiresAt)}`,
          changes,
          fields: [
            { label: "run id", value: a(0) as Hex },
            { label: "specification hash", value: a(1) as Hex },
            { label: "operator", value: addr(2) },
            { label: "expires", value: formatTime(expiresAt) },
          ],
        };
      }
      case "revokeTrainingRun":
        if (policy) {
          const existing = policy.trainingRuns.find((r) => r.runId.toLowerCase() === (a(0) as Hex).toLowerCase());
          changes.push({
            label: `Training run ${shortHex(a(0) as Hex)}`,
            before: existing ? (existing.revoked ? "revoked" : "approved") : "does not exist",
            after: "revoked",
          });
        }
        return { summary: `Withdraw the approval of training run ${shortHex(a(0) as Hex)}`, changes };
      case "setWorker": {
        const on = a(1) as boolean;
        if (policy) {
          changes.push({
            label: `${shortAddress(addr(0))} is an authorised worker`,
            before: yesNo(has(policy.workers, addr(0))),
            after: yesNo(on),
          });
        }
        return {
          summary: on
            ? `Authorise ${shortAddress(addr(0))} as a worker (records contributions, settles usage, commits models)`
            : `Remove worker ${shortAddress(addr(0))}`,
          changes,
        };
      }
      case "setRevealDelay": {
        const delay = a(0) as bigint;
        if (policy) {
          changes.push({
            label: "Model reveal delay",
            before: formatDuration(policy.revealDelay),
            after: formatDuration(delay),
          });
        }
        return { summary: `Let trained models be revealed ${formatDuration(delay)} after they are committed`, changes };
      }
      case "setGuardian":
        if (policy) {
          changes.push({ label: "Guardian", before: shortAddress(policy.guardian), after: shortAddress(addr(0)) });
        }
        return { summary: `Make ${shortAddress(addr(0))} the guardian (may engage the kill switch)`, changes };
      case "engageKillSwitch":
        if (policy) {
          changes.push({
            label: "Kill switch",
            before: policy.killSwitch.engaged ? "engaged" : "off",
            after: "engaged",
          });
        }
        return { summary: `Engage the kill switch: “${String(a(0))}”`, changes };
      case "liftKillSwitch": {
        const engagementId = a(0) as bigint;
        const current = policy?.killSwitch.engaged ? policy.killSwitch.engagementId : undefined;
        if (policy) {
          changes.push({
            label: "Kill switch",
            before: current === undefined ? "off" : `engaged (engagement ${current})`,
            after: current === engagementId ? "off" : "unchanged: this lift would revert",
          });
        }
        // A lift names the engagement it lifts, so a stale one (voted on an earlier incident) reverts.
        const stale =
          policy && current !== engagementId
            ? current === undefined
              ? " (the kill switch is off now: this lift would revert)"
              : ` (engagement ${current} is in force now: this lift would revert)`
            : "";
        return {
          summary: `Lift the kill switch (engagement ${engagementId}): ingest, inference and training resume${stale}`,
          changes,
        };
      }
    }
    return undefined;
  }
  if (contract === "ContributorRewards" && fn === "voidContribution") {
    return {
      summary: `Void the contribution of data ${shortHex(a(0) as Hex)}: it is never paid, and its share goes to its epoch's other contributions`,
      changes: [],
    };
  }
  if (contract === "ContributorRewards" && fn === "fund") {
    return {
      summary: `Fund the reward pool of epoch ${String(a(0))} with ${formatEth(call.value)} from the treasury`,
      changes: [],
    };
  }
  if (contract === "RunRewards" && fn === "fundRun") {
    return {
      summary: `Grant ${formatEth(call.value)} from the treasury to the contributions the model of run ${shortHex(a(0) as Hex)} was trained on`,
      changes: [],
    };
  }
  if (contract === "GovernanceToken" && fn === "transfer") {
    return {
      summary: `Send ${formatTokens(a(1) as bigint)} governance tokens from the treasury to ${shortAddress(addr(0))}`,
      changes: [],
    };
  }
  if (contract === "PolicyGovernor") {
    switch (fn) {
      case "setVotingDelay":
        return { summary: `Set the voting delay to ${plural(a(0) as bigint, "block")}`, changes: [] };
      case "setVotingPeriod":
        return { summary: `Set the voting period to ${plural(a(0) as bigint, "block")}`, changes: [] };
      case "setProposalThreshold":
        return { summary: `Set the votes needed to propose to ${formatTokens(a(0) as bigint)}`, changes: [] };
      case "updateQuorumNumerator":
        return { summary: `Set the quorum to ${String(a(0))}% of the supply`, changes: [] };
      case "setProposalGuardian":
        return { summary: `Make ${shortAddress(addr(0))} the proposal guardian (may cancel proposals)`, changes: [] };
    }
  }
  return undefined;
}

function requirementWords(min: number, attesters: readonly Address[], maxAge: bigint): string {
  const age = maxAge === 0n ? "" : `, at most ${formatDuration(maxAge)} old`;
  return `${min} of ${plural(attesters.length, "trusted attester")} (${attesters.map(shortAddress).join(", ")})${age}`;
}

/** "20 queries per epoch for 0.001 ETH an epoch, open, at most 50 members". */
export function tierWords(tier: { queriesPerEpoch: bigint; pricePerEpoch: bigint; open: boolean; maxMembers: number }) {
  const size = tier.maxMembers === 0 ? "no member limit" : `at most ${plural(tier.maxMembers, "member")}`;
  return `${quotaWords(tier.queriesPerEpoch)} for ${formatEth(tier.pricePerEpoch)} an epoch, ${tier.open ? "open" : "closed to new members"}, ${size}`;
}

function quotaWords(quota: bigint): string {
  return quota === 0n ? "none" : `${plural(quota, "query", "queries")} per epoch`;
}

function defaultFields(abi: Abi, functionName: string, args: readonly unknown[]) {
  const item = abi.find((i) => i.type === "function" && i.name === functionName && i.inputs.length === args.length);
  const inputs = item && item.type === "function" ? item.inputs : [];
  return args.map((value, i) => ({ label: inputs[i]?.name || `arg ${i}`, value: stringify(value) }));
}

function stringify(value: unknown): string {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(stringify).join(", ");
  if (typeof value === "object" && value !== null)
    return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v));
  return String(value);
}
