import {
  decodeFunctionData,
  encodeFunctionData,
  getAddress,
  isAddress,
  keccak256,
  toHex,
  type Address,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type EncodeFunctionDataParameters,
  type Hex,
} from "viem";
import { policyRegistryAbi } from "../abis.ts";
import type { PolicyEvent, PolicyEventName } from "./decodePolicyLog.ts";
import type { Policy, Tier } from "./Policy.ts";
import { createFieldParser, ethFieldValue, toDatetimeLocal, type FieldSpec, type FormResult } from "./policyForm.ts";
import { formatDuration, formatEth, formatTime, plural, shortAddress, shortHex } from "./policyWords.ts";

/**
 * Every PolicyRegistry setter in one table (`@dao-ai/pipeline-worker/policy-actions`): the
 * proposal builder's forms for it, how a call of it reads for a voter (with what it changes in
 * the current policy), and the event it emits as the policy history reads it. The governance UI's
 * builder, decoder and history and the demo all read this table, so a new setter needs the
 * contract, one row here and its tests; the type below fails to compile while a setter of the
 * ABI has no row.
 */

type RegistryAbi = typeof policyRegistryAbi;

/** A function of the registry that changes it. */
export type PolicySetter = ContractFunctionName<RegistryAbi, "nonpayable" | "payable">;
export type PolicySetterArgs<F extends PolicySetter> = ContractFunctionArgs<RegistryAbi, "nonpayable" | "payable", F>;

/** One call of a registry setter, typed by the ABI. */
export type PolicyCall = { [F in PolicySetter]: { functionName: F; args: PolicySetterArgs<F> } }[PolicySetter];

type EventArgs<E extends PolicyEventName> = Extract<PolicyEvent, { eventName: E }>["args"];

/** What a form needs besides its values: the policy now (unknown while it loads) and the time. */
export type PolicyFormContext = {
  policy: Policy | undefined;
  /** The EAS schema the deployment registered for training data. */
  dataSchemaUID: Hex;
  /** Unix seconds. */
  now: number;
};

/** One form of the proposal builder. */
export type PolicyForm = {
  /** Stable: links such as `/proposals/new?action=quota` name it. */
  id: string;
  label: string;
  /** One sentence on what the action does. */
  help: string;
  fields: readonly FieldSpec[];
  defaults(context: PolicyFormContext): Record<string, string>;
  build(values: Record<string, string>, context: PolicyFormContext): FormResult<PolicyCall>;
};

/** A call in plain words, with what it changes when the current policy is known. */
export type PolicyCallWords = {
  /** The sentence a voter reads: "Allow 0xab…cd to submit training data". */
  summary: string;
  /** The decoded arguments, labelled, where the ABI's names would not say enough. */
  fields?: { label: string; value: string }[];
  /** What changes, before and after (empty when no policy was given). */
  changes: { label: string; before: string; after: string }[];
};

export type PolicyActionRow<F extends PolicySetter, E extends PolicyEventName> = {
  /** Who the registry lets make the call: the timelock (a passed proposal), the guardian too, or anyone paying. */
  caller: "timelock" | "guardian or timelock" | "anyone";
  /**
   * Arguments of a call, for checks that need one: a deployment's verification sends each
   * timelock-only setter with these from other accounts, and expects PolicyUnauthorized.
   */
  example: PolicySetterArgs<F>;
  /** The event the setter emits; every change of policy emits one. */
  event: E;
  /** The builder's forms that make this call; none for a call no proposal makes (a consumer joins a tier itself). */
  forms: readonly PolicyForm[];
  describe(args: PolicySetterArgs<F>, policy: Policy | undefined): PolicyCallWords;
  /** The event in the past tense, as the history lists it: "Allowed 0xab…cd to submit training data". */
  describeEvent(args: EventArgs<E>): string;
};

// Arguments of the rows' example calls: an account and a 32-byte id that mean nothing.
const EXAMPLE_ACCOUNT: Address = "0x000000000000000000000000000000000000dEaD";
const EXAMPLE_HASH: Hex = keccak256(toHex("example"));

/** The registry's limit (IPolicyRegistry.setRevealDelay). */
const MAX_REVEAL_DELAY = 365n * 86_400n;
const MAX_UINT64 = 2n ** 64n - 1n;

const yesNo = (value: boolean) => (value ? "yes" : "no");
const has = (set: ReadonlySet<Address> | undefined, x: Address) =>
  [...(set ?? [])].some((y) => y.toLowerCase() === x.toLowerCase());

function submitterForm(allow: boolean): PolicyForm {
  return {
    id: allow ? "allowSubmitters" : "removeSubmitters",
    label: allow ? "Allow submitters" : "Remove submitters",
    help: allow
      ? "Let these accounts submit training data (their data still needs the required attestations)."
      : "Stop these accounts from submitting training data.",
    fields: [
      {
        name: "addresses",
        label: "Accounts",
        type: "addresses",
        help: "One address per line, or separated by commas.",
        placeholder: "0x…",
      },
    ],
    defaults: () => ({ addresses: "" }),
    build(values) {
      const p = createFieldParser(values);
      const list = p.addresses("addresses");
      return p.done((): PolicyCall =>
        list.length === 1
          ? { functionName: "setSubmitter", args: [list[0]!, allow] }
          : { functionName: "setSubmitters", args: [list, allow] },
      );
    },
  };
}

const submitterSet = (args: EventArgs<"SubmitterSet">) =>
  args.allowed
    ? `Allowed ${shortAddress(args.submitter)} to submit training data`
    : `Removed ${shortAddress(args.submitter)} from the submitter allowlist`;

function requirementWords(min: number, attesters: readonly Address[], maxAge: bigint): string {
  const age = maxAge === 0n ? "" : `, at most ${formatDuration(maxAge)} old`;
  return `${min} of ${plural(attesters.length, "trusted attester")} (${attesters.map(shortAddress).join(", ")})${age}`;
}

/** "20 queries per epoch for 0.001 ETH an epoch, open, no member limit". */
export function tierWords(tier: Tier): string {
  const size = tier.maxMembers === 0 ? "no member limit" : `at most ${plural(tier.maxMembers, "member")}`;
  return `${quotaWords(tier.queriesPerEpoch)} for ${formatEth(tier.pricePerEpoch)} an epoch, ${tier.open ? "open" : "closed to new members"}, ${size}`;
}

function quotaWords(quota: bigint): string {
  return quota === 0n ? "none" : `${plural(quota, "query", "queries")} per epoch`;
}

function runState(policy: Policy, runId: Hex, missing: string): string {
  const run = policy.trainingRuns.get(runId.toLowerCase() as Hex);
  return run ? (run.revoked ? "revoked" : "approved") : missing;
}

/** The table: one row per registry setter. */
export const policyActions: { [F in PolicySetter]: PolicyActionRow<F, PolicyEventName> } = {
  setSubmitter: {
    caller: "timelock",
    example: [EXAMPLE_ACCOUNT, true],
    event: "SubmitterSet",
    // The submitter forms make this call for one account and `setSubmitters` for several.
    forms: [],
    describe: ([submitter, allowed], policy) => ({
      summary: allowed
        ? `Allow ${shortAddress(submitter)} to submit training data`
        : `Remove ${shortAddress(submitter)} from the submitter allowlist`,
      changes: policy
        ? [
            {
              label: `${shortAddress(submitter)} may submit data`,
              before: yesNo(has(policy.submitters, submitter)),
              after: yesNo(allowed),
            },
          ]
        : [],
    }),
    describeEvent: submitterSet,
  },
  setSubmitters: {
    caller: "timelock",
    example: [[EXAMPLE_ACCOUNT], true],
    event: "SubmitterSet",
    forms: [submitterForm(true), submitterForm(false)],
    describe([list, allowed], policy) {
      const who = list.map(shortAddress).join(", ");
      return {
        summary: allowed
          ? `Allow ${plural(list.length, "account")} to submit training data: ${who}`
          : `Remove ${plural(list.length, "account")} from the submitter allowlist: ${who}`,
        changes: policy
          ? list.map((s) => ({
              label: `${shortAddress(s)} may submit data`,
              before: yesNo(has(policy.submitters, s)),
              after: yesNo(allowed),
            }))
          : [],
      };
    },
    describeEvent: submitterSet,
  },
  setAttestationRequirement: {
    caller: "timelock",
    example: [EXAMPLE_HASH, [EXAMPLE_ACCOUNT], 1, 0n],
    event: "AttestationRequirementSet",
    forms: [
      {
        id: "attestationRequirement",
        label: "Set the attestation requirement",
        help: "What each contribution's EAS attestations must satisfy: which attesters count, how many, how recent.",
        fields: [
          { name: "attesters", label: "Trusted attesters", type: "addresses", help: "One address per line." },
          {
            name: "minAttestations",
            label: "Attestations required",
            type: "number",
            help: "From 1 to the number of attesters.",
          },
          { name: "maxAge", label: "Maximum age", type: "duration", help: "0 for no limit; e.g. 30 d." },
          {
            name: "schemaUID",
            label: "EAS schema UID",
            type: "bytes32",
            help: "The system's data schema by default.",
          },
        ],
        defaults: ({ policy, dataSchemaUID }) => ({
          attesters: policy?.attestation.attesters.join("\n") ?? "",
          minAttestations: String(policy?.attestation.minAttestations || 1),
          maxAge: String(policy?.attestation.maxAge ?? 0n),
          schemaUID: policy && policy.attestation.minAttestations > 0 ? policy.attestation.schemaUID : dataSchemaUID,
        }),
        build(values) {
          const p = createFieldParser(values);
          const attesters = p.addresses("attesters");
          const min = p.integer("minAttestations", { min: 1n, max: BigInt(Math.max(1, attesters.length)) });
          const maxAge = p.duration("maxAge");
          const schema = p.bytes32("schemaUID", { hashText: false });
          return p.done((): PolicyCall => ({
            functionName: "setAttestationRequirement",
            args: [schema, attesters, Number(min), maxAge],
          }));
        },
      },
    ],
    describe([schemaUID, attesters, min, maxAge], policy) {
      const after = requirementWords(min, attesters, maxAge);
      const r = policy?.attestation;
      return {
        summary: `Require ${after} for each contribution (schema ${shortHex(schemaUID)})`,
        changes: r
          ? [
              {
                label: "Attestation requirement",
                before: r.minAttestations === 0 ? "none" : requirementWords(r.minAttestations, r.attesters, r.maxAge),
                after,
              },
            ]
          : [],
        fields: [
          { label: "schema UID", value: schemaUID },
          { label: "trusted attesters", value: attesters.join(", ") },
          { label: "attestations required", value: String(min) },
          { label: "maximum age", value: maxAge === 0n ? "no limit" : formatDuration(maxAge) },
        ],
      };
    },
    describeEvent: (args: EventArgs<"AttestationRequirementSet">) =>
      `Required ${requirementWords(args.minAttestations, args.attesters, args.maxAge)}`,
  },
  setQuota: {
    caller: "timelock",
    example: [EXAMPLE_ACCOUNT, 10n],
    event: "QuotaSet",
    forms: [
      {
        id: "quota",
        label: "Set a consumer's quota",
        help: "How many queries an account may make per epoch; 0 removes the consumer.",
        fields: [
          { name: "consumer", label: "Consumer", type: "address", placeholder: "0x…" },
          { name: "queriesPerEpoch", label: "Queries per epoch", type: "number" },
        ],
        defaults: () => ({ consumer: "", queriesPerEpoch: "100" }),
        build(values) {
          const p = createFieldParser(values);
          const consumer = p.address("consumer");
          const quota = p.integer("queriesPerEpoch", { max: MAX_UINT64 });
          return p.done((): PolicyCall => ({ functionName: "setQuota", args: [consumer, quota] }));
        },
      },
    ],
    describe: ([consumer, quota], policy) => ({
      summary:
        quota === 0n
          ? `Remove consumer ${shortAddress(consumer)} (no more queries)`
          : `Let ${shortAddress(consumer)} make ${plural(quota, "query", "queries")} per epoch`,
      changes: policy
        ? [
            {
              label: `Quota of ${shortAddress(consumer)}`,
              before: quotaWords(policy.quotas.get(consumer) ?? 0n),
              after: quotaWords(quota),
            },
          ]
        : [],
    }),
    describeEvent: ({ consumer, queriesPerEpoch }: EventArgs<"QuotaSet">) =>
      queriesPerEpoch === 0n
        ? `Removed consumer ${shortAddress(consumer)}`
        : `Set the quota of ${shortAddress(consumer)} to ${plural(queriesPerEpoch, "query", "queries")} per epoch`,
  },
  setTier: {
    caller: "timelock",
    example: [0, 10n, 0n, true, 0],
    event: "TierSet",
    forms: [
      {
        id: "tier",
        label: "Set an access tier",
        help: "A tier anyone can join by paying, with no proposal: its queries per epoch, price and size. 0 queries removes it (its members keep nothing).",
        fields: [
          {
            name: "tierId",
            label: "Tier",
            type: "number",
            help: "An existing tier's id to change it, or the next id to add a tier (ids go in order from 0).",
          },
          {
            name: "queriesPerEpoch",
            label: "Queries per epoch",
            type: "number",
            help: "Each member's quota; 0 removes the tier. A quota voted for a consumer wins over its tier.",
          },
          {
            name: "pricePerEpoch",
            label: "Price per epoch (ETH)",
            type: "eth",
            help: "Paid to the treasury on joining.",
          },
          {
            name: "open",
            label: "New members",
            type: "select",
            options: [
              { value: "true", label: "Open: anyone may join" },
              { value: "false", label: "Closed: members may only renew" },
            ],
          },
          { name: "maxMembers", label: "Members at most", type: "number", help: "Per epoch; 0 for no limit." },
        ],
        defaults: ({ policy }) => ({
          tierId: String(policy?.tiers.size ?? 0),
          queriesPerEpoch: "20",
          pricePerEpoch: "0.001",
          open: "true",
          maxMembers: "0",
        }),
        build(values, { policy }) {
          const p = createFieldParser(values);
          const tierId = p.integer("tierId", { max: 254n });
          const queries = p.integer("queriesPerEpoch", { max: MAX_UINT64 });
          const price = p.eth("pricePerEpoch");
          if (price >= 2n ** 128n) p.errors.pricePerEpoch = "The price is too large.";
          const maxMembers = p.integer("maxMembers", { max: 2n ** 32n - 1n });
          // The registry numbers tiers in order and refuses a new one that grants nothing: say so before the vote.
          const count = policy?.tiers.size;
          if (count !== undefined && !p.errors.tierId && tierId > BigInt(count))
            p.errors.tierId = `Tier ids go in order: the next new tier is ${count}.`;
          else if (count !== undefined && tierId === BigInt(count) && queries === 0n && !p.errors.queriesPerEpoch)
            p.errors.queriesPerEpoch = "A new tier must grant at least one query per epoch.";
          return p.done((): PolicyCall => ({
            functionName: "setTier",
            args: [Number(tierId), queries, price, p.text("open") === "true", Number(maxMembers)],
          }));
        },
      },
    ],
    describe([tierId, queriesPerEpoch, pricePerEpoch, open, maxMembers], policy) {
      const tier = { queriesPerEpoch, pricePerEpoch, open, maxMembers };
      const existing = policy?.tiers.get(tierId);
      return {
        summary:
          queriesPerEpoch === 0n
            ? `Remove access tier ${tierId}: its members keep no quota from it`
            : `${existing ? "Change" : "Add"} access tier ${tierId}: ${tierWords(tier)}, joined by paying with no vote`,
        changes: policy
          ? [
              {
                label: `Access tier ${tierId}`,
                before: existing && existing.queriesPerEpoch > 0n ? tierWords(existing) : "none",
                after: queriesPerEpoch === 0n ? "none (removed)" : tierWords(tier),
              },
            ]
          : [],
        fields: [
          { label: "tier", value: String(tierId) },
          { label: "queries per epoch", value: queriesPerEpoch.toString() },
          { label: "price per epoch", value: formatEth(pricePerEpoch) },
          { label: "new members", value: open ? "open" : "closed (members may renew)" },
          { label: "members at most", value: maxMembers === 0 ? "no limit" : String(maxMembers) },
        ],
      };
    },
    describeEvent: ({ tierId, ...tier }: EventArgs<"TierSet">) =>
      tier.queriesPerEpoch === 0n ? `Removed access tier ${tierId}` : `Set access tier ${tierId}: ${tierWords(tier)}`,
  },
  joinTier: {
    caller: "anyone",
    example: [0, 1n],
    event: "TierJoined",
    // A consumer joins by paying (the Consume page), not by a proposal.
    forms: [],
    describe: ([tierId, epochs]) => ({
      summary: `Join access tier ${tierId} for ${plural(epochs, "epoch")}, paying its price`,
      changes: [],
    }),
    describeEvent: (args: EventArgs<"TierJoined">) =>
      `${shortAddress(args.consumer)} joined access tier ${args.tierId} for epochs ${args.fromEpoch} to ${
        args.untilEpoch - 1n
      }, paying ${formatEth(args.paid)}`,
  },
  setQueryFee: {
    caller: "timelock",
    example: [1n],
    event: "QueryFeeSet",
    forms: [
      {
        id: "queryFee",
        label: "Set the query fee",
        help: "What a consumer pays per query; the fees fund the contributors' reward pool.",
        fields: [{ name: "fee", label: "Fee per query (ETH)", type: "eth" }],
        defaults: ({ policy }) => ({ fee: policy ? ethFieldValue(policy.feePerQuery) : "0" }),
        build(values) {
          const p = createFieldParser(values);
          const fee = p.eth("fee");
          return p.done((): PolicyCall => ({ functionName: "setQueryFee", args: [fee] }));
        },
      },
    ],
    describe: ([fee], policy) => ({
      summary: `Set the fee per query to ${formatEth(fee)}`,
      changes: policy ? [{ label: "Fee per query", before: formatEth(policy.feePerQuery), after: formatEth(fee) }] : [],
    }),
    describeEvent: (args: EventArgs<"QueryFeeSet">) => `Set the fee per query to ${formatEth(args.feePerQuery)}`,
  },
  setCommittee: {
    caller: "timelock",
    example: [[EXAMPLE_ACCOUNT], ["0x02"], 1],
    event: "CommitteeSet",
    forms: [
      {
        id: "committee",
        label: "Change the keyholder committee",
        help: "Replace the committee that holds the shares of each data key. New submissions are split for the new committee.",
        fields: [
          {
            name: "members",
            label: "Members and public keys",
            type: "textarea",
            help: "One member per line: the address, a space, then its encryption public key (0x…).",
            placeholder: "0xAbc… 0x04…",
          },
          { name: "threshold", label: "Shares needed to recover a key", type: "number" },
        ],
        defaults: ({ policy }) => ({
          members:
            policy?.committee.members.map((m, i) => `${m} ${policy.committee.publicKeys[i] ?? ""}`).join("\n") ?? "",
          threshold: String(policy?.committee.threshold || 2),
        }),
        build(values) {
          const p = createFieldParser(values);
          const lines = p
            .text("members")
            .split("\n")
            .map((l) => l.trim())
            .filter(Boolean);
          const members: Address[] = [];
          const keys: Hex[] = [];
          for (const [i, line] of lines.entries()) {
            const [address = "", key = ""] = line.split(/[\s,]+/);
            if (!isAddress(address)) p.errors.members = `Line ${i + 1}: not an address.`;
            // The registry refuses anything but a compressed secp256k1 point, and a key given twice
            // (its holder would open two shares): say so before anyone votes on it.
            else if (!/^0x0[23][0-9a-fA-F]{64}$/.test(key))
              p.errors.members = `Line ${i + 1}: the public key must be 33 bytes, 0x02 or 0x03 then 32 bytes (a compressed secp256k1 key).`;
            else if (keys.some((k) => k.toLowerCase() === key.toLowerCase()))
              p.errors.members = `Line ${i + 1}: the same public key as another member.`;
            else {
              members.push(getAddress(address));
              keys.push(key as Hex);
            }
          }
          if (lines.length === 0) p.errors.members = "Enter at least one member.";
          const threshold = p.integer("threshold", { min: 1n, max: BigInt(Math.max(1, lines.length)) });
          return p.done((): PolicyCall => ({ functionName: "setCommittee", args: [members, keys, Number(threshold)] }));
        },
      },
    ],
    describe([members, publicKeys, threshold], policy) {
      const after = `${plural(members.length, "member")}, ${threshold} needed to release a key`;
      const c = policy?.committee;
      return {
        summary: `Replace the keyholder committee: ${after} (${members.map(shortAddress).join(", ")})`,
        changes: c
          ? [
              {
                label: "Keyholder committee",
                before: c.id === 0n ? "none" : `#${c.id}: ${plural(c.members.length, "member")}, ${c.threshold} needed`,
                after,
              },
            ]
          : [],
        fields: [
          { label: "members", value: members.join(", ") },
          { label: "public keys", value: publicKeys.map((k) => shortHex(k, 8)).join(", ") },
          { label: "threshold", value: String(threshold) },
        ],
      };
    },
    describeEvent: (args: EventArgs<"CommitteeSet">) =>
      `Replaced the keyholder committee (#${args.committeeId}): ${plural(args.members.length, "member")}, ${
        args.threshold
      } needed to release a key`,
  },
  approveTrainingRun: {
    caller: "timelock",
    example: [EXAMPLE_HASH, EXAMPLE_HASH, EXAMPLE_ACCOUNT, 1n],
    event: "TrainingRunApproved",
    forms: [
      {
        id: "approveTrainingRun",
        label: "Approve a training run",
        help: "Let an authorised worker train on the data: keyholders release their shares only for approved runs.",
        fields: [
          {
            name: "runId",
            label: "Run id",
            type: "bytes32",
            help: "A name (hashed into the id) or a 32-byte hex id.",
          },
          {
            name: "spec",
            label: "Specification hash",
            type: "bytes32",
            help: "The hash of what the run may read and how it trains, or its text.",
          },
          { name: "operator", label: "Operator (an authorised worker)", type: "address" },
          { name: "expiresAt", label: "Approval expires", type: "datetime" },
        ],
        defaults: ({ policy, now }) => ({
          runId: "",
          spec: "",
          operator: [...(policy?.workers ?? [])][0] ?? "",
          expiresAt: toDatetimeLocal(now + 30 * 86_400),
        }),
        build(values, { now }) {
          const p = createFieldParser(values);
          const runId = p.bytes32("runId");
          const spec = p.bytes32("spec");
          const operator = p.address("operator");
          const expiresAt = p.datetime("expiresAt");
          if (expiresAt !== 0n && expiresAt <= BigInt(now)) p.errors.expiresAt = "The expiry must be in the future.";
          return p.done((): PolicyCall => ({
            functionName: "approveTrainingRun",
            args: [runId, spec, operator, expiresAt],
          }));
        },
      },
    ],
    describe: ([runId, specHash, operator, expiresAt], policy) => ({
      summary: `Approve training run ${shortHex(runId)}, run by ${shortAddress(operator)}, until ${formatTime(expiresAt)}`,
      changes: policy
        ? [
            {
              label: `Training run ${shortHex(runId)}`,
              before: runState(policy, runId, "not approved"),
              after: `approved until ${formatTime(expiresAt)}`,
            },
          ]
        : [],
      fields: [
        { label: "run id", value: runId },
        { label: "specification hash", value: specHash },
        { label: "operator", value: operator },
        { label: "expires", value: formatTime(expiresAt) },
      ],
    }),
    describeEvent: (args: EventArgs<"TrainingRunApproved">) =>
      `Approved training run ${shortHex(args.runId)} for operator ${shortAddress(args.operator)}, until ${formatTime(
        args.expiresAt,
      )}`,
  },
  revokeTrainingRun: {
    caller: "timelock",
    example: [EXAMPLE_HASH],
    event: "TrainingRunRevoked",
    forms: [
      {
        id: "revokeTrainingRun",
        label: "Revoke a training run",
        help: "Withdraw a run's approval: keyholders stop releasing shares for it.",
        fields: [{ name: "runId", label: "Run id", type: "bytes32", help: "The run's name or 32-byte id." }],
        defaults: ({ policy }) => ({
          runId: [...(policy?.trainingRuns ?? [])].find(([, run]) => !run.revoked)?.[0] ?? "",
        }),
        build(values) {
          const p = createFieldParser(values);
          const runId = p.bytes32("runId");
          return p.done((): PolicyCall => ({ functionName: "revokeTrainingRun", args: [runId] }));
        },
      },
    ],
    describe: ([runId], policy) => ({
      summary: `Withdraw the approval of training run ${shortHex(runId)}`,
      changes: policy
        ? [
            {
              label: `Training run ${shortHex(runId)}`,
              before: runState(policy, runId, "does not exist"),
              after: "revoked",
            },
          ]
        : [],
    }),
    describeEvent: (args: EventArgs<"TrainingRunRevoked">) =>
      `Withdrew the approval of training run ${shortHex(args.runId)}`,
  },
  setWorker: {
    caller: "timelock",
    example: [EXAMPLE_ACCOUNT, true],
    event: "WorkerSet",
    forms: [
      {
        id: "worker",
        label: "Authorise or remove a worker",
        help: "Workers record contributions, settle usage and commit trained models.",
        fields: [
          { name: "worker", label: "Worker", type: "address" },
          {
            name: "authorised",
            label: "Change",
            type: "select",
            options: [
              { value: "true", label: "Authorise" },
              { value: "false", label: "Remove" },
            ],
          },
        ],
        defaults: () => ({ worker: "", authorised: "true" }),
        build(values) {
          const p = createFieldParser(values);
          const worker = p.address("worker");
          return p.done((): PolicyCall => ({
            functionName: "setWorker",
            args: [worker, p.text("authorised") === "true"],
          }));
        },
      },
    ],
    describe: ([worker, on], policy) => ({
      summary: on
        ? `Authorise ${shortAddress(worker)} as a worker (records contributions, settles usage, commits models)`
        : `Remove worker ${shortAddress(worker)}`,
      changes: policy
        ? [
            {
              label: `${shortAddress(worker)} is an authorised worker`,
              before: yesNo(has(policy.workers, worker)),
              after: yesNo(on),
            },
          ]
        : [],
    }),
    describeEvent: (args: EventArgs<"WorkerSet">) =>
      args.authorised
        ? `Authorised worker ${shortAddress(args.worker)}`
        : `Removed worker ${shortAddress(args.worker)}`,
  },
  setRevealDelay: {
    caller: "timelock",
    example: [1n],
    event: "RevealDelaySet",
    forms: [
      {
        id: "revealDelay",
        label: "Set the model reveal delay",
        help: "How long after a model is committed its weights may be published.",
        fields: [{ name: "delay", label: "Reveal delay", type: "duration", help: "e.g. 7 d." }],
        defaults: ({ policy }) => ({ delay: String(policy?.revealDelay ?? 604_800n) }),
        build(values) {
          const p = createFieldParser(values);
          const delay = p.duration("delay");
          if (delay > MAX_REVEAL_DELAY && !p.errors.delay) p.errors.delay = "The reveal delay may be at most 365 days.";
          return p.done((): PolicyCall => ({ functionName: "setRevealDelay", args: [delay] }));
        },
      },
    ],
    describe: ([delay], policy) => ({
      summary: `Let trained models be revealed ${formatDuration(delay)} after they are committed`,
      changes: policy
        ? [{ label: "Model reveal delay", before: formatDuration(policy.revealDelay), after: formatDuration(delay) }]
        : [],
    }),
    describeEvent: (args: EventArgs<"RevealDelaySet">) =>
      `Set the model reveal delay to ${formatDuration(args.revealDelay)}`,
  },
  setGuardian: {
    caller: "timelock",
    example: [EXAMPLE_ACCOUNT],
    event: "GuardianSet",
    forms: [
      {
        id: "guardian",
        label: "Replace the guardian",
        help: "Who may engage the kill switch at once (a Safe, in production).",
        fields: [{ name: "guardian", label: "New guardian", type: "address" }],
        defaults: () => ({ guardian: "" }),
        build(values) {
          const p = createFieldParser(values);
          const guardian = p.address("guardian");
          return p.done((): PolicyCall => ({ functionName: "setGuardian", args: [guardian] }));
        },
      },
    ],
    describe: ([guardian], policy) => ({
      summary: `Make ${shortAddress(guardian)} the guardian (may engage the kill switch)`,
      changes: policy
        ? [{ label: "Guardian", before: shortAddress(policy.guardian), after: shortAddress(guardian) }]
        : [],
    }),
    describeEvent: (args: EventArgs<"GuardianSet">) =>
      `Replaced the guardian ${shortAddress(args.previousGuardian)} with ${shortAddress(args.newGuardian)}`,
  },
  engageKillSwitch: {
    caller: "guardian or timelock",
    example: ["example"],
    event: "KillSwitchEngaged",
    forms: [
      {
        id: "engageKillSwitch",
        label: "Engage the kill switch",
        help: "Stop ingest, inference and training (the guardian can do this at once, without a vote).",
        fields: [{ name: "reason", label: "Reason", type: "text", help: "1 to 280 bytes, shown to every user." }],
        defaults: () => ({ reason: "" }),
        build(values) {
          const p = createFieldParser(values);
          const reason = p.text("reason");
          const bytes = new TextEncoder().encode(reason).length;
          if (bytes === 0 || bytes > 280) p.errors.reason = "The reason must be 1 to 280 bytes.";
          return p.done((): PolicyCall => ({ functionName: "engageKillSwitch", args: [reason] }));
        },
      },
    ],
    describe: ([reason], policy) => ({
      summary: `Engage the kill switch: “${reason}”`,
      changes: policy
        ? [{ label: "Kill switch", before: policy.killSwitch.engaged ? "engaged" : "off", after: "engaged" }]
        : [],
    }),
    describeEvent: (args: EventArgs<"KillSwitchEngaged">) =>
      `Engaged the kill switch (engagement ${args.engagementId}): “${args.reason}”`,
  },
  liftKillSwitch: {
    caller: "timelock",
    example: [1n],
    event: "KillSwitchLifted",
    forms: [
      {
        id: "liftKillSwitch",
        label: "Lift the kill switch",
        help: "Let the AI ingest, answer and train again. Only a proposal can do this, and it names the engagement it lifts: it cannot lift a later one.",
        fields: [
          {
            name: "engagementId",
            label: "Engagement",
            type: "number",
            help: "The engagement in force (shown in the kill switch banner); a lift of another one reverts.",
          },
        ],
        defaults: ({ policy }) => ({ engagementId: String(policy?.killSwitch.engagementId || "") }),
        build(values, { policy }) {
          const p = createFieldParser(values);
          const engagementId = p.integer("engagementId", { min: 1n, max: MAX_UINT64 });
          const killSwitch = policy?.killSwitch;
          if (killSwitch && !p.errors.engagementId) {
            if (!killSwitch.engaged)
              p.errors.engagementId = "The kill switch is not engaged: there is nothing to lift.";
            else if (killSwitch.engagementId !== engagementId)
              p.errors.engagementId = `Engagement ${killSwitch.engagementId} is in force, not ${engagementId}.`;
          }
          return p.done((): PolicyCall => ({ functionName: "liftKillSwitch", args: [engagementId] }));
        },
      },
    ],
    describe([engagementId], policy) {
      const current = policy?.killSwitch.engaged ? policy.killSwitch.engagementId : undefined;
      // A lift names the engagement it lifts, so a stale one (voted on an earlier incident) reverts.
      const stale =
        policy && current !== engagementId
          ? current === undefined
            ? " (the kill switch is off now: this lift would revert)"
            : ` (engagement ${current} is in force now: this lift would revert)`
          : "";
      return {
        summary: `Lift the kill switch (engagement ${engagementId}): ingest, inference and training resume${stale}`,
        changes: policy
          ? [
              {
                label: "Kill switch",
                before: current === undefined ? "off" : `engaged (engagement ${current})`,
                after: current === engagementId ? "off" : "unchanged: this lift would revert",
              },
            ]
          : [],
      };
    },
    describeEvent: (args: EventArgs<"KillSwitchLifted">) => `Lifted the kill switch (engagement ${args.engagementId})`,
  },
};

/** Every form of the builder, in the table's order. */
export const policyForms: readonly PolicyForm[] = Object.values(policyActions).flatMap((row) => row.forms);

/** A typed call of a setter: `policyCall("setQuota", [consumer, 100n])`. */
export function policyCall<F extends PolicySetter>(functionName: F, args: PolicySetterArgs<F>): PolicyCall {
  return { functionName, args } as PolicyCall;
}

/** The call's calldata, to the registry. */
export function encodePolicyCall(call: PolicyCall): Hex {
  return encodeFunctionData({ abi: policyRegistryAbi, ...call } as EncodeFunctionDataParameters<RegistryAbi>);
}

/** The setter call `data` makes, or undefined when it calls no setter of the registry (a view, or another contract's function). */
export function decodePolicyCall(data: Hex): PolicyCall | undefined {
  try {
    const decoded = decodeFunctionData({ abi: policyRegistryAbi, data });
    return decoded.functionName in policyActions ? (decoded as PolicyCall) : undefined;
  } catch {
    return undefined;
  }
}

// One row's functions take that row's arguments; the lookups below pair a call with its own row,
// which TypeScript cannot follow through a union, so they see the row with its widest signature.
type AnyRow = {
  describe(args: unknown, policy: Policy | undefined): PolicyCallWords;
  describeEvent(args: unknown): string;
};

/** A setter call in words, with what it changes in `policy`. */
export function describePolicyCall(call: PolicyCall, policy?: Policy): PolicyCallWords {
  return (policyActions[call.functionName] as AnyRow).describe(call.args, policy);
}

/** A registry event in the past tense, as the history lists it; the event's name for one no row emits. */
export function describePolicyEvent(event: Pick<PolicyEvent, "eventName" | "args">): string {
  const row = Object.values(policyActions).find((r) => r.event === event.eventName) as AnyRow | undefined;
  return row ? row.describeEvent(event.args) : event.eventName;
}
