import { encodeFunctionData, isHex, parseAbiItem, type AbiFunction, type Hex } from "viem";
import {
  encodePolicyCall,
  policyForms,
  type PolicyForm,
  type PolicyFormContext,
} from "@dao-ai/pipeline-worker/policy-actions";
import { createFieldParser, type FormResult } from "@dao-ai/pipeline-worker/policy-form";
import { contributorRewardsAbi } from "../../../lib/abis.ts";
import type { Call } from "../../../lib/describeCall.ts";
import type { Deployment } from "../../../lib/RuntimeConfig.ts";
import type { Policy } from "../../../lib/readPolicy.ts";

export type BuildContext = PolicyFormContext & {
  contracts: Deployment["contracts"];
  policy: Policy | undefined;
};

export type Built = { ok: true; call: Call } | { ok: false; errors: Record<string, string> };

/** An action of the builder: a form of the policy actions table, or one of the UI's own below. */
export type ActionKind = Omit<PolicyForm, "defaults" | "build"> & {
  defaults(context: BuildContext): Record<string, string>;
  build(values: Record<string, string>, context: BuildContext): Built;
};

function toBuilt(result: FormResult<Call>): Built {
  return result.ok ? { ok: true, call: result.value } : result;
}

/** The registry's setters come from the policy actions table, in its order. */
const registryKinds: ActionKind[] = policyForms.map((form) => ({
  ...form,
  build(values, context) {
    const built = form.build(values, context);
    return built.ok
      ? { ok: true, call: { target: context.contracts.policyRegistry, value: 0n, data: encodePolicyCall(built.value) } }
      : built;
  },
}));

/** Every action the builder offers: the policy actions table's forms, the treasury's and a raw call. */
export const ACTION_KINDS: ActionKind[] = [
  ...registryKinds,
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
      const p = createFieldParser(values);
      const epoch = p.integer("epoch", { max: 2n ** 64n - 1n });
      const amount = p.eth("amount");
      if (amount === 0n && !p.errors.amount) p.errors.amount = "The amount must be more than zero.";
      return toBuilt(
        p.done(() => ({
          target: context.contracts.contributorRewards,
          value: amount,
          data: encodeFunctionData({ abi: contributorRewardsAbi, functionName: "fund", args: [epoch] }),
        })),
      );
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
      const p = createFieldParser(values);
      const dataHash = p.bytes32("dataHash", { hashText: false });
      return toBuilt(
        p.done(() => ({
          target: context.contracts.contributorRewards,
          value: 0n,
          data: encodeFunctionData({ abi: contributorRewardsAbi, functionName: "voidContribution", args: [dataHash] }),
        })),
      );
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
      const p = createFieldParser(values);
      const target = p.address("target");
      const value = p.eth("value");
      let data: Hex = "0x";
      const signature = p.text("signature");
      if (signature !== "") {
        try {
          const item = parseAbiItem(`function ${signature.replace(/^function\s+/, "")}`) as AbiFunction;
          const args = JSON.parse(p.text("args") || "[]") as unknown[];
          data = encodeFunctionData({ abi: [item], functionName: item.name, args });
        } catch (error) {
          p.errors.signature = `Cannot encode: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
        }
      } else {
        const calldata = p.text("calldata");
        if (!isHex(calldata) || calldata.length % 2 !== 0) p.errors.calldata = "Enter 0x-prefixed hex bytes.";
        else data = calldata;
      }
      return toBuilt(p.done(() => ({ target, value, data })));
    },
  },
];

export function actionKind(id: string): ActionKind {
  return ACTION_KINDS.find((k) => k.id === id) ?? ACTION_KINDS[0]!;
}
