import type { Address, Hex, PublicClient } from "viem";
import { policyRegistryAbi } from "../abis.ts";
import { BaseError } from "../internal/BaseError.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { Metrics } from "../internal/createMetrics.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { createPolicyPublisher, toPolicyView } from "./createPolicyPublisher.ts";
import { createPolicyStore, type PolicyCheckpoint, type PolicyStore } from "./createPolicyStore.ts";
import { createPolicySyncMetrics } from "./createPolicySyncMetrics.ts";
import { createPollScheduler } from "./createPollScheduler.ts";
import { ChainMovedError, createReorgGuard, type BlockHeader } from "./createReorgGuard.ts";
import { diffPolicies, type PolicyField } from "./diffPolicies.ts";
import { evaluatePolicyFreshness, type PolicyFreshness } from "./evaluatePolicyFreshness.ts";
import { fetchPolicyEvents } from "./fetchPolicyEvents.ts";
import { mostRestrictivePolicy } from "./mostRestrictivePolicy.ts";
import { createGenesisPolicy, type EpochSchedule, type KillSwitch, type Policy } from "./Policy.ts";
import { PolicyVersionGapError } from "./PolicyVersionGapError.ts";
import type { PolicyDeployment } from "./readPolicyDeployment.ts";
import { reducePolicy } from "./reducePolicy.ts";
import { readEpochSchedule, readPolicyFromChain } from "./readPolicyFromChain.ts";
import { toPolicySnapshot, type PolicySnapshot } from "./toPolicySnapshot.ts";

export type CreatePolicySyncParameters = {
  client: PublicClient;
  deployment: PolicyDeployment;
  /** The store's own directory, e.g. `<dataDir>/policy`. */
  directory: string;
  /** Blocks that must follow a change before it grants anything (restrictions act at once). Default 2. */
  confirmations?: number;
  /** The most blocks one `eth_getLogs` request covers. Default 2,000. */
  maxBlockRange?: number;
  /** Time between polls once `start`ed. Default 2,000 ms. */
  pollingIntervalMs?: number;
  /** How old the last successful poll may be before the policy is refused as stale. Default 60 s. */
  stalenessMs?: number;
  /** How far the confirmed cursor may be behind the head before the policy is refused. Default confirmations + 16. */
  maxLagBlocks?: number;
  /**
   * How old the node's latest block may be, by its timestamp, before the policy is refused: a node
   * stuck behind the network answers quickly and consistently, but a kill switch engaged since is
   * not in its blocks. 0 turns the check off, for local chains that mine only on demand. Default 0.
   */
  maxHeadAgeSeconds?: number;
  /** Checkpoints of the confirmed state kept for reorgs. Default 8. */
  checkpoints?: number;
  /** The fewest blocks between kept checkpoints. Default 16. */
  checkpointSpacing?: number;
  /** Milliseconds since the epoch; injected by tests. Default `Date.now`. */
  now?: () => number;
  logger?: Logger | undefined;
  metrics?: Metrics | undefined;
  onProgress?: ((progress: PolicySyncProgress) => void) | undefined;
};

/** A block and the policy version after every registry event up to it. */
export type PolicyCursor = {
  blockNumber: bigint;
  /** Undefined only before anything was confirmed (the cursor sits before the deployment block). */
  blockHash: Hex | undefined;
  policyVersion: bigint;
};

/** What a caller checks a request against: one consistent, fresh view of the policy. */
export type PolicyView = {
  /** The policy to enforce: item by item the more restrictive of the confirmed and the tip policy. */
  policy: Policy;
  /** The policy confirmed at `confirmed`, and where it was confirmed. */
  confirmed: PolicyCursor & { policy: Policy };
  /** The newest policy seen, at the head, including changes not yet confirmed. */
  head: PolicyCursor & { policy: Policy };
  epochs: EpochSchedule;
  /** Whether the kill switch is engaged at the head but the engagement is not yet confirmed. */
  killSwitchUnconfirmed: boolean;
  /** When the poll that produced this view started (ms since the epoch). */
  syncedAt: number;
};

export type PolicySyncProgress = {
  fromBlock: bigint;
  toBlock: bigint;
  /** Where the confirmed cursor is headed in this poll: head minus confirmations. */
  targetBlock: bigint;
  events: number;
};

export type PolicyPollResult = {
  confirmed: PolicyCursor;
  head: PolicyCursor;
  eventsApplied: number;
  /** Set when the poll found the stored cursor off the canonical chain and rolled back. */
  rolledBackTo: bigint | undefined;
};

/** Sent the moment the enforced kill switch changes: engaged as soon as seen, lifted once confirmed. */
export type KillSwitchChange = {
  engaged: boolean;
  /** Whether the change has the configured confirmations. */
  confirmed: boolean;
  killSwitch: KillSwitch;
  /** The head block at which the change was seen. */
  blockNumber: bigint;
  policyVersion: bigint;
};

export type PolicySync = {
  /** Polls now and then every `pollingIntervalMs` until `stop`. */
  start(): void;
  /** Stops polling and waits for a poll in progress. */
  stop(): Promise<void>;
  /** Stops and closes the store. */
  close(): Promise<void>;
  /** One poll now (joins the one in progress, if any). Rejects with the poll's error. */
  poll(): Promise<PolicyPollResult>;
  /** The current view, or a POLICY_STALE error saying why it cannot be trusted and what to do. */
  requireFreshPolicy(): PolicyView;
  /** The enforced policy: `requireFreshPolicy().policy`. */
  policy(): Policy;
  /**
   * For `GET /v1/policy`: the fresh view, JSON-safe; throws POLICY_STALE as `requireFreshPolicy`
   * does. With `consumer`, also that consumer's access in the current epoch.
   */
  snapshot(options?: { consumer?: Address }): PolicySnapshot;
  /** Called synchronously when the enforced kill switch changes; returns an unsubscribe function. */
  onKillSwitch(listener: (change: KillSwitchChange) => void): () => void;
  /** Called after every poll that changed the confirmed or the head policy. */
  onPolicyChange(listener: (view: PolicyView) => void): () => void;
};

type Confirmed = { blockNumber: bigint; blockHash: Hex | undefined; policy: Policy };

const SCALAR_FIELDS: readonly PolicyField[] = [
  "policyVersion",
  "attestation",
  "feePerQuery",
  // At most 255 tiers, all read from the views.
  "tiers",
  "committee",
  "revealDelay",
  "guardian",
  "killSwitch",
];
// Above this many accounts or runs, the start-up check against the views reads only the scalars.
const MAX_VERIFIED_ENTRIES = 64;
const CHAIN_MOVED_ATTEMPTS = 3;
// The longest a catch-up goes without persisting its cursor (its last range is always persisted),
// unless writes grow slow: the time between two is also at least PERSIST_COST_FACTOR times the
// last one's, so that writing takes at most a twentieth of a catch-up however large the policy.
const PERSIST_INTERVAL_MS = 10_000;
const PERSIST_COST_FACTOR = 20;

/**
 * Follows the PolicyRegistry's events and keeps the policy every request is checked against, in
 * the manner of Ponder's `createRealtimeSync`.
 *
 * Two views are kept. The confirmed policy holds the events up to `head - confirmations`; it is
 * persisted with its cursor (block number and hash) and a few older checkpoints. The tip policy
 * is the confirmed one plus the events of the newer blocks; it is recomputed from scratch on
 * every poll and never persisted, so each event reaches derived state exactly once however often
 * the head reorganises. The enforced policy takes, item by item, the more restrictive of the two
 * (see `mostRestrictivePolicy`): the kill switch acts when first seen, grants wait.
 *
 * Each poll first checks that the cursor's block is still canonical and, if not, rolls back to
 * the newest checkpoint that is (or to the deployment). Every range read is bracketed by reading
 * its last block's hash before and after, and the cursor is checked to be still canonical, so a
 * reorg while reading makes the poll read again instead of mixing two forks (`createReorgGuard`).
 * Every registry event carries the next policy version, and each poll compares the version at the
 * head with the registry's, so missed logs are detected and the range read again.
 *
 * A node is not trusted to be consistent across requests (a load balancer can send each to
 * another replica): a head lower than one already seen fails the poll, and each event must come
 * from the block canonical at its height, not from a fork the node has not forgotten.
 *
 * It fails closed (`evaluatePolicyFreshness`): `requireFreshPolicy` throws POLICY_STALE before the
 * first poll, after a failed poll, when the last good poll is older than `stalenessMs`, when the
 * confirmed cursor is more than `maxLagBlocks` behind the head, and when the head itself is older
 * than `maxHeadAgeSeconds` (the node has fallen behind the network). Polls are timed by
 * `createPollScheduler`, and listeners told of changes by `createPolicyPublisher`.
 */
export async function createPolicySync(parameters: CreatePolicySyncParameters): Promise<PolicySync> {
  const { client, deployment, logger, onProgress } = parameters;
  const registry = deployment.policyRegistry;
  const confirmations = wholeNumber("confirmations", parameters.confirmations ?? 2, 0);
  const maxBlockRange = wholeNumber("maxBlockRange", parameters.maxBlockRange ?? 2000, 1);
  const pollingIntervalMs = wholeNumber("pollingIntervalMs", parameters.pollingIntervalMs ?? 2000, 1);
  const stalenessMs = wholeNumber("stalenessMs", parameters.stalenessMs ?? 60_000, 1);
  const maxLagBlocks = wholeNumber("maxLagBlocks", parameters.maxLagBlocks ?? confirmations + 16, confirmations);
  const maxHeadAgeSeconds = wholeNumber("maxHeadAgeSeconds", parameters.maxHeadAgeSeconds ?? 0, 0);
  const now = parameters.now ?? Date.now;
  const metrics = parameters.metrics === undefined ? undefined : createPolicySyncMetrics(parameters.metrics.registry);
  const guard = createReorgGuard({ client });
  const publisher = createPolicyPublisher({ logger });

  const store: PolicyStore = await createPolicyStore({
    directory: parameters.directory,
    identity: {
      chainId: deployment.chainId,
      registry,
      deploymentBlock: deployment.deploymentBlock,
      guardian: deployment.guardian,
      revealDelay: deployment.revealDelay,
    },
    keep: parameters.checkpoints ?? 8,
    spacing: parameters.checkpointSpacing ?? 16,
  });
  if (store.resetReason !== undefined) {
    logger?.warn({ directory: parameters.directory }, `Policy store cleared: ${store.resetReason}; syncing again.`);
  }

  const genesis: Confirmed = {
    blockNumber: deployment.deploymentBlock - 1n,
    blockHash: undefined,
    policy: createGenesisPolicy({ guardian: deployment.guardian, revealDelay: deployment.revealDelay }),
  };
  let confirmed: Confirmed = (await store.latest()) ?? genesis;
  let epochs: EpochSchedule | undefined;
  let chainChecked = false;
  let verified = false;
  /** The latest head a poll saw, with its timestamp in seconds as its block says. */
  let latestHead: { number: bigint; timestamp: bigint } | undefined;
  // The highest head any poll saw. It is an invariant that the published policy comes from a head
  // no lower than this: a node that answers with a lower one is behind (a lagging replica behind a
  // load balancer), and its older view could lift a kill switch already seen engaged.
  let highestHead: bigint | undefined;
  let lastSuccessAt: number | undefined;
  let lastFailure: { at: number; error: BaseError } | undefined;
  let inconsistency: BaseError | undefined;
  let closed = false;
  let persistedAt = Number.NEGATIVE_INFINITY;
  let persistCost = 0;
  if (confirmed !== genesis) {
    logger?.info(
      { blockNumber: confirmed.blockNumber, policyVersion: confirmed.policy.policyVersion },
      "Policy sync resumes from its stored cursor.",
    );
  }

  /**
   * Moves the confirmed state to `next`, persisting it when `persist` is set or the last write is
   * old enough (PERSIST_INTERVAL_MS). Each write serialises the whole policy, so its cost grows
   * with the policy: writing once a second took 8% of the CPU time of the bench's cold sync of
   * 100,000 events (`npm run bench -- sync`, profiled with --cpu-prof). A crash in between only
   * re-reads from the last checkpoint written.
   */
  async function commit(next: Confirmed & { blockHash: Hex }, persist: boolean) {
    const started = performance.now();
    if (persist || started - persistedAt >= Math.max(PERSIST_INTERVAL_MS, PERSIST_COST_FACTOR * persistCost)) {
      await store.commit(next as PolicyCheckpoint);
      persistedAt = performance.now();
      persistCost = persistedAt - started;
    }
    confirmed = next;
  }

  /** Moves the confirmed state back to `target` (a checkpoint, or the deployment); returns its block. */
  async function rollBack(target: Confirmed, why: string): Promise<bigint> {
    const from = confirmed.blockNumber;
    await store.discardAbove(target.blockNumber);
    confirmed = target;
    metrics?.reorgs.inc();
    logger?.warn(
      { from, to: target.blockNumber, policyVersion: target.policy.policyVersion },
      `Policy sync rolled back: ${why}.`,
    );
    return target.blockNumber;
  }

  /** Rolls back when the cursor's block left the canonical chain; returns where to. */
  async function rollBackIfReorganised(): Promise<bigint | undefined> {
    const point = await guard.resyncPoint(confirmed, () => store.checkpoints());
    if (point === undefined) return undefined;
    return rollBack(point.from ?? genesis, `block ${confirmed.blockNumber} is no longer canonical (reorg)`);
  }

  /** After a version gap or a version that differs from the chain's: find out whether the confirmed state is sound. */
  async function repairMissingLogs(cause: BaseError): Promise<never> {
    if (confirmed.blockHash !== undefined) {
      const onChain = await client.readContract({
        address: registry,
        abi: policyRegistryAbi,
        functionName: "policyVersion",
        blockNumber: confirmed.blockNumber,
      });
      const ours = confirmed.policy.policyVersion;
      if (onChain !== ours) {
        // The missing events come after the last one applied, so any checkpoint from before that
        // event is sound.
        const below = onChain < ours ? onChain : ours;
        const sound = (await store.checkpoints()).find((checkpoint) => checkpoint.policy.policyVersion < below);
        await rollBack(
          sound ?? genesis,
          `the confirmed policy is at version ${ours} but the registry was at ${onChain} in block ${confirmed.blockNumber}`,
        );
      }
    }
    throw cause;
  }

  function notifyProgress(progress: PolicySyncProgress) {
    try {
      onProgress?.(progress);
    } catch (error) {
      logger?.error({ err: error }, "A policy sync progress callback threw.");
    }
  }

  /** Brings the confirmed state up to `target`, one bounded range at a time, persisting it as it goes and at the end. */
  async function catchUp(target: bigint): Promise<number> {
    let applied = 0;
    const backlog = target - confirmed.blockNumber;
    while (confirmed.blockNumber < target) {
      const fromBlock = confirmed.blockNumber + 1n;
      const toBlock = fromBlock + BigInt(maxBlockRange) - 1n < target ? fromBlock + BigInt(maxBlockRange) - 1n : target;
      const before = await guard.headerAt(toBlock);
      if (before === undefined) throw new ChainMovedError(`Block ${toBlock} disappeared while syncing policy.`);
      const events = await fetchPolicyEvents({ client, registry, fromBlock, toBlock, maxBlockRange });
      // The cursor still canonical after the read, and the range's last block unchanged across it,
      // make the range one piece of chain continuing the cursor. (Comparing parent hashes would
      // save nothing and breaks on Hardhat, whose blocks mined in bulk report a zero parent hash.)
      await guard.requireCanonical(
        confirmed,
        `The policy cursor at block ${confirmed.blockNumber} left the canonical chain.`,
      );
      await guard.requireCanonical(
        { blockNumber: toBlock, blockHash: before.hash },
        `Block ${toBlock} changed while its logs were read.`,
      );
      await guard.requireCanonicalEvents(events, before);
      let policy: Policy;
      try {
        policy = reducePolicy(confirmed.policy, events);
      } catch (error) {
        if (error instanceof PolicyVersionGapError) return repairMissingLogs(error);
        throw error;
      }
      await commit({ blockNumber: toBlock, blockHash: before.hash, policy }, toBlock === target);
      applied += events.length;
      metrics?.eventsApplied.inc(events.length);
      metrics?.confirmedBlock.set(Number(toBlock));
      if (backlog > BigInt(maxBlockRange)) {
        logger?.info({ fromBlock, toBlock, target, events: events.length }, "Policy sync caught up a range.");
      }
      notifyProgress({ fromBlock, toBlock, targetBlock: target, events: events.length });
      // A kill switch met while catching up is enforced at once, before the rest is read.
      const current = publisher.current();
      if (policy.killSwitch.engaged && current !== undefined && !current.effective.killSwitch.engaged) {
        const effective = { ...current.effective, killSwitch: policy.killSwitch };
        publisher.publish({ ...current, confirmed, effective }, toBlock);
      }
    }
    return applied;
  }

  /** Reads the blocks above the confirmed cursor and derives the tip policy from scratch. */
  async function readTip(head: BlockHeader): Promise<Policy> {
    const events =
      confirmed.blockNumber < head.number
        ? await fetchPolicyEvents({
            client,
            registry,
            fromBlock: confirmed.blockNumber + 1n,
            toBlock: head.number,
            maxBlockRange,
          })
        : [];
    await guard.requireCanonical(
      { blockNumber: head.number, blockHash: head.hash },
      `The head block ${head.number} changed while read.`,
    );
    await guard.requireCanonicalEvents(events, head);
    let tip: Policy;
    try {
      tip = reducePolicy(confirmed.policy, events);
    } catch (error) {
      if (error instanceof PolicyVersionGapError) return repairMissingLogs(error);
      throw error;
    }
    const onChain = await client.readContract({
      address: registry,
      abi: policyRegistryAbi,
      functionName: "policyVersion",
      blockNumber: head.number,
    });
    if (onChain !== tip.policyVersion) {
      return repairMissingLogs(
        new PolicyVersionGapError({
          expected: onChain,
          actual: tip.policyVersion,
          blockNumber: head.number,
          blockHash: head.hash,
        }),
      );
    }
    return tip;
  }

  /** Once per process: the events must give the policy the contract's views show. */
  async function verifyAgainstViews() {
    if (verified || confirmed.blockHash === undefined) return;
    const policy = confirmed.policy;
    const accounts = [...policy.submitters, ...policy.quotas.keys(), ...policy.memberships.keys(), ...policy.workers];
    const runIds = [...policy.trainingRuns.keys()];
    const complete = accounts.length <= MAX_VERIFIED_ENTRIES && runIds.length <= MAX_VERIFIED_ENTRIES;
    const onChain = await readPolicyFromChain({
      client,
      registry,
      blockNumber: confirmed.blockNumber,
      ...(complete ? { accounts, runIds } : {}),
    });
    const differing = diffPolicies(policy, onChain, complete ? undefined : SCALAR_FIELDS);
    if (differing.length === 0) {
      verified = true;
      return;
    }
    // A reorg between reading the events and the views also makes them differ: check again next poll.
    await guard.requireCanonical(confirmed, `Block ${confirmed.blockNumber} changed while the policy was verified.`);
    inconsistency = new BaseError(
      `The policy derived from PolicyRegistry events differs from the registry's views at block ${confirmed.blockNumber} in: ${differing.join(", ")}.`,
      {
        hints: [
          "Check the deployment manifest: its guardian and settings.revealDelay must be those the registry was deployed with, and deploymentBlock no later than the registry's deployment.",
          `Then delete ${parameters.directory} and restart, so the policy is rebuilt from the chain.`,
        ],
      },
    );
    logger?.error({ err: inconsistency, differing }, "Policy sync found an inconsistency and refuses to serve.");
    throw inconsistency;
  }

  /** The node's head, refused when lower than one already seen (a lagging replica). */
  async function readHead(): Promise<BlockHeader & { timestamp: bigint }> {
    const head = await guard.latestHeader();
    if (highestHead !== undefined && head.number < highestHead) {
      throw new WorkerError(
        "CHAIN_UNAVAILABLE",
        `The RPC node's head is block ${head.number}, behind block ${highestHead} it reported before: it is lagging or answering from a stale replica.`,
        {
          hints: [
            "The sync polls again and serves once the node is back at the head.",
            "Operators: if this persists, point rpcUrl at a node that is in sync (not a load balancer over lagging replicas).",
          ],
        },
      );
    }
    highestHead = head.number;
    latestHead = { number: head.number, timestamp: head.timestamp };
    metrics?.headBlock.set(Number(head.number));
    return head;
  }

  async function checkChain() {
    if (chainChecked) return;
    const chainId = await client.getChainId();
    if (chainId !== deployment.chainId) {
      inconsistency = new WorkerError(
        "CONFIG_INVALID",
        `The RPC node serves chain ${chainId}, but the deployment manifest is for chain ${deployment.chainId}.`,
        { hints: ["Point rpcUrl at the chain the manifest was written for, or use that chain's manifest."] },
      );
      throw inconsistency;
    }
    chainChecked = true;
  }

  async function runPoll(): Promise<PolicyPollResult> {
    const startedAt = now();
    try {
      await checkChain();
      const epochSchedule = (epochs ??= await readEpochSchedule({ client, registry }));

      let rolledBackTo: bigint | undefined;
      let eventsApplied = 0;
      for (let attempt = 1; ; attempt++) {
        let head: BlockHeader;
        let tip: Policy;
        try {
          const target = await rollBackIfReorganised();
          if (target !== undefined) rolledBackTo = target;
          head = await readHead();
          eventsApplied += await catchUp(head.number - BigInt(confirmations));
          tip = await readTip(head);
        } catch (error) {
          // The chain moving while read is routine at a live head: read it again at once.
          if (error instanceof ChainMovedError && attempt < CHAIN_MOVED_ATTEMPTS) continue;
          throw error;
        }
        await verifyAgainstViews();
        publisher.publish(
          {
            effective: mostRestrictivePolicy(confirmed.policy, tip),
            confirmed,
            head: { blockNumber: head.number, blockHash: head.hash, policy: tip },
            epochs: epochSchedule,
            syncedAt: startedAt,
          },
          head.number,
        );
        lastSuccessAt = startedAt;
        lastFailure = undefined;
        metrics?.policyVersion.set({ view: "confirmed" }, Number(confirmed.policy.policyVersion));
        metrics?.policyVersion.set({ view: "head" }, Number(tip.policyVersion));
        metrics?.lagBlocks.set(Number(head.number - confirmed.blockNumber));
        metrics?.confirmedBlock.set(Number(confirmed.blockNumber));
        parameters.metrics?.policyLagSeconds.set(0);
        logger?.debug(
          { confirmed: confirmed.blockNumber, head: head.number, policyVersion: tip.policyVersion },
          "Policy sync polled.",
        );
        return {
          confirmed: cursorOf(confirmed),
          head: { blockNumber: head.number, blockHash: head.hash, policyVersion: tip.policyVersion },
          eventsApplied,
          rolledBackTo,
        };
      }
    } catch (error) {
      const wrapped = wrapPollError(error);
      lastFailure = { at: now(), error: wrapped };
      metrics?.pollFailures.inc();
      if (lastSuccessAt !== undefined) parameters.metrics?.policyLagSeconds.set((now() - lastSuccessAt) / 1000);
      logger?.warn({ err: wrapped }, `Policy sync poll failed: ${wrapped.shortMessage}`);
      throw wrapped;
    }
  }

  const scheduler = createPollScheduler({ run: runPoll, intervalMs: pollingIntervalMs });

  function poll(): Promise<PolicyPollResult> {
    if (closed) {
      return Promise.reject(new BaseError("The policy sync is closed.", { hints: ["Create a new one."] }));
    }
    return scheduler.poll();
  }

  function freshness(): PolicyFreshness {
    const current = publisher.current();
    const result = evaluatePolicyFreshness({
      now: now(),
      published:
        current === undefined
          ? undefined
          : {
              confirmedBlock: current.confirmed.blockNumber,
              policyVersion: current.confirmed.policy.policyVersion,
              headBlock: current.head.blockNumber,
              syncedAt: current.syncedAt,
            },
      lastSuccessAt,
      lastFailure,
      inconsistency,
      latestHead,
      confirmedBlock: confirmed.blockNumber,
      stalenessMs,
      maxHeadAgeSeconds,
      maxLagBlocks,
    });
    if (result.ageMs !== undefined) parameters.metrics?.policyLagSeconds.set(result.ageMs / 1000);
    return result;
  }

  function requireFreshPolicy(): PolicyView {
    const result = freshness();
    if (!result.fresh) throw result.error;
    return toPolicyView(publisher.current()!);
  }

  return {
    start() {
      if (!closed) scheduler.start();
    },
    stop: scheduler.stop,
    async close() {
      if (closed) return;
      await scheduler.stop();
      closed = true;
      await store.close();
    },
    poll,
    requireFreshPolicy,
    policy: () => requireFreshPolicy().policy,
    snapshot(options) {
      const view = requireFreshPolicy();
      return toPolicySnapshot({
        view,
        chainId: deployment.chainId,
        registry,
        confirmations,
        now: now(),
        consumer: options?.consumer,
      });
    },
    onKillSwitch: publisher.onKillSwitch,
    onPolicyChange: publisher.onPolicyChange,
  };
}

function cursorOf(state: Confirmed): PolicyCursor {
  return { blockNumber: state.blockNumber, blockHash: state.blockHash, policyVersion: state.policy.policyVersion };
}

function wholeNumber(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new WorkerError(
      "CONFIG_INVALID",
      `Policy sync: ${name} must be a whole number of at least ${min}, got ${value}.`,
      {
        hints: [`Set ${name} to ${min} or more.`],
      },
    );
  }
  return value;
}

function wrapPollError(error: unknown): BaseError {
  if (error instanceof BaseError) return error;
  return new WorkerError("CHAIN_UNAVAILABLE", "The RPC node failed while the policy was synced.", {
    cause: error,
    hints: ["The sync retries on its next poll.", "Operators: check that rpcUrl answers and the node is healthy."],
  });
}
