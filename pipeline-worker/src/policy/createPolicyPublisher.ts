import type { Hex } from "viem";
import type { Logger } from "../internal/createLogger.ts";
import type { KillSwitchChange, PolicyView } from "./createPolicySync.ts";
import type { EpochSchedule, Policy } from "./Policy.ts";
import { toPolicyJson } from "./policyJson.ts";

/** What one poll established: the policies, where they were read, and the policy enforced. */
export type PublishedPolicy = {
  /** Item by item the more restrictive of the confirmed and the tip policy. */
  effective: Policy;
  confirmed: { blockNumber: bigint; blockHash: Hex | undefined; policy: Policy };
  head: { blockNumber: bigint; blockHash: Hex; policy: Policy };
  epochs: EpochSchedule;
  syncedAt: number;
};

export type PolicyPublisher = {
  /** The last published policy, or undefined before the first poll succeeded. */
  current(): PublishedPolicy | undefined;
  /** Makes `next` current and tells the listeners what changed; `seenAt` is the head block that showed it. */
  publish(next: PublishedPolicy, seenAt: bigint): void;
  onKillSwitch(listener: (change: KillSwitchChange) => void): () => void;
  onPolicyChange(listener: (view: PolicyView) => void): () => void;
};

/**
 * Holds the published policy and tells listeners when it changes: the kill switch the moment the
 * enforced one flips, other changes once per distinct content. A listener that throws is logged
 * and never stops the others or the sync.
 */
export function createPolicyPublisher({ logger }: { logger?: Logger | undefined }): PolicyPublisher {
  let published: PublishedPolicy | undefined;
  let lastFingerprint: string | undefined;
  const killSwitchListeners = new Set<(change: KillSwitchChange) => void>();
  const policyListeners = new Set<(view: PolicyView) => void>();

  return {
    current: () => published,
    publish(next, seenAt) {
      const previous = published;
      published = next;
      const wasEngaged = previous?.effective.killSwitch.engaged ?? false;
      const engaged = next.effective.killSwitch.engaged;
      if (wasEngaged !== engaged) {
        const change: KillSwitchChange = {
          engaged,
          confirmed: engaged ? next.confirmed.policy.killSwitch.engaged : !next.head.policy.killSwitch.engaged,
          killSwitch: next.effective.killSwitch,
          blockNumber: seenAt,
          policyVersion: next.head.policy.policyVersion,
        };
        logger?.[engaged ? "warn" : "info"](
          { ...change, killSwitch: { ...change.killSwitch } },
          engaged ? "Kill switch engaged: stopping work." : "Kill switch lifted.",
        );
        for (const listener of killSwitchListeners) {
          try {
            listener(change);
          } catch (error) {
            logger?.error({ err: error }, "A kill switch listener threw.");
          }
        }
      }
      if (policyListeners.size === 0) return;
      // Compared by content: the tip is a new object on every poll, and a reorg can change a policy
      // without changing its version.
      const fingerprint = JSON.stringify([toPolicyJson(next.effective), toPolicyJson(next.head.policy)]);
      if (fingerprint !== lastFingerprint) {
        lastFingerprint = fingerprint;
        const current = toPolicyView(next);
        for (const listener of policyListeners) {
          try {
            listener(current);
          } catch (error) {
            logger?.error({ err: error }, "A policy change listener threw.");
          }
        }
      }
    },
    onKillSwitch(listener) {
      killSwitchListeners.add(listener);
      return () => killSwitchListeners.delete(listener);
    },
    onPolicyChange(listener) {
      policyListeners.add(listener);
      return () => policyListeners.delete(listener);
    },
  };
}

export function toPolicyView(state: PublishedPolicy): PolicyView {
  return {
    policy: state.effective,
    confirmed: {
      blockNumber: state.confirmed.blockNumber,
      blockHash: state.confirmed.blockHash,
      policyVersion: state.confirmed.policy.policyVersion,
      policy: state.confirmed.policy,
    },
    head: {
      blockNumber: state.head.blockNumber,
      blockHash: state.head.blockHash,
      policyVersion: state.head.policy.policyVersion,
      policy: state.head.policy,
    },
    epochs: state.epochs,
    killSwitchUnconfirmed: state.effective.killSwitch.engaged && !state.confirmed.policy.killSwitch.engaged,
    syncedAt: state.syncedAt,
  };
}
