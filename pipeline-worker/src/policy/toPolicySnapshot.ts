import type { Address, Hex } from "viem";
import type { PolicyView } from "./createPolicySync.ts";
import { accessOf, epochAt } from "./Policy.ts";
import { toPolicyJson, type ConsumerAccessJson, type PolicyJson } from "./policyJson.ts";

/** The JSON body of `GET /v1/policy`. */
export type PolicySnapshot = {
  chainId: number;
  registry: string;
  /** The enforced policy (see {@link PolicyView.policy}). */
  policy: PolicyJson;
  /** The confirmed cursor: the block and policy version the enforced grants come from. */
  blockNumber: string;
  blockHash: Hex | null;
  policyVersion: string;
  head: { blockNumber: string; blockHash: Hex | null; policyVersion: string };
  confirmations: number;
  killSwitchUnconfirmed: boolean;
  epochs: { epochLength: string; epochGenesis: string };
  syncedAt: string;
  /** With `consumer`: where its quota in the current epoch comes from (a vote or a tier). */
  consumer?: ConsumerAccessJson;
};

export type ToPolicySnapshotParameters = {
  view: PolicyView;
  chainId: number;
  registry: Address;
  confirmations: number;
  /** Milliseconds since the epoch: the consumer's access is that of the epoch now. */
  now: number;
  consumer?: Address | undefined;
};

/** A policy view as JSON-safe text, with one consumer's access in the current epoch when asked. */
export function toPolicySnapshot({
  view,
  chainId,
  registry,
  confirmations,
  now,
  consumer,
}: ToPolicySnapshotParameters): PolicySnapshot {
  const epoch = epochAt(view.epochs, BigInt(Math.floor(now / 1000)));
  const access = consumer === undefined ? undefined : accessOf(view.policy, consumer, epoch);
  return {
    chainId,
    registry,
    policy: toPolicyJson(view.policy),
    blockNumber: view.confirmed.blockNumber.toString(),
    blockHash: view.confirmed.blockHash ?? null,
    policyVersion: view.confirmed.policyVersion.toString(),
    head: {
      blockNumber: view.head.blockNumber.toString(),
      blockHash: view.head.blockHash ?? null,
      policyVersion: view.head.policyVersion.toString(),
    },
    confirmations,
    killSwitchUnconfirmed: view.killSwitchUnconfirmed,
    epochs: {
      epochLength: view.epochs.epochLength.toString(),
      epochGenesis: view.epochs.epochGenesis.toString(),
    },
    syncedAt: new Date(view.syncedAt).toISOString(),
    ...(access === undefined
      ? {}
      : {
          consumer: {
            consumer: access.consumer,
            epoch: access.epoch.toString(),
            quota: access.quota.toString(),
            source: access.source,
            votedQuota: access.votedQuota.toString(),
            membership:
              access.membership === undefined
                ? null
                : {
                    tierId: access.membership.tierId,
                    fromEpoch: access.membership.fromEpoch.toString(),
                    untilEpoch: access.membership.untilEpoch.toString(),
                    active: access.membership.active,
                  },
          },
        }),
  };
}
