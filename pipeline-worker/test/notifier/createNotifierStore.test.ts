import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AlertPayload } from "../../src/notifier/alertPayload.ts";
import { createNotifierStore, type NotifierIdentity } from "../../src/notifier/createNotifierStore.ts";

const identity: NotifierIdentity = {
  chainId: 31337,
  governor: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  registry: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
  deploymentBlockHash: `0x${"01".repeat(32)}`,
};
const cursor = (n: number) => ({ blockNumber: BigInt(n), blockHash: `0x${n.toString(16).padStart(64, "0")}` as const });
const alert = (id: string): AlertPayload => ({
  id,
  type: "proposal.executed",
  timestamp: "2026-12-07T15:58:12.000Z",
  chainId: 31337,
  block: { number: "1", hash: `0x${"ab".repeat(32)}`, timestamp: "2026-12-07T15:58:12.000Z" },
  transactionHash: `0x${"cd".repeat(32)}`,
  data: { governor: identity.governor, proposalId: "7", title: null, url: null },
});

describe("createNotifierStore", () => {
  let directory: string;
  beforeEach(async () => {
    directory = path.join(await mkdtemp(path.join(tmpdir(), "notifier-store-")), "state");
  });
  afterEach(async () => {
    await rm(path.dirname(directory), { recursive: true, force: true });
  });

  it("queues an alert once however often its range is read again, and keeps it across a reopen", async () => {
    let store = await createNotifierStore({ directory, identity });
    const commit = { cursor: cursor(5), alerts: [{ alert: alert("evt_a"), targets: ["webhook:ops"] }], proposals: [] };
    expect((await store.commit(commit)).map((a) => a.id)).toEqual(["evt_a"]);
    expect(await store.commit(commit)).toEqual([]);
    await store.close();
    store = await createNotifierStore({ directory, identity });
    expect(store.resetReason).toBeUndefined();
    expect(await store.commit({ ...commit, cursor: cursor(6) })).toEqual([]);
    expect(await store.cursor()).toEqual(cursor(6));
    expect((await store.pendingDeliveries()).map((d) => [d.alertId, d.target, d.attempts])).toEqual([
      ["evt_a", "webhook:ops", 0],
    ]);
    await store.close();
  });

  it("applies a range's proposal changes in order and keeps titles after the vote", async () => {
    const store = await createNotifierStore({ directory, identity });
    const tracked = { proposalId: "7", title: "Raise the quota", deadline: "100", endingAlertedFor: null };
    await store.commit({
      cursor: cursor(1),
      alerts: [],
      proposals: [
        { op: "track", proposal: tracked },
        { op: "track", proposal: { ...tracked, proposalId: "8", title: "Other" } },
        { op: "extend", proposalId: "7", deadline: "110" },
        { op: "ending-alerted", proposalId: "7", deadline: "110" },
        { op: "untrack", proposalId: "8" },
      ],
    });
    expect(await store.trackedProposals()).toEqual([{ ...tracked, deadline: "110", endingAlertedFor: "110" }]);
    expect(await store.titles()).toEqual(
      new Map([
        ["7", "Raise the quota"],
        ["8", "Other"],
      ]),
    );
    await store.close();
  });

  it("clears state about another chain or deployment, and says so", async () => {
    let store = await createNotifierStore({ directory, identity });
    await store.commit({
      cursor: cursor(9),
      alerts: [{ alert: alert("evt_a"), targets: ["webhook:ops"] }],
      proposals: [],
    });
    await store.close();
    store = await createNotifierStore({
      directory,
      identity: { ...identity, deploymentBlockHash: `0x${"02".repeat(32)}` },
    });
    expect(store.resetReason).toMatch(/^it was about another chain or deployment/);
    expect(await store.cursor()).toBeUndefined();
    expect(await store.pendingDeliveries()).toEqual([]);
    await store.close();
  });

  it("refuses a second notifier on the same data directory", async () => {
    const store = await createNotifierStore({ directory, identity });
    await expect(createNotifierStore({ directory, identity })).rejects.toMatchObject({
      code: "STORAGE_UNAVAILABLE",
      shortMessage: `Cannot open the notifier's state in ${directory}.`,
    });
    await store.close();
  });
});
