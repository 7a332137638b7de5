import { ClassicLevel } from "classic-level";
import { getAddress, type Address, type Hex } from "viem";
import { z } from "zod";
import { BaseError } from "../internal/BaseError.ts";
import type { Policy } from "./Policy.ts";
import { fromPolicyJson, toPolicyJson, type PolicyJson } from "./policyJson.ts";

/** The confirmed policy after every event up to and including `blockNumber`, on the chain whose block there is `blockHash`. */
export type PolicyCheckpoint = {
  blockNumber: bigint;
  blockHash: Hex;
  policy: Policy;
};

/**
 * What the stored state was derived from. A store written for another chain, registry or
 * genesis is of no use (a local chain restarted from block 0 and redeployed, say), so it is
 * cleared rather than trusted.
 */
export type PolicyStoreIdentity = {
  chainId: number;
  registry: Address;
  deploymentBlock: bigint;
  guardian: Address;
  revealDelay: bigint;
};

export type CreatePolicyStoreParameters = {
  /** A directory of its own; LevelDB creates it. */
  directory: string;
  identity: PolicyStoreIdentity;
  /** How many checkpoints to keep; a reorg deeper than the oldest one means syncing from the deployment again. */
  keep?: number;
  /**
   * The fewest blocks between two kept checkpoints (the newest one excepted), so that `keep`
   * checkpoints reach back at least `keep * spacing` blocks however often the cursor moves.
   */
  spacing?: number;
};

export type PolicyStore = {
  /** Set when the store held state for another identity and was cleared on opening. */
  readonly resetReason: string | undefined;
  /** The newest checkpoint: the sync's confirmed state and cursor. */
  latest(): Promise<PolicyCheckpoint | undefined>;
  /** Every kept checkpoint, newest first. */
  checkpoints(): Promise<PolicyCheckpoint[]>;
  /** Makes `checkpoint` the newest, atomically with pruning older ones. */
  commit(checkpoint: PolicyCheckpoint): Promise<void>;
  /** Deletes every checkpoint above `blockNumber` (after a reorg), atomically. */
  discardAbove(blockNumber: bigint): Promise<void>;
  close(): Promise<void>;
};

// 2: policies carry access tiers and memberships; a store of format 1 is rebuilt from the chain.
const FORMAT = 2;
const META_KEY = "meta";
// Block numbers as fixed-width hex, so that LevelDB's byte order is block order.
const CHECKPOINT_PREFIX = "checkpoint!";
const checkpointKey = (blockNumber: bigint) => `${CHECKPOINT_PREFIX}${blockNumber.toString(16).padStart(16, "0")}`;
const CHECKPOINT_RANGE = { gte: CHECKPOINT_PREFIX, lt: `${CHECKPOINT_PREFIX}~` };

const metaSchema = z.object({
  format: z.number(),
  chainId: z.number(),
  registry: z.string(),
  deploymentBlock: z.string(),
  guardian: z.string(),
  revealDelay: z.string(),
});
type Meta = z.infer<typeof metaSchema>;

type StoredCheckpoint = { blockNumber: string; blockHash: Hex; policy: PolicyJson };
const storedCheckpointSchema = z.object({
  blockNumber: z.string().regex(/^\d+$/),
  blockHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
  policy: z.unknown(),
});

/**
 * The policy sync's embedded store: checkpoints of the confirmed policy, each with the block it
 * was confirmed at, in LevelDB. Invariant: the newest checkpoint is the sync's cursor, and every
 * write that moves it is one atomic batch, so a crash leaves either the old cursor with its state
 * or the new cursor with its state, never a cursor with another block's state.
 */
export async function createPolicyStore(parameters: CreatePolicyStoreParameters): Promise<PolicyStore> {
  const keep = Math.max(1, parameters.keep ?? 8);
  const spacing = BigInt(Math.max(1, parameters.spacing ?? 16));
  const db = new ClassicLevel<string, unknown>(parameters.directory, { keyEncoding: "utf8", valueEncoding: "json" });
  try {
    await db.open();
  } catch (cause) {
    throw new BaseError(`Cannot open the policy store at ${parameters.directory}.`, {
      cause,
      hints: [
        "Check that the data directory exists and is writable.",
        "Only one worker process may use a data directory at a time: stop the other one.",
      ],
    });
  }

  const identity = parameters.identity;
  const meta: Meta = {
    format: FORMAT,
    chainId: identity.chainId,
    registry: getAddress(identity.registry),
    deploymentBlock: identity.deploymentBlock.toString(),
    guardian: getAddress(identity.guardian),
    revealDelay: identity.revealDelay.toString(),
  };
  const storedMeta = metaSchema.safeParse(await db.get(META_KEY));
  let resetReason: string | undefined;
  if (!storedMeta.success) {
    await db.clear();
  } else if (JSON.stringify(storedMeta.data) !== JSON.stringify(meta)) {
    const changed = (Object.keys(meta) as (keyof Meta)[]).filter((key) => storedMeta.data[key] !== meta[key]);
    resetReason = `the store was written for another ${changed.join(", ")}`;
    await db.clear();
  }
  await db.put(META_KEY, meta);

  async function readCheckpoints(options: { limit?: number }): Promise<PolicyCheckpoint[]> {
    const result: PolicyCheckpoint[] = [];
    for await (const value of db.values({ ...CHECKPOINT_RANGE, reverse: true, limit: options.limit ?? -1 })) {
      result.push(parseCheckpoint(value, parameters.directory));
    }
    return result;
  }

  async function keys(): Promise<string[]> {
    const result: string[] = [];
    for await (const key of db.keys({ ...CHECKPOINT_RANGE, reverse: true })) result.push(key);
    return result;
  }

  return {
    resetReason,
    async latest() {
      const [newest] = await readCheckpoints({ limit: 1 });
      return newest;
    },
    checkpoints: () => readCheckpoints({}),
    async commit(checkpoint) {
      const existing = await keys();
      const deletions = new Set<string>();
      // The newest checkpoint is replaced rather than kept while it is closer than `spacing` to the
      // one below it, so a cursor that moves one block per poll does not push out the history.
      const [newest, second] = existing;
      if (newest !== undefined && second !== undefined && keyBlock(newest) - keyBlock(second) < spacing) {
        deletions.add(newest);
      }
      // A checkpoint at or above the new one belongs to a chain the caller has moved off.
      for (const key of existing) if (keyBlock(key) >= checkpoint.blockNumber) deletions.add(key);
      const kept = existing.filter((key) => !deletions.has(key));
      for (const key of kept.slice(keep - 1)) deletions.add(key);
      const value: StoredCheckpoint = {
        blockNumber: checkpoint.blockNumber.toString(),
        blockHash: checkpoint.blockHash,
        policy: toPolicyJson(checkpoint.policy),
      };
      await db.batch([
        ...[...deletions].map((key) => ({ type: "del" as const, key })),
        { type: "put" as const, key: checkpointKey(checkpoint.blockNumber), value },
      ]);
    },
    async discardAbove(blockNumber) {
      const doomed = (await keys()).filter((key) => keyBlock(key) > blockNumber);
      if (doomed.length > 0) await db.batch(doomed.map((key) => ({ type: "del" as const, key })));
    },
    close: () => db.close(),
  };
}

function keyBlock(key: string): bigint {
  return BigInt(`0x${key.slice(CHECKPOINT_PREFIX.length)}`);
}

function parseCheckpoint(value: unknown, directory: string): PolicyCheckpoint {
  try {
    const stored = storedCheckpointSchema.parse(value);
    return {
      blockNumber: BigInt(stored.blockNumber),
      blockHash: stored.blockHash as Hex,
      policy: fromPolicyJson(stored.policy),
    };
  } catch (cause) {
    throw new BaseError(`The policy store at ${directory} holds a malformed checkpoint.`, {
      cause,
      hints: [`Delete ${directory}: the worker rebuilds it from the chain on its next start.`],
    });
  }
}
