import {
  encodeFunctionData,
  isAddress,
  isHex,
  keccak256,
  parseAbiItem,
  parseEther,
  toHex,
  getAddress,
  type AbiFunction,
  type Address,
  type Hex,
} from "viem";
import { contributorRewardsAbi, policyRegistryAbi } from "../../../lib/abis.ts";
import type { Call } from "../../../lib/describeCall.ts";
import type { Deployment } from "../../../lib/RuntimeConfig.ts";
import type { Policy } from "../../../lib/readPolicy.ts";

/** One input of an action's form. Every value is kept as the text typed, and parsed by `build`. */
export type FieldSpec = {
  name: string;
  label: string;
  type:
    | "address"
    | "addresses"
    | "number"
    | "eth"
    | "text"
    | "textarea"
    | "bytes32"
    | "datetime"
    | "duration"
    | "select"
    | "hex";
  help?: string;
  placeholder?: string;
  options?: { value: string; label: string }[];
};

export type BuildContext = {
  contracts: Deployment["contracts"];
  dataSchemaUID: Hex;
  policy: Policy | undefined;
  now: number;
};

export type Built = { ok: true; call: Call } | { ok: false; errors: Record<string, string> };

export type ActionKind = {
  id: string;
  label: string;
  /** One sentence on what the action does. */
  help: string;
  fields: FieldSpec[];
  defaults(context: BuildContext): Record<string, string>;
  build(values: Record<string, string>, context: BuildContext): Built;
};

/** Collects parse errors per field; `done` returns them, or the call when there are none. */
function parser(values: Record<string, string>) {
  const errors: Record<string, string> = {};
  const value = (name: string) => (values[name] ?? "").trim();
  return {
    errors,
    address(name: string): Address {
      const v = value(name);
      if (!isAddress(v)) {
        errors[name] = v === "" ? "Enter an address." : "Not an address (0x followed by 40 hex digits).";
        return "0x0000000000000000000000000000000000000000";
      }
      return getAddress(v);
    },
    addresses(name: string): Address[] {
      const parts = value(name)
        .split(/[\s,;]+/)
        .filter(Boolean);
      if (parts.length === 0) errors[name] = "Enter at least one address.";
      const bad = parts.filter((p) => !isAddress(p));
      if (bad.length > 0) errors[name] = `Not an address: ${bad[0]}`;
      const list = parts.filter((p) => isAddress(p)).map((p) => getAddress(p));
      if (new Set(list).size !== list.length) errors[name] = "Each address may appear once.";
      return list;
    },
    integer(name: string, { min = 0n, max }: { min?: bigint; max?: bigint } = {}): bigint {
      const v = value(name);
      if (!/^\d+$/.test(v)) {
        errors[name] = "Enter a whole number.";
        return 0n;
      }
      const n = BigInt(v);
      if (n < min) errors[name] = `Must be at least ${min}.`;
      if (max !== undefined && n > max) errors[name] = `Must be at most ${max}.`;
      return n;
    },
    eth(name: string): bigint {
      const v = value(name);
      try {
        if (!/^\d*\.?\d+$/.test(v)) throw new RangeError(v);
        return parseEther(v);
      } catch {
        errors[name] = "Enter an amount in ETH, e.g. 0.01.";
        return 0n;
      }
    },
    duration(name: string): bigint {
      const match = /^(\d+)\s*(s|sec|m|min|h|d|w)?$/i.exec(value(name));
      if (!match) {
        errors[name] = "Enter a duration: 3600, 90 min, 12 h or 7 d.";
        return 0n;
      }
      const unit = { s: 1n, sec: 1n, m: 60n, min: 60n, h: 3600n, d: 86_400n, w: 604_800n }[
        (match[2] ?? "s").toLowerCase() as "s"
      ];
      return BigInt(match[1]!) * unit;
    },
    /** A bytes32: given as 0x + 64 hex digits, or any text, which is hashed (keccak-256). */
    bytes32(name: string, { hashText = true } = {}): Hex {
      const v = value(name);
      if (/^0x[0-9a-fA-F]{64}$/.test(v)) return v.toLowerCase() as Hex;
      if (hashText && v !== "") return keccak256(toHex(v));
      errors[name] = hashText ? "Enter a name or a 32-byte hex value." : "Enter 0x followed by 64 hex digits.";
      return `0x${"00".repeat(32)}`;
    },
    datetime(name: string): bigint {
      const ms = Date.parse(value(name));
      if (Number.isNaN(ms)) {
        errors[name] = "Enter a date and time.";
        return 0n;
      }
      return BigInt(Math.floor(ms / 1000));
    },
    text: value,
    done(call: () => Call): Built {
      return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, call: call() };
    },
  };
}

/** The registry's limit (IPolicyRegistry.setRevealDelay). */
const MAX_REVEAL_DELAY = 365n * 86_400n;

const registryCall = (context: BuildContext, functionName: string, args: readonly unknown[]): Call => ({
  target: context.contracts.policyRegistry,
  value: 0n,
  data: encodeFunctionData({ abi: policyRegistryAbi, functionName, args } as never),
});

/** A datetime-local input's value for a unix time, in the browser's time zone. */
export function toDatetimeLocal(seconds: number): string {
  const d = new Date(seconds * 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function submitterKind(allow: boolean): ActionKind {
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
    build(values, context) {
      const p = parser(values);
      const list = p.addresses("addresses");
      return p.done(() =>
        list.length === 1
          ? registryCall(context, "setSubmitter", [list[0], allow])
          : registryCall(context, "setSubmitters", [list, allow]),
      );
    },
  };
}

/** Every action the builder offers: one per policy item, plus the treasury and a raw call. */
export const ACTION_KINDS: ActionKind[] = [
  submitterKind(true),
  submitterKind(false),
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
      { name: "schemaUID", label: "EAS schema UID", type: "bytes32", help: "The system's data schema by default." },
    ],
    defaults: (context) => ({
      attesters: context.policy?.attestation.attesters.join("\n") ?? "",
      minAttestations: String(context.policy?.attestation.minAttestations || 1),
      maxAge: String(context.policy?.attestation.maxAge ?? 0n),
      schemaUID:
        context.policy && context.policy.attestation.minAttestations > 0
          ? context.policy.attestation.schemaUID
          : context.dataSchemaUID,
    }),
    build(values, context) {
      const p = parser(values);
      const attesters = p.addresses("attesters");
      const min = p.integer("minAttestations", { min: 1n, max: BigInt(Math.max(1, attesters.length)) });
      const maxAge = p.duration("maxAge");
      const schema = p.bytes32("schemaUID", { hashText: false });
      return p.done(() => registryCall(context, "setAttestationRequirement", [schema, attesters, Number(min), maxAge]));
    },
  },
  {
    id: "quota",
    label: "Set a consumer's quota",
    help: "How many queries an account may make per epoch; 0 removes the consumer.",
    fields: [
      { name: "consumer", label: "Consumer", type: "address", placeholder: "0x…" },
      { name: "queriesPerEpoch", label: "Queries per epoch", type: "number" },
    ],
    defaults: () => ({ consumer: "", queriesPerEpoch: "100" }),
    build(values, context) {
      const p = parser(values);
      const consumer = p.address("consumer");
      const quota = p.integer("queriesPerEpoch", { max: 2n ** 64n - 1n });
      return p.done(() => registryCall(context, "setQuota", [consumer, quota]));
    },
  },
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
      { name: "pricePerEpoch", label: "Price per epoch (ETH)", type: "eth", help: "Paid to the treasury on joining." },
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
    defaults: (context) => ({
      tierId: String(context.policy?.tiers.length ?? 0),
      queriesPerEpoch: "20",
      pricePerEpoch: "0.001",
      open: "true",
      maxMembers: "0",
    }),
    build(values, context) {
      const p = parser(values);
      const tierId = p.integer("tierId", { max: 254n });
      const queries = p.integer("queriesPerEpoch", { max: 2n ** 64n - 1n });
      const price = p.eth("pricePerEpoch");
      if (price >= 2n ** 128n) p.errors.pricePerEpoch = "The price is too large.";
      const maxMembers = p.integer("maxMembers", { max: 2n ** 32n - 1n });
      // The registry numbers tiers in order and refuses a new one that grants nothing: say so before the vote.
      const count = context.policy?.tiers.length;
      if (count !== undefined && !p.errors.tierId && tierId > BigInt(count))
        p.errors.tierId = `Tier ids go in order: the next new tier is ${count}.`;
      else if (count !== undefined && tierId === BigInt(count) && queries === 0n && !p.errors.queriesPerEpoch)
        p.errors.queriesPerEpoch = "A new tier must grant at least one query per epoch.";
      return p.done(() =>
        registryCall(context, "setTier", [
          Number(tierId),
          queries,
          price,
          p.text("open") === "true",
          Number(maxMembers),
        ]),
      );
    },
  },
  {
    id: "queryFee",
    label: "Set the query fee",
    help: "What a consumer pays per query; the fees fund the contributors' reward pool.",
    fields: [{ name: "fee", label: "Fee per query (ETH)", type: "eth" }],
    defaults: (context) => ({ fee: context.policy ? trimEth(context.policy.feePerQuery) : "0" }),
    build(values, context) {
      const p = parser(values);
      const fee = p.eth("fee");
      return p.done(() => registryCall(context, "setQueryFee", [fee]));
    },
  },
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
    defaults: (context) => ({
      members:
        context.policy?.committee.members
          .map((m, i) => `${m} ${context.policy?.committee.publicKeys[i] ?? ""}`)
          .join("\n") ?? "",
      threshold: String(context.policy?.committee.threshold || 2),
    }),
    build(values, context) {
      const p = parser(values);
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
      return p.done(() => registryCall(context, "setCommittee", [members, keys, Number(threshold)]));
    },
  },
  {
    id: "approveTrainingRun",
    label: "Approve a training run",
    help: "Let an authorised worker train on the data: keyholders release their shares only for approved runs.",
    fields: [
      { name: "runId", label: "Run id", type: "bytes32", help: "A name (hashed into the id) or a 32-byte hex id." },
      {
        name: "spec",
        label: "Specification hash",
        type: "bytes32",
        help: "The hash of what the run may read and how it trains, or its text.",
      },
      { name: "operator", label: "Operator (an authorised worker)", type: "address" },
      { name: "expiresAt", label: "Approval expires", type: "datetime" },
    ],
    defaults: (context) => ({
      runId: "",
      spec: "",
      operator: context.policy?.workers[0] ?? "",
      expiresAt: toDatetimeLocal(context.now + 30 * 86_400),
    }),
    build(values, context) {
      const p = parser(values);
      const runId = p.bytes32("runId");
      const spec = p.bytes32("spec");
      const operator = p.address("operator");
      const expiresAt = p.datetime("expiresAt");
      if (expiresAt !== 0n && expiresAt <= BigInt(context.now))
        p.errors.expiresAt = "The expiry must be in the future.";
      return p.done(() => registryCall(context, "approveTrainingRun", [runId, spec, operator, expiresAt]));
    },
  },
  {
    id: "revokeTrainingRun",
    label: "Revoke a training run",
    help: "Withdraw a run's approval: keyholders stop releasing shares for it.",
    fields: [{ name: "runId", label: "Run id", type: "bytes32", help: "The run's name or 32-byte id." }],
    defaults: (context) => ({ runId: context.policy?.trainingRuns.find((r) => !r.revoked)?.runId ?? "" }),
    build(values, context) {
      const p = parser(values);
      const runId = p.bytes32("runId");
      return p.done(() => registryCall(context, "revokeTrainingRun", [runId]));
    },
  },
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
    build(values, context) {
      const p = parser(values);
      const worker = p.address("worker");
      return p.done(() => registryCall(context, "setWorker", [worker, p.text("authorised") === "true"]));
    },
  },
  {
    id: "revealDelay",
    label: "Set the model reveal delay",
    help: "How long after a model is committed its weights may be published.",
    fields: [{ name: "delay", label: "Reveal delay", type: "duration", help: "e.g. 7 d." }],
    defaults: (context) => ({ delay: String(context.policy?.revealDelay ?? 604_800n) }),
    build(values, context) {
      const p = parser(values);
      const delay = p.duration("delay");
      if (delay > MAX_REVEAL_DELAY && !p.errors.delay) p.errors.delay = "The reveal delay may be at most 365 days.";
      return p.done(() => registryCall(context, "setRevealDelay", [delay]));
    },
  },
  {
    id: "guardian",
    label: "Replace the guardian",
    help: "Who may engage the kill switch at once (a Safe, in production).",
    fields: [{ name: "guardian", label: "New guardian", type: "address" }],
    defaults: () => ({ guardian: "" }),
    build(values, context) {
      const p = parser(values);
      const guardian = p.address("guardian");
      return p.done(() => registryCall(context, "setGuardian", [guardian]));
    },
  },
  {
    id: "fundPool",
    label: "Fund the reward pool",
    help: "Send ETH from the treasury (the timelock) to an epoch's contributor reward pool.",
    fields: [
      { name: "epoch", label: "Epoch", type: "number", help: "The current epoch by default." },
      { name: "amount", label: "Amount (ETH)", type: "eth" },
    ],
    defaults: (context) => ({ epoch: String(context.policy?.currentEpoch ?? 0n), amount: "1" }),
    build(values, context) {
      const p = parser(values);
      const epoch = p.integer("epoch", { max: 2n ** 64n - 1n });
      const amount = p.eth("amount");
      if (amount === 0n && !p.errors.amount) p.errors.amount = "The amount must be more than zero.";
      return p.done(() => ({
        target: context.contracts.contributorRewards,
        value: amount,
        data: encodeFunctionData({ abi: contributorRewardsAbi, functionName: "fund", args: [epoch] }),
      }));
    },
  },
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
    defaults: (context) => ({ engagementId: String(context.policy?.killSwitch.engagementId || "") }),
    build(values, context) {
      const p = parser(values);
      const engagementId = p.integer("engagementId", { min: 1n, max: 2n ** 64n - 1n });
      const killSwitch = context.policy?.killSwitch;
      if (killSwitch && !p.errors.engagementId) {
        if (!killSwitch.engaged) p.errors.engagementId = "The kill switch is not engaged: there is nothing to lift.";
        else if (killSwitch.engagementId !== engagementId)
          p.errors.engagementId = `Engagement ${killSwitch.engagementId} is in force, not ${engagementId}.`;
      }
      return p.done(() => registryCall(context, "liftKillSwitch", [engagementId]));
    },
  },
  {
    id: "voidContribution",
    label: "Void a contribution",
    help: "Poisoned or unlawful data: the contribution is never paid, and its share of its epoch's pool goes to the epoch's other contributions. Only while its contributor has claimed nothing from that epoch.",
    fields: [
      {
        name: "dataHash",
        label: "Data hash",
        type: "bytes32",
        help: "The contribution's data hash (0x followed by 64 hex digits), as recorded.",
      },
    ],
    defaults: () => ({ dataHash: "" }),
    build(values, context) {
      const p = parser(values);
      const dataHash = p.bytes32("dataHash", { hashText: false });
      return p.done(() => ({
        target: context.contracts.contributorRewards,
        value: 0n,
        data: encodeFunctionData({ abi: contributorRewardsAbi, functionName: "voidContribution", args: [dataHash] }),
      }));
    },
  },
  {
    id: "engageKillSwitch",
    label: "Engage the kill switch",
    help: "Stop ingest, inference and training (the guardian can do this at once, without a vote).",
    fields: [{ name: "reason", label: "Reason", type: "text", help: "1 to 280 bytes, shown to every user." }],
    defaults: () => ({ reason: "" }),
    build(values, context) {
      const p = parser(values);
      const reason = p.text("reason");
      const bytes = new TextEncoder().encode(reason).length;
      if (bytes === 0 || bytes > 280) p.errors.reason = "The reason must be 1 to 280 bytes.";
      return p.done(() => registryCall(context, "engageKillSwitch", [reason]));
    },
  },
  {
    id: "raw",
    label: "Raw call (experts)",
    help: "Any call the timelock can make. Give calldata, or a function signature and its arguments to encode.",
    fields: [
      { name: "target", label: "Target", type: "address" },
      { name: "value", label: "Value (ETH)", type: "eth" },
      {
        name: "signature",
        label: "Function signature (optional)",
        type: "text",
        placeholder: "setQuota(address,uint64)",
      },
      { name: "args", label: "Arguments as JSON (with a signature)", type: "text", placeholder: '["0x…", "100"]' },
      { name: "calldata", label: "Calldata (without a signature)", type: "hex", placeholder: "0x…" },
    ],
    defaults: () => ({ target: "", value: "0", signature: "", args: "[]", calldata: "0x" }),
    build(values) {
      const p = parser(values);
      const target = p.address("target");
      const value = p.eth("value");
      let data: Hex = "0x";
      const signature = p.text("signature");
      if (signature !== "") {
        try {
          const item = parseAbiItem(`function ${signature.replace(/^function\s+/, "")}`) as AbiFunction;
          const args = JSON.parse(p.text("args") || "[]") as unknown[];
          data = encodeFunctionData({ abi: [item], functionName: item.name, args } as never);
        } catch (error) {
          p.errors.signature = `Cannot encode: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
        }
      } else {
        const calldata = p.text("calldata");
        if (!isHex(calldata) || calldata.length % 2 !== 0) p.errors.calldata = "Enter 0x-prefixed hex bytes.";
        else data = calldata;
      }
      return p.done(() => ({ target, value, data }));
    },
  },
];

export function actionKind(id: string): ActionKind {
  return ACTION_KINDS.find((k) => k.id === id) ?? ACTION_KINDS[0]!;
}

function trimEth(wei: bigint): string {
  const whole = wei / 10n ** 18n;
  const fraction = (wei % 10n ** 18n).toString().padStart(18, "0").replace(/0+$/, "");
  return fraction ? `${whole}.${fraction}` : whole.toString();
}
