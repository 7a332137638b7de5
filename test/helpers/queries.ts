import { keccak256, toHex, type Hex } from "viem";
import { policyRegistryAbi, usageSettlementAbi } from "../../deployments/abis.ts";
import { queryTypedData, type QueryMessage } from "./queryTypedData.ts";
import type { System, Wallet } from "./system.ts";

/** A signed query as `UsageSettlement.settle` takes it. */
export type SignedQuery = QueryMessage & { signature: Hex };

/**
 * Consumers sign queries in TypeScript (EIP-712, `queryTypedData`); a worker settles them on chain.
 * Missing fields default to: the signer as consumer, the current epoch, a deadline an hour away, a
 * unique input hash.
 */
export function createQueries(system: System) {
  const { publicClient, deployment } = system;
  let inputs = 0;

  function currentEpoch() {
    return publicClient.readContract({
      address: deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "currentEpoch",
    });
  }

  async function sign(consumer: Wallet, fields: Partial<QueryMessage> & { nonce: bigint }): Promise<SignedQuery> {
    const now = (await publicClient.getBlock()).timestamp;
    const message: QueryMessage = {
      consumer: fields.consumer ?? consumer.account.address,
      inputHash: fields.inputHash ?? keccak256(toHex(`input ${++inputs}`)),
      nonce: fields.nonce,
      epoch: fields.epoch ?? (await currentEpoch()),
      deadline: fields.deadline ?? now + 3_600n,
    };
    const signature = await consumer.signTypedData({
      account: consumer.account,
      ...queryTypedData({
        chainId: deployment.chainId,
        usageSettlement: deployment.contracts.usageSettlement,
        message,
      }),
    });
    return { ...message, signature };
  }

  function settle(queries: SignedQuery[], from: Wallet = system.accounts.worker) {
    return from.writeContract({
      address: deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "settle",
      args: [queries],
    });
  }

  function deposit(consumer: Wallet, value: bigint) {
    return consumer.writeContract({
      address: deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "deposit",
      args: [consumer.account.address],
      value,
    });
  }

  return { currentEpoch, sign, settle, deposit };
}
