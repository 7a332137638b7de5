import { BlockNotFoundError, getContract, type Hex, type Log, type PublicClient } from "viem";
import { policyGovernorAbi } from "../abis.ts";
import type { Logger } from "../internal/createLogger.ts";
import type { AlertKind, AlertPayload } from "./alertPayload.ts";
import { createDeliveryQueue, type Send } from "./createDeliveryQueue.ts";
import { createNotifierStore, type NotifierCommit, type NotifierCursor } from "./createNotifierStore.ts";
import { createWebhookSender } from "./createWebhookSender.ts";
import { decodeAlertEvents, endingAlertId, isoSeconds, type TrackedProposal } from "./decodeAlertEvents.ts";
import { findEndingProposals } from "./findEndingProposals.ts";
import type { NotifierConfig } from "./loadNotifierConfig.ts";
import type { NotifierDeployment } from "./readNotifierDeployment.ts";
import { renderAlertText } from "./renderAlertText.ts";

export type CreateNotifierParameters = {
  config: NotifierConfig;
  client: PublicClient;
  deployment: NotifierDeployment;
  logger?: Logger | undefined;
  /** Milliseconds since the epoch; injected by tests. */
  now?: () => number;
};

export type NotifierHealth = {
  ok: boolean;
  chainId: number;
  /** The last block processed (decimal), null before the first poll. */
  blockNumber: string | null;
  /** The chain's head at the last poll. */
  head: string | null;
  lastPollAt: string | null;
  lastError: string | null;
  subscriptions: string[];
  pendingDeliveries: number;
};

export type Notifier = {
  /** Polls now and every `pollingIntervalMs` until `close`. */
  start(): void;
  /** One poll now (joins the one in progress): reads new blocks, queues their alerts, starts delivering. */
  poll(): Promise<void>;
  health(): Promise<NotifierHealth>;
  recentAlerts(limit: number): ReturnType<Awaited<ReturnType<typeof createNotifierStore>>["recentAlerts"]>;
  deliveryLog(limit: number): ReturnType<Awaited<ReturnType<typeof createNotifierStore>>["deliveryLog"]>;
  /** Stops polling, waits for deliveries in flight, closes the store. Pending deliveries resume at the next start. */
  close(): Promise<void>;
};

/** How far back a poll re-reads when its cursor's block was replaced (a reorg deeper than this is not expected on any chain the worker supports). */
const REORG_DEPTH = 64n;
/** Blocks the estimate of an "about to end" time averages over; fewer since the deployment: no estimate. */
const BLOCK_TIME_SAMPLE = 100n;
const ACTIVE = 1;
const PENDING = 0;

/**
 * The notifier: follows the Governor's and the PolicyRegistry's events (the deployment manifest's
 * addresses, as the worker), turns them into alerts, and delivers each to the subscriptions that
 * want its kind, by signed webhook and by email. A vote whose deadline comes within
 * `endingWindowBlocks` gets a `proposal.ending` alert.
 *
 * Each poll reads the blocks up to `head - confirmations` in ranges and writes each range's alerts,
 * their deliveries and the new cursor in one atomic write (createNotifierStore); delivery works
 * from that outbox (createDeliveryQueue). So a restart resumes from the last block processed and
 * the retries in progress: nothing lost, nothing queued twice. A notifier with no state starts at
 * the head (reading the older events only to know the votes still open), unless `startBlock`
 * says where to replay from.
 */
export async function createNotifier(parameters: CreateNotifierParameters): Promise<Notifier> {
  const { config, client, deployment, logger } = parameters;
  const now = parameters.now ?? Date.now;
  // The deployment block's hash tells a chain that was started anew (a local chain reset), where
  // the same deployer puts the contracts at the same addresses again.
  const deploymentBlock = await client.getBlock({ blockNumber: deployment.deploymentBlock });
  const store = await createNotifierStore({
    directory: config.dataDir,
    identity: {
      chainId: deployment.chainId,
      governor: deployment.governor,
      registry: deployment.policyRegistry,
      deploymentBlockHash: deploymentBlock.hash,
    },
  });
  if (store.resetReason !== undefined)
    logger?.warn({ dataDir: config.dataDir }, `Notifier state cleared: ${store.resetReason}.`);

  const senders = new Map<string, Send>();
  const subscriptions: { target: string; kinds: readonly AlertKind[] }[] = [];
  for (const webhook of config.webhooks) {
    senders.set(
      webhook.target,
      createWebhookSender({ url: webhook.url, secrets: webhook.secrets, timeoutMs: config.webhookTimeoutMs }),
    );
    subscriptions.push(webhook);
  }
  // nodemailer is loaded only where email is configured: it is a good part of the start-up time.
  const mail = config.email && { ...config.email, module: await import("./createEmailSender.ts") };
  const transport = mail?.module.createEmailTransport({ smtpUrl: mail.smtpUrl, timeoutMs: config.webhookTimeoutMs });
  for (const subscription of mail?.subscriptions ?? []) {
    senders.set(
      subscription.target,
      mail!.module.createEmailSender({ transport: transport!, from: mail!.from, to: subscription.to }),
    );
    subscriptions.push(subscription);
  }
  const queue = createDeliveryQueue({ store, senders, retry: config.retry, logger, now });
  const targetsFor = (kind: AlertKind) => subscriptions.filter((s) => s.kinds.includes(kind)).map((s) => s.target);

  let lastHead: bigint | undefined;
  let lastPollAt: number | undefined;
  let lastError: string | null = null;
  let inFlight: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  async function blockAt(blockNumber: bigint) {
    try {
      return await client.getBlock({ blockNumber });
    } catch (error) {
      if (error instanceof BlockNotFoundError) return undefined;
      throw error;
    }
  }

  function announce(alerts: AlertPayload[]) {
    for (const alert of alerts) {
      const targets = targetsFor(alert.type);
      const { subject } = renderAlertText(alert);
      if (subscriptions.length === 0) {
        logger?.info(
          { alertId: alert.id, type: alert.type, alert },
          `Alert (no subscription configured, so only logged; see pipeline-worker/README.md, Alerts): ${subject}`,
        );
      } else {
        logger?.info({ alertId: alert.id, type: alert.type, targets }, `Alert: ${subject}`);
      }
    }
    if (alerts.length > 0) void queue.kick();
  }

  async function commit(commit: NotifierCommit) {
    announce(await store.commit(commit));
  }

  /** Reads `[from, to]` in ranges; `mute` records what happened without alerting (a first start). */
  async function readRange(from: bigint, to: bigint, mute: boolean) {
    const span = BigInt(config.maxBlockRange);
    const titles = await store.titles();
    // A long catch-up (a first start, or a notifier that was down) says where it is every ten seconds.
    const long = to - from >= span;
    let reportedAt = performance.now();
    if (long) logger?.info({ from, to, muted: mute }, `Catching up on ${to - from + 1n} blocks.`);
    for (let start = from; start <= to; start += span) {
      const end = start + span - 1n < to ? start + span - 1n : to;
      if (long && performance.now() - reportedAt >= 10_000) {
        logger?.info({ block: start, to }, `Catching up: ${to - start + 1n} blocks to go.`);
        reportedAt = performance.now();
      }
      const logs = (await client.getLogs({
        address: [deployment.governor, deployment.policyRegistry],
        fromBlock: start,
        toBlock: end,
      })) as Log<bigint, number, false>[];
      logs.sort((a, b) =>
        a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1,
      );
      const timestamps = new Map<Hex, bigint>();
      for (const log of logs) {
        if (!timestamps.has(log.blockHash))
          timestamps.set(log.blockHash, (await client.getBlock({ blockHash: log.blockHash })).timestamp);
      }
      const decoded = decodeAlertEvents(logs, timestamps, {
        chainId: deployment.chainId,
        governor: deployment.governor,
        registry: deployment.policyRegistry,
        uiUrl: config.uiUrl,
        titleOf: (id) => titles.get(id) ?? null,
      });
      for (const change of decoded.proposals)
        if (change.op === "track") titles.set(change.proposal.proposalId, change.proposal.title);
      const endBlock = await client.getBlock({ blockNumber: end });
      await commit({
        cursor: { blockNumber: end, blockHash: endBlock.hash },
        alerts: mute ? [] : decoded.alerts.map((alert) => ({ alert, targets: targetsFor(alert.type) })),
        proposals: decoded.proposals,
      });
    }
  }

  /** The "about to end" alerts at `cursor`, and votes that closed dropped from the watch. */
  async function scheduleEnding(cursor: NotifierCursor) {
    const { ending, ended } = findEndingProposals({
      proposals: await store.trackedProposals(),
      head: cursor.blockNumber,
      windowBlocks: config.endingWindowBlocks,
    });
    if (ending.length === 0 && ended.length === 0) return;
    const proposals: NotifierCommit["proposals"] = ended.map((proposalId) => ({ op: "untrack", proposalId }));
    const alerts: NotifierCommit["alerts"] = [];
    if (ending.length > 0) {
      const block = await client.getBlock({ blockNumber: cursor.blockNumber });
      const estimatedBlockSeconds = await averageBlockSeconds(cursor.blockNumber, block.timestamp);
      for (const proposal of ending) {
        const alert = await endingAlert(proposal, block, estimatedBlockSeconds);
        if (alert === "not-open-yet") continue;
        if (alert === "closed") proposals.push({ op: "untrack", proposalId: proposal.proposalId });
        else {
          alerts.push({ alert, targets: targetsFor(alert.type) });
          proposals.push({ op: "ending-alerted", proposalId: proposal.proposalId, deadline: proposal.deadline });
        }
      }
    }
    await commit({ cursor, alerts, proposals });
  }

  async function averageBlockSeconds(head: bigint, headTimestamp: bigint): Promise<number | undefined> {
    if (head - deployment.deploymentBlock < BLOCK_TIME_SAMPLE) return undefined;
    const earlier = await client.getBlock({ blockNumber: head - BLOCK_TIME_SAMPLE });
    const seconds = Number(headTimestamp - earlier.timestamp) / Number(BLOCK_TIME_SAMPLE);
    return seconds > 0 ? seconds : undefined;
  }

  async function endingAlert(
    proposal: TrackedProposal,
    block: { number: bigint; hash: Hex; timestamp: bigint },
    blockSeconds: number | undefined,
  ): Promise<AlertPayload | "closed" | "not-open-yet"> {
    const id = BigInt(proposal.proposalId);
    const { read } = getContract({ address: deployment.governor, abi: policyGovernorAbi, client });
    const at = { blockNumber: block.number };
    const state = await read.state([id], at);
    if (state === PENDING) return "not-open-yet";
    if (state !== ACTIVE) return "closed";
    const [against, forVotes, abstain] = await read.proposalVotes([id], at);
    const snapshot = await read.proposalSnapshot([id], at);
    const quorum = await read.quorum([snapshot], at);
    const deadline = BigInt(proposal.deadline);
    const blocksLeft = deadline - block.number;
    const url =
      config.uiUrl === undefined ? null : `${config.uiUrl.replace(/\/+$/, "")}/proposals/${proposal.proposalId}`;
    const timestamp = isoSeconds(block.timestamp);
    return {
      id: endingAlertId(deployment.chainId, deployment.governor, proposal.proposalId, proposal.deadline),
      type: "proposal.ending",
      timestamp,
      chainId: deployment.chainId,
      block: { number: block.number.toString(), hash: block.hash, timestamp },
      transactionHash: null,
      data: {
        governor: deployment.governor,
        proposalId: proposal.proposalId,
        title: proposal.title,
        url,
        deadline: proposal.deadline,
        blocksLeft: blocksLeft.toString(),
        estimatedEndAt:
          blockSeconds === undefined
            ? null
            : new Date((Number(block.timestamp) + Number(blocksLeft + 1n) * blockSeconds) * 1000).toISOString(),
        votes: { for: forVotes.toString(), against: against.toString(), abstain: abstain.toString() },
        quorum: quorum.toString(),
        quorumReached: forVotes + abstain >= quorum,
      },
    };
  }

  async function pollOnce() {
    const head = await client.getBlockNumber({ cacheTime: 0 });
    lastHead = head;
    const target = head - BigInt(config.confirmations);
    if (target < deployment.deploymentBlock) return;
    let cursor = await store.cursor();
    let from: bigint;
    let mute = false;
    if (cursor === undefined) {
      // A first start reads from the deployment to learn which votes are open, but alerts only
      // what happens from now on (or from `startBlock`, to replay).
      from = deployment.deploymentBlock;
      if (config.startBlock === undefined) mute = true;
      else if (BigInt(config.startBlock) > from) {
        from = BigInt(config.startBlock);
        logger?.warn(
          { startBlock: config.startBlock },
          "Starting at startBlock: votes created before it are not watched for their end.",
        );
      }
    } else {
      const block = await blockAt(cursor.blockNumber);
      if (block?.hash !== cursor.blockHash) {
        const deepest = cursor.blockNumber - REORG_DEPTH < head ? cursor.blockNumber - REORG_DEPTH : head;
        const back = deepest > deployment.deploymentBlock ? deepest : deployment.deploymentBlock;
        const replacement = await client.getBlock({ blockNumber: back });
        logger?.warn(
          { from: cursor.blockNumber, to: back },
          "The last block processed is no longer on the chain (a reorg): reading again from an older block; alerts already made are not sent again.",
        );
        cursor = { blockNumber: back, blockHash: replacement.hash };
        await store.rewind(cursor);
      }
      from = cursor.blockNumber + 1n;
    }
    if (from <= target) {
      await readRange(from, target, mute);
      cursor = await store.cursor();
    }
    if (cursor !== undefined) await scheduleEnding(cursor);
  }

  function poll(): Promise<void> {
    inFlight ??= pollOnce()
      .then(
        () => {
          lastPollAt = now();
          lastError = null;
        },
        (error: unknown) => {
          lastError =
            error instanceof Error
              ? ((error as { shortMessage?: string }).shortMessage ?? error.message)
              : String(error);
          throw error;
        },
      )
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  function loop() {
    if (closed) return;
    poll()
      .catch((error: unknown) =>
        logger?.warn({ err: error }, "Notifier poll failed; trying again at the next interval."),
      )
      .finally(() => {
        if (!closed) timer = setTimeout(loop, config.pollingIntervalMs);
      });
  }

  return {
    start() {
      loop();
      // Retries left over from the last run.
      void queue.kick();
    },
    poll,
    async health() {
      const cursor = await store.cursor();
      // Healthy while polls succeed: a notifier that cannot read the chain alerts nobody.
      const fresh = lastPollAt !== undefined && now() - lastPollAt <= Math.max(30_000, config.pollingIntervalMs * 10);
      return {
        ok: fresh && lastError === null,
        chainId: deployment.chainId,
        blockNumber: cursor?.blockNumber.toString() ?? null,
        head: lastHead?.toString() ?? null,
        lastPollAt: lastPollAt === undefined ? null : new Date(lastPollAt).toISOString(),
        lastError,
        subscriptions: subscriptions.map((s) => s.target),
        pendingDeliveries: (await store.pendingDeliveries()).length,
      };
    },
    recentAlerts: (limit) => store.recentAlerts(limit),
    deliveryLog: (limit) => store.deliveryLog(limit),
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      await inFlight?.catch(() => undefined);
      await queue.stop();
      transport?.close();
      await store.close();
    },
  };
}
