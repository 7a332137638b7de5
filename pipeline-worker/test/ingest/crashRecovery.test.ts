import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseEventLogs, type Hex } from "viem";
import { contributorRewardsAbi } from "../../../deployments/abis.ts";
import { contributionInput } from "../../src/ingest/createContributionRecorder.ts";
import { createJournal } from "../../src/storage/createJournal.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter, trainingData } from "../helpers/submissions.ts";

let s: WorkerSystem | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

/** How many times the chain recorded this data (ContributionRecorded events). */
async function timesRecorded(system: WorkerSystem, dataHash: Hex): Promise<number> {
  const logs = await system.publicClient.getLogs({
    address: system.deployment.contracts.contributorRewards,
    fromBlock: 0n,
    toBlock: "latest",
  });
  return parseEventLogs({ abi: contributorRewardsAbi, eventName: "ContributionRecorded", logs }).filter(
    (log) => log.args.dataHash === dataHash,
  ).length;
}

describe("a worker left to itself", () => {
  it("records stored submissions on chain without being asked", async () => {
    s = await createWorkerSystem({ autoRecord: true });
    const client = createSubmitter(s);
    const { data, envelope } = await client.prepare();
    const id = (await client.post(envelope)).json.id as string;
    await client.put(id, data);
    await expect
      .poll(async () => ((await (await fetch(`${s!.url}/v1/submissions/${id}`)).json()) as { state: string }).state)
      .toBe("recorded");
  });
});

describe("a worker that stops at any point finishes or cleanly rejects each submission", () => {
  it("records, once, what was stored before it stopped", async () => {
    s = await createWorkerSystem();
    const client = createSubmitter(s);
    const { data, envelope } = await client.prepare();
    const id = (await client.post(envelope)).json.id as string;
    expect((await client.put(id, data)).json.state).toBe("stored");

    await s.restart();
    expect(await s.worker.flush()).toBe(1);
    expect(await s.worker.flush()).toBe(0);
    expect(await timesRecorded(s, envelope.dataHash)).toBe(1);
    const status = (await (await fetch(`${s.url}/v1/submissions/${id}`)).json()) as { state: string };
    expect(status.state).toBe("recorded");
  });

  it("does not send the record transaction again when it stopped after sending it", async () => {
    s = await createWorkerSystem();
    const client = createSubmitter(s);
    const { data, envelope } = await client.prepare();
    const id = (await client.post(envelope)).json.id as string;
    await client.put(id, data);

    // The worker sent the transaction and journalled it, then died before seeing the receipt.
    await s.stop();
    const transactionHash = await s.accounts.worker.writeContract({
      address: s.deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "recordContributions",
      args: [[contributionInput(envelope, 1n)]],
    });
    const journal = await createJournal({ directory: path.join(s.dataDir, "journal") });
    await journal.advance(id, "submitted", { transactionHash });
    await journal.close();
    await s.start();

    const nonceBefore = await s.publicClient.getTransactionCount({ address: s.accounts.worker.account.address });
    expect(await s.worker.flush()).toBe(1);
    expect(await s.publicClient.getTransactionCount({ address: s.accounts.worker.account.address })).toBe(nonceBefore);
    expect(await timesRecorded(s, envelope.dataHash)).toBe(1);
    const status = (await (await fetch(`${s.url}/v1/submissions/${id}`)).json()) as Record<string, string>;
    expect(status.state).toBe("recorded");
    expect(status.transactionHash).toBe(transactionHash);
  });

  it("keeps a submission whose upload broke off awaiting its data, and takes the retried upload", async () => {
    s = await createWorkerSystem();
    const client = createSubmitter(s);
    const { data, envelope } = await client.prepare({ data: trainingData(512 * 1024) });
    const id = (await client.post(envelope)).json.id as string;

    const aborted = new AbortController();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 128 * 1024) {
          aborted.abort();
          return;
        }
        controller.enqueue(data.subarray(sent, sent + 16 * 1024));
        sent += 16 * 1024;
      },
    });
    await expect(
      fetch(`${s.url}/v1/submissions/${id}/data`, {
        method: "PUT",
        headers: { "content-type": "application/octet-stream", authorization: `Bearer ${client.uploadToken(id)!}` },
        body,
        duplex: "half",
        signal: aborted.signal,
      } as RequestInit),
    ).rejects.toThrow();
    // The server notices the broken connection; wait until it has let go of the upload.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await s.restart();
    const status = (await (await fetch(`${s.url}/v1/submissions/${id}`)).json()) as { state: string };
    expect(status.state).toBe("awaiting_data");

    expect((await client.put(id, data)).json.state).toBe("stored");
    expect(await s.worker.flush()).toBe(1);
    expect(await timesRecorded(s, envelope.dataHash)).toBe(1);
  });
});
