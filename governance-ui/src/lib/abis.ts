import type { Abi } from "viem";

type AbiError = Extract<Abi[number], { type: "error" }>;
import {
  contributorRewardsAbi,
  easAbi,
  governanceTokenAbi,
  modelCommitmentsAbi,
  policyGovernorAbi,
  policyRegistryAbi,
  runRewardsAbi,
  schemaRegistryAbi,
  timelockControllerAbi,
  usageSettlementAbi,
} from "../../../deployments/abis.ts";

export {
  contributorRewardsAbi,
  easAbi,
  governanceTokenAbi,
  modelCommitmentsAbi,
  policyGovernorAbi,
  policyRegistryAbi,
  runRewardsAbi,
  timelockControllerAbi,
  usageSettlementAbi,
};

/** The few functions of a Safe the guardian page uses (Safe 1.3 and 1.4 share them). */
export const safeAbi = [
  { type: "function", name: "getOwners", stateMutability: "view", inputs: [], outputs: [{ type: "address[]" }] },
  { type: "function", name: "getThreshold", stateMutability: "view", inputs: [], outputs: [{ type: "uint256" }] },
  { type: "function", name: "nonce", stateMutability: "view", inputs: [], outputs: [{ type: "uint256" }] },
  { type: "function", name: "VERSION", stateMutability: "view", inputs: [], outputs: [{ type: "string" }] },
  {
    type: "function",
    name: "execTransaction",
    stateMutability: "payable",
    inputs: [
      { name: "to", type: "address" },
      { name: "value", type: "uint256" },
      { name: "data", type: "bytes" },
      { name: "operation", type: "uint8" },
      { name: "safeTxGas", type: "uint256" },
      { name: "baseGas", type: "uint256" },
      { name: "gasPrice", type: "uint256" },
      { name: "gasToken", type: "address" },
      { name: "refundReceiver", type: "address" },
      { name: "signatures", type: "bytes" },
    ],
    outputs: [{ type: "bool" }],
  },
  {
    type: "event",
    name: "ExecutionSuccess",
    inputs: [
      { name: "txHash", type: "bytes32", indexed: false },
      { name: "payment", type: "uint256", indexed: false },
    ],
  },
] as const;

/** Every custom error of every contract of the system, once each: reverts bubble up through the Governor and the timelock, so any call can revert with any of them. */
export const systemErrorsAbi: Abi = dedupeErrors([
  ...policyRegistryAbi,
  ...policyGovernorAbi,
  ...timelockControllerAbi,
  ...governanceTokenAbi,
  ...contributorRewardsAbi,
  ...usageSettlementAbi,
  ...modelCommitmentsAbi,
  ...runRewardsAbi,
  ...easAbi,
  ...schemaRegistryAbi,
]);

function dedupeErrors(items: readonly Abi[number][]): AbiError[] {
  const byName = new Map<string, AbiError>();
  for (const item of items) {
    if (item.type !== "error") continue;
    const key = `${item.name}(${item.inputs.map((i) => i.type).join(",")})`;
    if (!byName.has(key)) byName.set(key, item);
  }
  return [...byName.values()];
}
