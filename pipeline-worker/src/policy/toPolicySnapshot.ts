import type { Address } from "viem";
import type { PolicySnapshotWire } from "../api/policyWire.ts";
import type { PolicyView } from "./createPolicySync.ts";
import { accessOf, epochAt } from "./Policy.ts";
import { toPolicyJson } from "./policyJson.ts";

/** The JSON body of `GET /v1/policy`, whose shape api/policyWire.ts declares. */
export type PolicySnapshot = PolicySnapshotWire;

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
