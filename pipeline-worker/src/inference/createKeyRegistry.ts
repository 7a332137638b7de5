import { mkdir } from "node:fs/promises";
import { ClassicLevel } from "classic-level";
import { getAddress, zeroAddress, zeroHash, type Address, type Hex, type PublicClient } from "viem";
import { usageSettlementAbi } from "../abis.ts";
import { keyGrantToWire } from "../api/consumerWire.ts";
import { isConsumerSignature } from "../chain/consumerSignature.ts";
import { recoverDigestSigner, sameAddress } from "../chain/signatures.ts";
import { createKeyGrantHasher, type KeyGrantMessage } from "../chain/typedData.ts";
import { BaseError } from "../internal/BaseError.ts";
import { WorkerError } from "../internal/WorkerError.ts";
import type { LaneRecord } from "./createUsageStore.ts";
import type { PolicySync, PolicyView } from "../policy/createPolicySync.ts";

/** A consumer's grant of a key, as registered here: what the worker settles the key's usage against. */
export type KeyGrantRecord = {
  grant: KeyGrantMessage;
  /** The consumer's signature over the grant (ECDSA, or whatever its ERC-1271 account accepts). */
  signature: Hex;
  registeredAt: string;
};

/** A key's state on chain (UsageSettlement.keyState): queries settled for it, and when it was revoked (0: never). */
export type KeyState = { used: bigint; revokedAt: bigint };

export type CreateKeyRegistryParameters = {
  /** Where the grants are kept (LevelDB): `<dataDir>/keys`. */
  directory: string;
  client: PublicClient;
  chainId: number;
  usageSettlement: Address;
  /** This worker's address: a grant must name it or the zero address. */
  worker: Address;
  policy: Pick<PolicySync, "requireFreshPolicy">;
  /** What this worker counted for a key and has not settled yet (the usage store's `unsettledOfKey`). */
  unsettledOfKey(consumer: Address, key: Address): bigint;
  /**
   * Changes whenever this worker's settlement of the consumer's usage lands (the usage store's
   * `settledCount`): a key state read before it is read again, so a query is never counted both
   * as unsettled here and, not yet, as used on chain.
   */
  settledCount(consumer: Address): bigint;
  /**
   * Called when a key this worker served expires: its lanes must settle soon (the contract settles
   * a key's usage until one epoch after its expiry), so the settler flags its consumer as urgent.
   */
  onExpiry?: (consumer: Address) => void;
  /** Milliseconds since the epoch; injected by tests. */
  now?: () => number;
  /** The most key states kept between head blocks; the oldest is forgotten past it. Default 10,000. */
  maxStates?: number;
};

export type KeyRegistry = Awaited<ReturnType<typeof createKeyRegistry>>;

type StoredGrant = {
  grant: {
    consumer: Address;
    key: Address;
    worker: Address;
    maxQueries: string;
    maxFeePerQuery: string;
    expiresAt: string;
  };
  signature: Hex;
  registeredAt: string;
};

/**
 * The API and session keys consumers authorised, as this worker knows them: each consumer-signed
 * KeyGrant registered with `POST /v1/keys`, kept in LevelDB (`g!<key>`) and in memory, so that
 * finding a request's grant costs a map look-up, never a disk read or a signature check.
 *
 * A grant is accepted only if the contract would settle against it: the consumer's signature over
 * it (ECDSA, then ERC-1271 on the consumer at the head block, as UsageSettlement checks it), a
 * worker that is this one or the zero address, an expiry in the future, and a key not revoked on
 * chain. Registering the same grant again changes nothing (anyone may post it: the consumer's
 * signature is what counts). A key has one grant here: a different grant for a registered key is
 * refused, so the cap a request is checked against is the one settled against.
 *
 * The key's on-chain state (queries settled for it at every worker, its revocation) is read once
 * per key per head block the policy sync has seen, like deposits, so a revocation is acted on at
 * the first poll that sees it.
 */
export async function createKeyRegistry(parameters: CreateKeyRegistryParameters) {
  const { client } = parameters;
  const now = parameters.now ?? Date.now;
  const worker = getAddress(parameters.worker);
  const maxStates = parameters.maxStates ?? 10_000;
  const hashGrant = createKeyGrantHasher(parameters.chainId, parameters.usageSettlement);
  const db = new ClassicLevel<string, string>(parameters.directory, { keyEncoding: "utf8", valueEncoding: "utf8" });
  try {
    await mkdir(parameters.directory, { recursive: true });
    await db.open();
  } catch (cause) {
    throw new WorkerError("STORAGE_UNAVAILABLE", `Cannot open the key registry in ${parameters.directory}.`, {
      cause,
      hints: [
        "Only one worker may use a data directory at a time: stop any other worker using the same dataDir.",
        "Check that the data directory is writable and not full.",
      ],
    });
  }

  /** Grants by lower-case key address. */
  const grants = new Map<string, KeyGrantRecord>();
  /** Registered keys by lower-case consumer address. */
  const byConsumer = new Map<string, Set<string>>();
  const remember = (record: KeyGrantRecord) => {
    const key = record.grant.key.toLowerCase();
    grants.set(key, record);
    const consumer = record.grant.consumer.toLowerCase();
    let keys = byConsumer.get(consumer);
    if (keys === undefined) byConsumer.set(consumer, (keys = new Set()));
    keys.add(key);
  };
  for await (const value of db.values({ gt: "g!", lt: "g!\xff" }))
    remember(fromStored(JSON.parse(value) as StoredGrant));

  const states = new Map<string, { head: string; settledCount: bigint; state: Promise<KeyState> }>();
  /**
   * The key's state on chain at `head` (any string naming the head block) or later: read once per
   * key per head block, and again after this worker's settlement of the consumer landed.
   */
  function keyState(consumer: Address, key: Address, head: string) {
    const id = `${consumer.toLowerCase()}!${key.toLowerCase()}`;
    const kept = states.get(id);
    const settledCount = parameters.settledCount(consumer);
    if (kept !== undefined && kept.head === head && kept.settledCount === settledCount) return kept.state;
    const state = readKeyState(consumer, key);
    const entry = { head, settledCount, state };
    states.delete(id);
    if (states.size >= maxStates) states.delete(states.keys().next().value!);
    states.set(id, entry);
    // A failed read is not kept: the next request reads again.
    state.catch(() => {
      if (states.get(id) === entry) states.delete(id);
    });
    return state;
  }

  async function readKeyState(consumer: Address, key: Address, blockNumber?: bigint): Promise<KeyState> {
    try {
      const [used, revokedAt] = await client.readContract({
        address: parameters.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "keyState",
        args: [consumer, key],
        ...(blockNumber === undefined ? {} : { blockNumber }),
      });
      return { used, revokedAt };
    } catch (cause) {
      if (cause instanceof BaseError) throw cause;
      throw new WorkerError("CHAIN_UNAVAILABLE", "The worker could not read the key's state on chain.", {
        cause,
        hints: ["Retry later; nothing was counted or stored."],
      });
    }
  }

  /**
   * Checks a consumer's grant and keeps it. Resolves with the record and whether it is new;
   * throws a WorkerError with the code of the first check that fails, storing nothing.
   */
  /** Registrations in progress by lower-case key: one at a time per key, so two grants cannot both pass. */
  const registering = new Map<string, Promise<unknown>>();
  function register(message: KeyGrantMessage, signature: Hex): Promise<{ record: KeyGrantRecord; created: boolean }> {
    const id = message.key.toLowerCase();
    const previous = registering.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => registerNow(message, signature));
    registering.set(id, next);
    void next
      .finally(() => {
        if (registering.get(id) === next) registering.delete(id);
      })
      .catch(() => undefined);
    return next;
  }

  async function registerNow(
    message: KeyGrantMessage,
    signature: Hex,
  ): Promise<{ record: KeyGrantRecord; created: boolean }> {
    const view = parameters.policy.requireFreshPolicy();
    // Any letter case is accepted: the signature, not a checksum, says whose grant it is.
    const grant: KeyGrantMessage = {
      ...message,
      consumer: getAddress(message.consumer.toLowerCase()),
      key: getAddress(message.key.toLowerCase()),
      worker: getAddress(message.worker.toLowerCase()),
    };
    if (grant.key === zeroAddress || grant.consumer === zeroAddress) {
      throw new WorkerError("VALIDATION_FAILED", "A grant names a consumer and a key, neither the zero address.", {
        extra: { field: grant.key === zeroAddress ? "grant.key" : "grant.consumer" },
      });
    }
    if (grant.maxQueries === 0n) {
      throw new WorkerError("VALIDATION_FAILED", "The grant allows no query (maxQueries is 0).", {
        hints: ["Sign a grant with a cap of at least one query."],
        extra: { field: "grant.maxQueries" },
      });
    }
    if (grant.worker !== zeroAddress && grant.worker !== worker) throw wrongWorker(grant, worker);
    const nowSeconds = BigInt(Math.floor(now() / 1000));
    if (grant.expiresAt <= nowSeconds) throw expired(grant);
    const known = grants.get(grant.key.toLowerCase());
    if (known !== undefined && !sameGrant(known.grant, grant)) {
      throw new WorkerError("VALIDATION_FAILED", `Key ${grant.key} is already registered here with another grant.`, {
        hints: ["Authorise a new key for the new cap, expiry or worker; a key keeps the grant it was registered with."],
        extra: { field: "grant.key" },
      });
    }
    const blockNumber = view.head.blockNumber;
    const valid = await isConsumerSignature({
      client,
      consumer: grant.consumer,
      digest: hashGrant(grant),
      signature,
      blockNumber,
    });
    if (!valid) {
      throw new WorkerError("SIGNATURE_INVALID", "The signature is not the consumer's over this grant.", {
        hints: [
          "Sign the KeyGrant exactly as GET /v1/eip712 describes (UsageSettlement's domain, this chain), with the consumer's wallet; a smart account's signature must pass its isValidSignature.",
        ],
      });
    }
    const state = await readKeyState(grant.consumer, grant.key, blockNumber);
    if (state.revokedAt !== 0n) throw revoked(grant, state);
    if (known !== undefined) return { record: known, created: false };
    const record: KeyGrantRecord = { grant, signature, registeredAt: new Date(now()).toISOString() };
    try {
      await db.put(`g!${grant.key.toLowerCase()}`, JSON.stringify(toStored(record)), { sync: true });
    } catch (cause) {
      throw new WorkerError("STORAGE_UNAVAILABLE", "Cannot write to the key registry.", {
        cause,
        hints: ["Check that the data directory is writable and not full."],
      });
    }
    remember(record);
    return { record, created: true };
  }

  /**
   * The query service's check of a key lane (KeyLaneAuthority): the key's grant is registered
   * here for this consumer (KEY_UNKNOWN), not expired (KEY_EXPIRED), for this worker
   * (KEY_WRONG_WORKER); a session key signed the voucher (ECDSA only, as the contract checks a
   * key: SIGNATURE_INVALID) with the grant's maximum fee, which the contract settles it with
   * (FEE_ABOVE_MAXIMUM otherwise); the key is not revoked on chain (KEY_REVOKED). The local checks
   * come first, so a refused key costs no chain read. Resolves to the grant's maximum fee and the
   * cap check: the caller reserves the query's total and then calls `checkCap()` (KEY_CAP_REACHED
   * when what is settled on chain for the key, with what this worker counted or holds and has not
   * settled, passes `maxQueries`), nothing awaited between, so concurrent queries cannot both take
   * the last one.
   */
  async function authorise(request: {
    consumer: Address;
    key: Address;
    usageDigest?: Uint8Array;
    signature?: Hex;
    voucherMaxFeePerQuery?: bigint;
    nowSeconds: bigint;
    view: PolicyView;
  }): Promise<{ maxFeePerQuery: bigint; checkCap: () => void }> {
    const record = grants.get(request.key.toLowerCase());
    if (record === undefined || !sameAddress(record.grant.consumer, request.consumer)) {
      throw new WorkerError(
        "KEY_UNKNOWN",
        `No grant of ${request.consumer} for the key ${request.key} is registered here.`,
        {
          hints: ["Register the consumer's signed grant for the key with POST /v1/keys first."],
        },
      );
    }
    const { grant } = record;
    if (grant.expiresAt <= request.nowSeconds) {
      // Its lanes may have waited for their epoch's end: they settle now, while the contract still takes them.
      parameters.onExpiry?.(grant.consumer);
      throw expired(grant);
    }
    if (grant.worker !== zeroAddress && grant.worker !== worker) throw wrongWorker(grant, worker);
    if (request.usageDigest !== undefined && request.signature !== undefined) {
      let signer: string | undefined;
      try {
        signer = recoverDigestSigner(request.usageDigest, request.signature);
      } catch {
        signer = undefined;
      }
      if (signer === undefined || !sameAddress(signer, grant.key)) {
        throw new WorkerError("SIGNATURE_INVALID", `The voucher is not signed by the session key ${grant.key}.`, {
          hints: ["Sign the Usage with the session key itself (ECDSA), with key set to its address."],
        });
      }
      if (request.voucherMaxFeePerQuery !== grant.maxFeePerQuery) {
        // The contract rebuilds a session key's Usage with the grant's maximum fee: a voucher
        // signed with another could never be settled.
        throw new WorkerError(
          "SIGNATURE_INVALID",
          `A session key's voucher must sign the grant's maxFeePerQuery (${grant.maxFeePerQuery} wei), which the contract settles it with.`,
          {
            hints: ["Sign the Usage with maxFeePerQuery equal to the key's grant."],
            extra: { maxFeePerQuery: grant.maxFeePerQuery.toString() },
          },
        );
      }
    }
    const head = request.view.head.blockHash ?? String(request.view.head.blockNumber);
    const state = await keyState(grant.consumer, grant.key, head);
    if (state.revokedAt !== 0n) throw revoked(grant, state);
    watchExpiry(grant, request.nowSeconds);
    return {
      maxFeePerQuery: grant.maxFeePerQuery,
      checkCap() {
        const unsettled = parameters.unsettledOfKey(grant.consumer, grant.key);
        if (state.used + unsettled <= grant.maxQueries) return;
        throw new WorkerError(
          "KEY_CAP_REACHED",
          `The key ${grant.key} has no query left of its ${grant.maxQueries}: ${state.used} are settled on chain and this worker holds the rest unsettled.`,
          {
            hints: ["Authorise a new key with a new cap; nothing was counted."],
            extra: { maxQueries: grant.maxQueries.toString(), settled: state.used.toString() },
          },
        );
      },
    };
  }

  /** Keys (lower-case) whose expiry is watched: one timer each, once the key has been used. */
  const expiries = new Map<string, NodeJS.Timeout>();
  function watchExpiry(grant: KeyGrantMessage, nowSeconds: bigint) {
    const id = grant.key.toLowerCase();
    const delayMs = Number(grant.expiresAt - nowSeconds) * 1000;
    // setTimeout takes at most 2^31 - 1 ms (24.8 days): a key further from its expiry is watched
    // from a later request.
    if (parameters.onExpiry === undefined || expiries.has(id) || delayMs > 2 ** 31 - 1) return;
    const timer = setTimeout(() => parameters.onExpiry!(grant.consumer), delayMs);
    timer.unref();
    expiries.set(id, timer);
  }

  /**
   * A key lane's `settleKeys` entry (IUsageSettlement.KeySettlement): the grant and the consumer's
   * signature over it, the lane's epoch and highest total, and for a session key its latest voucher
   * (input hash, deadline, the key's signature); a bearer lane sends the worker's own count with no
   * key signature, bounded on chain by the grant's cap. Undefined when the key's grant is not here.
   */
  function entryOf(record: LaneRecord) {
    const known = grants.get(record.lane.key.toLowerCase());
    const voucher = record.voucher;
    if (known === undefined || voucher === undefined) return undefined;
    const session = voucher.signature !== undefined && voucher.signature !== "0x";
    return {
      grant: known.grant,
      grantSignature: known.signature,
      epoch: record.lane.epoch,
      total: voucher.total,
      inputHash: session ? voucher.inputHash : zeroHash,
      deadline: session ? voucher.deadline : 0n,
      keySignature: session ? voucher.signature! : "0x",
    };
  }

  return {
    register,
    authorise,
    entryOf,
    /** The grant registered for a key, or undefined. A map look-up. */
    grantOf: (key: Address): KeyGrantRecord | undefined => grants.get(key.toLowerCase()),
    /** Whether a key's grant is registered here. */
    has: (key: Address): boolean => grants.has(key.toLowerCase()),
    /** A consumer's registered grants, oldest first. */
    list(consumer: Address): KeyGrantRecord[] {
      const keys = byConsumer.get(consumer.toLowerCase()) ?? new Set<string>();
      return [...keys].map((key) => grants.get(key)!);
    },
    keyState,
    worker,
    async close() {
      for (const timer of expiries.values()) clearTimeout(timer);
      await db.close();
    },
  };
}

/** The refusals of a key whose grant fails a check, shared by registration and by each request. */
export function wrongWorker(grant: KeyGrantMessage, worker: Address): WorkerError {
  return new WorkerError(
    "KEY_WRONG_WORKER",
    `The key's grant is for worker ${grant.worker}, not this one (${worker}).`,
    {
      hints: [`Send it to ${grant.worker}, or authorise a key for this worker or for any worker (the zero address).`],
      extra: { worker: grant.worker },
    },
  );
}

export function expired(grant: KeyGrantMessage): WorkerError {
  return new WorkerError(
    "KEY_EXPIRED",
    `The key ${grant.key} expired at ${new Date(Number(grant.expiresAt) * 1000).toISOString()}.`,
    {
      hints: ["Authorise a new key with a later expiry."],
      extra: { expiresAt: Number(grant.expiresAt) },
    },
  );
}

export function revoked(grant: KeyGrantMessage, state: KeyState): WorkerError {
  return new WorkerError(
    "KEY_REVOKED",
    `The consumer revoked the key ${grant.key} at ${new Date(Number(state.revokedAt) * 1000).toISOString()}.`,
    {
      hints: ["Use another key, or authorise a new one."],
      extra: { revokedAt: Number(state.revokedAt) },
    },
  );
}

function sameGrant(a: KeyGrantMessage, b: KeyGrantMessage): boolean {
  return (
    sameAddress(a.consumer, b.consumer) &&
    sameAddress(a.key, b.key) &&
    sameAddress(a.worker, b.worker) &&
    a.maxQueries === b.maxQueries &&
    a.maxFeePerQuery === b.maxFeePerQuery &&
    a.expiresAt === b.expiresAt
  );
}

function toStored(record: KeyGrantRecord): StoredGrant {
  return { ...record, grant: keyGrantToWire(record.grant) };
}

function fromStored(stored: StoredGrant): KeyGrantRecord {
  const { grant } = stored;
  return {
    ...stored,
    grant: {
      consumer: grant.consumer,
      key: grant.key,
      worker: grant.worker,
      maxQueries: BigInt(grant.maxQueries),
      maxFeePerQuery: BigInt(grant.maxFeePerQuery),
      expiresAt: BigInt(grant.expiresAt),
    },
  };
}
