import { Counter, Gauge, type Registry } from "prom-client";
import { BlockNotFoundError, type Address, type Hex, type PublicClient } from "viem";
import { policyRegistryAbi } from "../abis.ts";
import { BaseError } from "../internal/BaseError.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { Metrics } from "../internal/createMetrics.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import { createPolicyStore, type PolicyCheckpoint, type PolicyStore } from "./createPolicyStore.ts";
import type { PolicyEvent } from "./decodePolicyLog.ts";
import { diffPolicies, type PolicyField } from "./diffPolicies.ts";
import { fetchPolicyEvents } from "./fetchPolicyEvents.ts";
import { mostRestrictivePolicy } from "./mostRestrictivePolicy.ts";
import { accessOf, createGenesisPolicy, epochAt, type EpochSchedule, type KillSwitch, type Policy } from "./Policy.ts";
import { toPolicyJson, type ConsumerAccessJson, type PolicyJson } from "./policyJson.ts";
import { PolicyVersionGapError } from "./PolicyVersionGapError.ts";
import type { PolicyDeployment } from "./readPolicyDeployment.ts";
import { reducePolicy } from "./reducePolicy.ts";
import { readEpochSchedule, readPolicyFromChain } from "./readPolicyFromChain.ts";

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

export type StaleReason = "not-synced" | "sync-failed" | "too-old" | "too-far-behind" | "head-too-old" | "inconsistent";

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
type Header = { number: bigint; hash: Hex };
type Published = {
  effective: Policy;
  confirmed: Confirmed;
  head: { blockNumber: bigint; blockHash: Hex; policy: Policy };
  syncedAt: number;
};

/** The chain moved under a poll (a reorg while it read); the next attempt reads again. */
class ChainMovedError extends BaseError {
  override name = "ChainMovedError";
  constructor(message: string) {
    super(message, { retryable: true, hints: ["The sync reads again on its next poll."] });
  }
}

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
// The longest a catch-up goes without persisting its cursor (its last range is always persisted).
const PERSIST_INTERVAL_MS = 1_000;
// Block headers requested at once when checking that events come from canonical blocks.
const HEADER_CONCURRENCY = 8;

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
 * reorg while reading makes the poll read again instead of mixing two forks. Every registry
 * event carries the next policy version, and each poll compares the version at the head with the
 * registry's, so missed logs are detected and the range read again.
 *
 * A node is not trusted to be consistent across requests (a load balancer can send each to
 * another replica): a head lower than one already seen fails the poll, and each event must come
 * from the block canonical at its height, not from a fork the node has not forgotten.
 *
 * It fails closed: `requireFreshPolicy` throws POLICY_STALE before the first poll, after a failed
 * poll, when the last good poll is older than `stalenessMs`, when the confirmed cursor is
 * more than `maxLagBlocks` behind the head, and when the head itself is older than
 * `maxHeadAgeSeconds` (the node has fallen behind the network).
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
  const metrics = parameters.metrics === undefined ? undefined : createSyncMetrics(parameters.metrics.registry);

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
  let published: Published | undefined;
  let epochs: EpochSchedule | undefined;
  let chainChecked = false;
  let verified = false;
  let latestHead: bigint | undefined;
  /** The latest head's timestamp, in seconds, as its block says. */
  let latestHeadTimestamp: bigint | undefined;
  // The highest head any poll saw. It is an invariant that the published policy comes from a head
  // no lower than this: a node that answers with a lower one is behind (a lagging replica behind a
  // load balancer), and its older view could lift a kill switch already seen engaged.
  let highestHead: bigint | undefined;
  let lastSuccessAt: number | undefined;
  let lastFailure: { at: number; error: BaseError } | undefined;
  let inconsistency: BaseError | undefined;
  let lastFingerprint: string | undefined;
  let inFlight: Promise<PolicyPollResult> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let closed = false;
  const killSwitchListeners = new Set<(change: KillSwitchChange) => void>();
  const policyListeners = new Set<(view: PolicyView) => void>();
  if (confirmed !== genesis) {
    logger?.info(
      { blockNumber: confirmed.blockNumber, policyVersion: confirmed.policy.policyVersion },
      "Policy sync resumes from its stored cursor.",
    );
  }

  async function headerAt(blockNumber: bigint): Promise<Header | undefined> {
    try {
      const block = await client.getBlock({ blockNumber });
      return { number: block.number, hash: block.hash };
    } catch (error) {
      if (error instanceof BlockNotFoundError) return undefined;
      throw error;
    }
  }

  async function latestHeader(): Promise<Header & { timestamp: bigint }> {
    const block = await client.getBlock({ blockTag: "latest" });
    return { number: block.number, hash: block.hash, timestamp: block.timestamp };
  }

  let persistedAt = Number.NEGATIVE_INFINITY;
  /**
   * Moves the confirmed state to `next`, persisting it when `persist` is set or a second has passed
   * since the last write. Each write serialises the whole policy, so persisting every range of a
   * long catch-up would cost more than reading it; a crash in between only re-reads from the last
   * checkpoint written.
   */
  async function commit(next: Confirmed & { blockHash: Hex }, persist: boolean) {
    if (persist || performance.now() - persistedAt >= PERSIST_INTERVAL_MS) {
      await store.commit(next as PolicyCheckpoint);
      persistedAt = performance.now();
    }
    confirmed = next;
  }

  /** Moves the confirmed state back to the newest checkpoint `accept`s, or to the deployment. */
  async function rollBack(accept: (checkpoint: PolicyCheckpoint) => Promise<boolean> | boolean, why: string) {
    const from = confirmed.blockNumber;
    let target: Confirmed = genesis;
    for (const checkpoint of await store.checkpoints()) {
      if (await accept(checkpoint)) {
        target = checkpoint;
        break;
      }
    }
    await store.discardAbove(target.blockNumber);
    confirmed = target;
    metrics?.reorgs.inc();
    logger?.warn(
      { from, to: target.blockNumber, policyVersion: target.policy.policyVersion },
      `Policy sync rolled back: ${why}.`,
    );
    return target.blockNumber;
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
        await rollBack(
          (checkpoint) => checkpoint.policy.policyVersion < below,
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
      const before = await headerAt(toBlock);
      if (before === undefined) throw new ChainMovedError(`Block ${toBlock} disappeared while syncing policy.`);
      const events = await fetchPolicyEvents({ client, registry, fromBlock, toBlock, maxBlockRange });
      // The cursor still canonical after the read, and the range's last block unchanged across it,
      // make the range one piece of chain continuing the cursor. (Comparing parent hashes would
      // save nothing and breaks on Hardhat, whose blocks mined in bulk report a zero parent hash.)
      if (confirmed.blockHash !== undefined && (await headerAt(confirmed.blockNumber))?.hash !== confirmed.blockHash) {
        throw new ChainMovedError(`The policy cursor at block ${confirmed.blockNumber} left the canonical chain.`);
      }
      const after = await headerAt(toBlock);
      if (after?.hash !== before.hash) throw new ChainMovedError(`Block ${toBlock} changed while its logs were read.`);
      await checkEventBlocks(events, before);
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
      if (policy.killSwitch.engaged && published !== undefined && !published.effective.killSwitch.engaged) {
        const effective = { ...published.effective, killSwitch: policy.killSwitch };
        publish({ ...published, confirmed, effective }, toBlock);
      }
    }
    return applied;
  }

  /**
   * Every event must come from the block now canonical at its height. A node can answer
   * `eth_getLogs` from a fork that is gone (a replica that has not seen the reorg), and the policy
   * versions alone do not show it: both forks number their events alike. Blocks holding registry
   * events are few, so this costs one header per such block.
   */
  async function checkEventBlocks(events: readonly PolicyEvent[], known: Header) {
    const canonical = new Map<bigint, Hex | undefined>([[known.number, known.hash]]);
    const unknown = [...new Set(events.map((event) => event.blockNumber))].filter((n) => !canonical.has(n));
    // A few requests at a time: one after the other, a catch-up over thousands of event blocks
    // spends most of its time waiting for the node.
    for (let i = 0; i < unknown.length; i += HEADER_CONCURRENCY) {
      const batch = unknown.slice(i, i + HEADER_CONCURRENCY);
      const headers = await Promise.all(batch.map((blockNumber) => headerAt(blockNumber)));
      batch.forEach((blockNumber, n) => canonical.set(blockNumber, headers[n]?.hash));
    }
    for (const event of events) {
      const hash = canonical.get(event.blockNumber);
      if (hash !== event.blockHash) {
        throw new ChainMovedError(
          `A registry event of block ${event.blockNumber} came from block ${event.blockHash}, not the canonical ${hash ?? "(none)"}.`,
        );
      }
    }
  }

  /** Reads the blocks above the confirmed cursor and derives the tip policy from scratch. */
  async function readTip(head: Header): Promise<Policy> {
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
    const again = await headerAt(head.number);
    if (again?.hash !== head.hash) throw new ChainMovedError(`The head block ${head.number} changed while read.`);
    await checkEventBlocks(events, head);
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
    if ((await headerAt(confirmed.blockNumber))?.hash !== confirmed.blockHash) {
      throw new ChainMovedError(`Block ${confirmed.blockNumber} changed while the policy was verified.`);
    }
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

  function view(state: Published): PolicyView {
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
      epochs: epochs!,
      killSwitchUnconfirmed: state.effective.killSwitch.engaged && !state.confirmed.policy.killSwitch.engaged,
      syncedAt: state.syncedAt,
    };
  }

  function publish(next: Published, seenAt: bigint) {
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
      const current = view(next);
      for (const listener of policyListeners) {
        try {
          listener(current);
        } catch (error) {
          logger?.error({ err: error }, "A policy change listener threw.");
        }
      }
    }
  }

  /** Rolls back when the cursor's block left the canonical chain; returns where to. */
  async function rollBackIfReorganised(): Promise<bigint | undefined> {
    if (confirmed.blockHash === undefined) return undefined;
    if ((await headerAt(confirmed.blockNumber))?.hash === confirmed.blockHash) return undefined;
    return rollBack(
      async (checkpoint) => (await headerAt(checkpoint.blockNumber))?.hash === checkpoint.blockHash,
      `block ${confirmed.blockNumber} is no longer canonical (reorg)`,
    );
  }

  async function runPoll(): Promise<PolicyPollResult> {
    const startedAt = now();
    try {
      if (!chainChecked) {
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
      epochs ??= await readEpochSchedule({ client, registry });

      let rolledBackTo: bigint | undefined;
      let eventsApplied = 0;
      for (let attempt = 1; ; attempt++) {
        let head: Header & { timestamp: bigint };
        let tip: Policy;
        try {
          const target = await rollBackIfReorganised();
          if (target !== undefined) rolledBackTo = target;
          head = await latestHeader();
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
          latestHead = head.number;
          latestHeadTimestamp = head.timestamp;
          metrics?.headBlock.set(Number(head.number));
          eventsApplied += await catchUp(head.number - BigInt(confirmations));
          tip = await readTip(head);
        } catch (error) {
          // The chain moving while read is routine at a live head: read it again at once.
          if (error instanceof ChainMovedError && attempt < CHAIN_MOVED_ATTEMPTS) continue;
          throw error;
        }
        await verifyAgainstViews();
        const effective = mostRestrictivePolicy(confirmed.policy, tip);
        publish(
          {
            effective,
            confirmed,
            head: { blockNumber: head.number, blockHash: head.hash, policy: tip },
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

  function poll(): Promise<PolicyPollResult> {
    if (closed) {
      return Promise.reject(new BaseError("The policy sync is closed.", { hints: ["Create a new one."] }));
    }
    inFlight ??= runPoll().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  function schedule(delay: number) {
    timer = setTimeout(() => {
      poll()
        .catch(() => {
          // Already logged and recorded; the next poll tries again.
        })
        .finally(() => {
          if (running) schedule(pollingIntervalMs);
        });
    }, delay);
    timer.unref?.();
  }

  function staleness(): { reason: StaleReason; error: WorkerError } | undefined {
    const current = published;
    const at = now();
    const where =
      current === undefined
        ? {}
        : {
            blockNumber: current.confirmed.blockNumber.toString(),
            policyVersion: current.confirmed.policy.policyVersion.toString(),
            syncedAt: new Date(current.syncedAt).toISOString(),
          };
    const stale = (reason: StaleReason, message: string, hints: string[], cause?: unknown, details?: string) => ({
      reason,
      error: new WorkerError("POLICY_STALE", message, {
        hints,
        cause,
        details,
        extra: { reason, ...where },
        retryable: reason !== "inconsistent",
      }),
    });
    if (inconsistency !== undefined) {
      return stale(
        "inconsistent",
        "The worker refuses to act on a policy it could not reconcile with the chain.",
        [...inconsistency.hints],
        inconsistency,
      );
    }
    if (current === undefined || lastSuccessAt === undefined) {
      return stale(
        "not-synced",
        lastFailure === undefined
          ? "The policy has not been read from the chain yet."
          : "The policy could not be read from the chain yet.",
        [
          "Retry in a few seconds: the worker serves requests once its first policy sync completes.",
          "Operators: check that rpcUrl answers and that the deployment manifest is for this chain.",
        ],
        lastFailure?.error,
      );
    }
    if (lastFailure !== undefined && lastFailure.at >= lastSuccessAt) {
      const seconds = Math.round((at - lastSuccessAt) / 1000);
      return stale(
        "sync-failed",
        `The policy cannot be confirmed fresh: the last poll of the chain failed (last good poll ${seconds} s ago, at block ${current.head.blockNumber}).`,
        [
          "Retry later: the worker polls again and serves as soon as it reaches the chain.",
          "Operators: check the RPC node at rpcUrl and the worker's log for the failing request.",
        ],
        lastFailure.error,
        describe(lastFailure.error),
      );
    }
    const age = at - lastSuccessAt;
    parameters.metrics?.policyLagSeconds.set(age / 1000);
    if (age > stalenessMs) {
      return stale(
        "too-old",
        `The policy was last confirmed ${Math.round(age / 1000)} s ago, more than the ${Math.round(stalenessMs / 1000)} s allowed.`,
        [
          "Retry later.",
          "Operators: the sync has stopped polling or its polls hang; check the worker's log and the RPC node.",
        ],
      );
    }
    const headAge = latestHeadTimestamp === undefined ? 0 : at / 1000 - Number(latestHeadTimestamp);
    if (maxHeadAgeSeconds > 0 && headAge > maxHeadAgeSeconds) {
      return stale(
        "head-too-old",
        `The RPC node's latest block is ${Math.round(headAge)} s old, more than the ${maxHeadAgeSeconds} s allowed: the node has fallen behind the network, and a change made since would not be seen.`,
        [
          "Retry later.",
          "Operators: check that the node at rpcUrl is in sync with the network (its peers, its sync status), or point rpcUrl at one that is.",
        ],
      );
    }
    const lag = (latestHead ?? current.head.blockNumber) - confirmed.blockNumber;
    if (lag > BigInt(maxLagBlocks)) {
      return stale(
        "too-far-behind",
        `The confirmed policy is ${lag} blocks behind the chain head, more than the ${maxLagBlocks} allowed.`,
        [
          "Retry later: the worker is catching up with the chain.",
          "Operators: if the lag keeps growing, the RPC node is slow to answer eth_getLogs; raise maxBlockRange or use a faster node.",
        ],
      );
    }
    return undefined;
  }

  async function stop() {
    running = false;
    if (timer !== undefined) clearTimeout(timer);
    await inFlight?.catch(() => undefined);
  }

  function requireFreshPolicy(): PolicyView {
    const problem = staleness();
    if (problem !== undefined) throw problem.error;
    return view(published!);
  }

  return {
    start() {
      if (running || closed) return;
      running = true;
      schedule(0);
    },
    stop,
    async close() {
      if (closed) return;
      await stop();
      closed = true;
      await store.close();
    },
    poll,
    requireFreshPolicy,
    policy: () => requireFreshPolicy().policy,
    snapshot(options) {
      const current = requireFreshPolicy();
      const epoch = epochAt(current.epochs, BigInt(Math.floor(now() / 1000)));
      const access = options?.consumer === undefined ? undefined : accessOf(current.policy, options.consumer, epoch);
      return {
        chainId: deployment.chainId,
        registry,
        policy: toPolicyJson(current.policy),
        blockNumber: current.confirmed.blockNumber.toString(),
        blockHash: current.confirmed.blockHash ?? null,
        policyVersion: current.confirmed.policyVersion.toString(),
        head: {
          blockNumber: current.head.blockNumber.toString(),
          blockHash: current.head.blockHash ?? null,
          policyVersion: current.head.policyVersion.toString(),
        },
        confirmations,
        killSwitchUnconfirmed: current.killSwitchUnconfirmed,
        epochs: {
          epochLength: current.epochs.epochLength.toString(),
          epochGenesis: current.epochs.epochGenesis.toString(),
        },
        syncedAt: new Date(current.syncedAt).toISOString(),
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

/** An error's short message with what lies under it, on one line, for an operator to act on. */
function describe(error: BaseError): string {
  const inner = error.walk();
  const innerDetails =
    inner !== error && inner instanceof Error ? ((inner as { details?: string }).details ?? inner.message) : undefined;
  return innerDetails === undefined ? error.shortMessage : `${error.shortMessage} ${innerDetails}`;
}

function wrapPollError(error: unknown): BaseError {
  if (error instanceof BaseError) return error;
  return new WorkerError("CHAIN_UNAVAILABLE", "The RPC node failed while the policy was synced.", {
    cause: error,
    hints: ["The sync retries on its next poll.", "Operators: check that rpcUrl answers and the node is healthy."],
  });
}

function createSyncMetrics(registry: Registry) {
  // Reuse a metric already registered (a second sync on the same registry, as in a restart test).
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  return {
    confirmedBlock:
      existing<Gauge>("worker_policy_confirmed_block") ??
      new Gauge({
        name: "worker_policy_confirmed_block",
        help: "The block up to which the policy is confirmed and persisted.",
        registers: [registry],
      }),
    headBlock:
      existing<Gauge>("worker_policy_head_block") ??
      new Gauge({
        name: "worker_policy_head_block",
        help: "The newest chain head the policy sync saw.",
        registers: [registry],
      }),
    lagBlocks:
      existing<Gauge>("worker_policy_lag_blocks") ??
      new Gauge({
        name: "worker_policy_lag_blocks",
        help: "Blocks between the chain head and the confirmed policy cursor, confirmations included.",
        registers: [registry],
      }),
    policyVersion:
      existing<Gauge<"view">>("worker_policy_version") ??
      new Gauge({
        name: "worker_policy_version",
        help: "The policy version held, confirmed and at the head.",
        labelNames: ["view"] as const,
        registers: [registry],
      }),
    eventsApplied:
      existing<Counter>("worker_policy_events_applied_total") ??
      new Counter({
        name: "worker_policy_events_applied_total",
        help: "PolicyRegistry events applied to the confirmed policy.",
        registers: [registry],
      }),
    reorgs:
      existing<Counter>("worker_policy_rollbacks_total") ??
      new Counter({
        name: "worker_policy_rollbacks_total",
        help: "Times the confirmed policy was rolled back to a checkpoint (a reorg or missing logs).",
        registers: [registry],
      }),
    pollFailures:
      existing<Counter>("worker_policy_poll_failures_total") ??
      new Counter({
        name: "worker_policy_poll_failures_total",
        help: "Policy polls that failed.",
        registers: [registry],
      }),
  };
}
