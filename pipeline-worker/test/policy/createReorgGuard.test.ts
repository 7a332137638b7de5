// hardhat-viem's augmentation of network connections (`connection.viem`); pipeline-worker's
// tsconfig does not load hardhat.config.ts, which would bring it in.
import type {} from "@nomicfoundation/hardhat-viem";
import { network } from "hardhat";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Hex, PublicClient, TestClient, WalletClient } from "viem";
import { createSnapshots } from "../../../test/helpers/snapshots.ts";
import { ChainMovedError, createReorgGuard, type ChainCursor } from "../../src/policy/createReorgGuard.ts";

let publicClient: PublicClient;
let testClient: TestClient;
let wallet: WalletClient;
let snapshots: ReturnType<typeof createSnapshots>;
let close: () => Promise<void>;

beforeAll(async () => {
  const connection = await network.create();
  publicClient = (await connection.viem.getPublicClient()) as unknown as PublicClient;
  testClient = (await connection.viem.getTestClient()) as unknown as TestClient;
  wallet = (await connection.viem.getWalletClients())[0] as unknown as WalletClient;
  close = () => connection.close();
  await testClient.mine({ blocks: 3 });
  snapshots = createSnapshots(testClient);
  await snapshots.save();
});
beforeEach(async () => {
  await snapshots.restore();
});
afterAll(async () => {
  await close();
});

/** Mines a block whose contents differ from any before, so that its hash does too. */
async function mineDifferentBlock() {
  const hash = await wallet.sendTransaction({
    account: wallet.account!,
    chain: null,
    to: "0x000000000000000000000000000000000000dEaD",
    value: BigInt(Math.floor(Math.random() * 1e9)) + 1n,
  });
  await publicClient.waitForTransactionReceipt({ hash });
}

async function cursorAt(blockNumber: bigint): Promise<ChainCursor & { blockHash: Hex }> {
  const block = await publicClient.getBlock({ blockNumber });
  return { blockNumber, blockHash: block.hash };
}

/** Mines `blocks` blocks on a fork that a later `reorganise` replaces with as many different ones. */
async function forkPoint() {
  const base = await publicClient.getBlockNumber({ cacheTime: 0 });
  const id = await testClient.snapshot();
  return {
    base,
    async reorganise(blocks: number) {
      await testClient.revert({ id });
      for (let i = 0; i < blocks; i++) await mineDifferentBlock();
    },
  };
}

describe("createReorgGuard", () => {
  it("says nothing moved while the cursor is canonical, and reads no checkpoint then", async () => {
    const guard = createReorgGuard({ client: publicClient });
    await mineDifferentBlock();
    const cursor = await cursorAt(await publicClient.getBlockNumber({ cacheTime: 0 }));
    let read = false;
    const point = await guard.resyncPoint(cursor, async () => {
      read = true;
      return [];
    });
    expect(point).toBeUndefined();
    expect(read).toBe(false);
    expect(await guard.isCanonical({ blockNumber: 0n, blockHash: undefined })).toBe(true);
  });

  it("after a reorg, resyncs from the newest checkpoint that is still canonical", async () => {
    const guard = createReorgGuard({ client: publicClient });
    await mineDifferentBlock();
    const fork = await forkPoint();
    const kept = await cursorAt(fork.base);
    await mineDifferentBlock();
    const lost = await cursorAt(fork.base + 1n);
    await mineDifferentBlock();
    const cursor = await cursorAt(fork.base + 2n);

    await fork.reorganise(3);
    expect(await guard.isCanonical(cursor)).toBe(false);
    expect(await guard.resyncPoint(cursor, async () => [lost, kept])).toEqual({ from: kept });
    await expect(guard.requireCanonical(cursor, "The cursor left the chain.")).rejects.toThrow(
      new ChainMovedError("The cursor left the chain."),
    );
  });

  it("resyncs from the deployment when no checkpoint survived the reorg", async () => {
    const guard = createReorgGuard({ client: publicClient });
    const fork = await forkPoint();
    await mineDifferentBlock();
    const lost = await cursorAt(fork.base + 1n);
    await fork.reorganise(1);
    expect(await guard.resyncPoint(lost, async () => [lost])).toEqual({ from: undefined });
  });

  it("refuses events from a block the chain no longer holds, and from a height it has not reached", async () => {
    const guard = createReorgGuard({ client: publicClient });
    const fork = await forkPoint();
    await mineDifferentBlock();
    const stale = await cursorAt(fork.base + 1n);
    await mineDifferentBlock();
    const head = await guard.latestHeader();
    const events = [{ blockNumber: stale.blockNumber, blockHash: stale.blockHash }];
    await guard.requireCanonicalEvents(events, head);

    await fork.reorganise(1);
    const error = await guard.requireCanonicalEvents(events, head).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ChainMovedError);
    expect((error as ChainMovedError).retryable).toBe(true);
    expect((error as ChainMovedError).shortMessage).toMatch(
      new RegExp(
        `^A registry event of block ${stale.blockNumber} came from block ${stale.blockHash}, not the canonical 0x[0-9a-f]{64}\\.$`,
      ),
    );

    const beyond = [{ blockNumber: head.number + 10n, blockHash: head.hash }];
    await expect(guard.requireCanonicalEvents(beyond, head)).rejects.toMatchObject({
      shortMessage: expect.stringMatching(/not the canonical \(none\)\.$/),
    });
    expect(await guard.headerAt(head.number + 10n)).toBeUndefined();
  });

  it("checks many event blocks, and takes the known header's block without asking for it", async () => {
    const requests: string[] = [];
    const counted = {
      ...publicClient,
      getBlock: (parameters: Parameters<PublicClient["getBlock"]>[0]) => {
        requests.push(String(parameters?.blockNumber));
        return publicClient.getBlock(parameters);
      },
    } as PublicClient;
    const guard = createReorgGuard({ client: counted });
    for (let i = 0; i < 20; i++) await mineDifferentBlock();
    const head = await publicClient.getBlock({ blockTag: "latest" });
    const events = [];
    for (let n = head.number - 19n; n <= head.number; n++) {
      const { blockHash } = await cursorAt(n);
      events.push({ blockNumber: n, blockHash }, { blockNumber: n, blockHash });
    }
    await guard.requireCanonicalEvents(events, { number: head.number, hash: head.hash });
    expect(requests).toHaveLength(19);
    expect(requests).not.toContain(String(head.number));
  });
});
