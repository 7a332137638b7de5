import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getAddress, zeroAddress } from "viem";
import { policyRegistryAbi } from "../../../deployments/abis.ts";
import { createWorkerSystem, type WorkerSystem } from "../helpers/createWorkerSystem.ts";
import { createSubmitter, trainingData, type Submitter } from "../helpers/submissions.ts";

// The attacks of issue 19 (findings 1, 4 and 5) against a real worker on a real chain and Helia
// store: a stranger who knows a submission's public id, a stranger who holds an upload open until
// after the honest one, a contributor's own client retrying an upload concurrently, two POSTs of
// the same data at once, and an upload in flight when the kill switch is engaged.

let s: WorkerSystem;
let submitter: Submitter;

beforeAll(async () => {
  s = await createWorkerSystem();
  submitter = createSubmitter(s);
});
afterAll(async () => {
  await s?.close();
});

type Status = { state: string; manifestCid: string | null; rejection: { code: string } | null };

const statusOf = async (id: string) => (await (await fetch(`${s.url}/v1/submissions/${id}`)).json()) as Status;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("only the contributor can upload a submission's data", () => {
  it("returns an upload capability only in the POST's answer, never in a public listing", async () => {
    const { id, token, envelope } = await submitter.begin();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const byId = await (await fetch(`${s.url}/v1/submissions/${id}`)).text();
    const listed = await (await fetch(`${s.url}/v1/submissions?contributor=${envelope.contributor}`)).text();
    for (const body of [byId, listed]) {
      expect(body).not.toContain(token);
      expect(body).not.toContain("uploadToken");
    }
    // Nor is the capability kept where the worker's files could give it away: only its hash is.
    const record = await s.worker.journal.get(id);
    expect(JSON.stringify(record)).not.toContain(token);
  });

  it("a stranger cannot PUT data to someone else's submission: one byte, no token or a wrong one, changes nothing", async () => {
    const { id, data } = await submitter.begin();
    const other = await submitter.begin();
    const blocksBefore = s.storedBlocks();
    for (const token of [null, "", "not-a-token", randomBytes(32).toString("base64url"), other.token]) {
      const refused = await submitter.put(id, Uint8Array.of(0x41), { token });
      expect(refused.status, String(token)).toBe(401);
      expect(refused.json.code, String(token)).toBe("UPLOAD_UNAUTHORISED");
    }
    expect(s.storedBlocks()).toBe(blocksBefore);
    expect((await statusOf(id)).state).toBe("awaiting_data");

    // The contributor's own upload is still taken, and recorded.
    const uploaded = await submitter.put(id, data);
    expect(uploaded.status).toBe(202);
    expect(uploaded.json.state).toBe("stored");
    expect(await s.worker.flush()).toBe(1);
    expect((await statusOf(id)).state).toBe("recorded");
  });

  it("a stranger holding a PUT open, finishing it with garbage after the honest upload was stored, cannot unstore it", async () => {
    const { id, data, envelope } = await submitter.begin(trainingData(64 * 1024));
    const stranger = submitter.openUpload(id, data.byteLength, randomBytes(1000), { token: null });
    // The stranger is refused before the worker reads a byte of the body, not once it ends.
    const refused = await Promise.race([stranger.answer, pause(2_000).then(() => undefined)]);
    expect(refused?.status).toBe(401);
    expect(refused?.json.code).toBe("UPLOAD_UNAUTHORISED");

    const honest = await submitter.put(id, data);
    expect(honest.status).toBe(202);
    expect(honest.json.state).toBe("stored");
    stranger.send(randomBytes(data.byteLength - 1000));
    await pause(300);
    stranger.close();

    const status = await statusOf(id);
    expect(status.state).toBe("stored");
    expect(status.rejection).toBeNull();
    expect(await s.worker.flush()).toBe(1);
    expect((await statusOf(id)).state).toBe("recorded");
    expect(getAddress(await submitter.recordedContributor(envelope.dataHash))).toBe(
      getAddress(s.accounts.contributor.account.address),
    );
  });

  it("a contributor's concurrent retry of an upload is refused UPLOAD_IN_PROGRESS, and the first upload is stored", async () => {
    const { id, data } = await submitter.begin(trainingData(64 * 1024));
    const first = submitter.openUpload(id, data.byteLength, data.subarray(0, 20_000));
    await pause(200);
    // The client, seeing no answer yet, sends the whole upload again on another connection.
    const retry = await submitter.put(id, data);
    expect(retry.status).toBe(409);
    expect(retry.json.code).toBe("UPLOAD_IN_PROGRESS");
    first.send(data.subarray(20_000));
    const answer = await first.answer;
    first.close();
    expect(answer?.status).toBe(202);
    expect(answer?.json.state).toBe("stored");
    expect((await statusOf(id)).state).toBe("stored");

    // Once stored, no upload moves it back, the contributor's own included.
    const again = await submitter.put(id, randomBytes(data.byteLength));
    expect(again.status).toBe(409);
    expect(again.json.code).toBe("DUPLICATE_SUBMISSION");
    const stored = await statusOf(id);
    expect(stored.state).toBe("stored");
    expect(stored.rejection).toBeNull();
    expect(await s.worker.flush()).toBe(1);
    expect((await statusOf(id)).state).toBe("recorded");
  });

  it("a contributor whose connection broke mid-upload can upload again at once, not only after the idle timeout", async () => {
    for (const how of ["half-closed", "destroyed"] as const) {
      const { id, data } = await submitter.begin();
      const broken = submitter.openUpload(id, data.byteLength, data.subarray(0, 700));
      await pause(100);
      broken.close(how === "half-closed" ? "end" : "destroy");
      await broken.answer;
      // The client retries while the worker lets go of the broken upload (UPLOAD_IN_PROGRESS is retryable).
      const started = performance.now();
      let retried = await submitter.put(id, data);
      while (retried.json.code === "UPLOAD_IN_PROGRESS" && performance.now() - started < 5_000) {
        await pause(50);
        retried = await submitter.put(id, data);
      }
      expect(retried.status, how).toBe(202);
      // Well inside the 30 s body idle timeout: the closed connection freed the submission.
      expect(performance.now() - started, how).toBeLessThan(5_000);
    }
    expect(await s.worker.flush()).toBe(2);
  });

  it("bytes that do not match the signed hash leave the submission awaiting its data, keep no block, and the right bytes are then taken", async () => {
    const { id, data, envelope } = await submitter.begin();
    const blocksBefore = s.storedBlocks();
    const tampered = Uint8Array.from(data);
    tampered[0]! ^= 1;
    const variants: [Uint8Array, string][] = [
      [tampered, "VALIDATION_FAILED"],
      [data.subarray(1), "VALIDATION_FAILED"],
      [Buffer.concat([data, Buffer.from("x")]), "PAYLOAD_TOO_LARGE"],
    ];
    for (const [bytes, code] of variants) {
      const refused = await submitter.put(id, bytes);
      expect(refused.json.code).toBe(code);
      expect(s.storedBlocks()).toBe(blocksBefore);
      const status = await statusOf(id);
      expect(status.state).toBe("awaiting_data");
      expect(status.manifestCid).toBeNull();
    }
    expect(await s.worker.flush()).toBe(0);
    expect(await submitter.recordedContributor(envelope.dataHash)).toBe(zeroAddress);

    expect((await submitter.put(id, data)).json.state).toBe("stored");
    expect(await s.worker.flush()).toBe(1);
    expect((await statusOf(id)).state).toBe("recorded");
  });
});

describe("the same data submitted twice at once", () => {
  it("two concurrent POSTs of the same data with different nonces: only one is accepted", async () => {
    const data = trainingData(2000);
    const envelopes = await Promise.all(
      Array.from({ length: 4 }, async () => (await submitter.prepare({ data })).envelope),
    );
    const answers = await Promise.all(envelopes.map((envelope) => submitter.post(envelope)));
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409]);
    for (const answer of answers.filter((a) => a.status === 409)) {
      expect(answer.json.code).toBe("DUPLICATE_SUBMISSION");
    }
    const listed = (await submitter.submissionsOf(s.accounts.contributor.account.address)) as { dataHash: string }[];
    expect(listed.filter((x) => x.dataHash === envelopes[0]!.dataHash)).toHaveLength(1);
  });

  it("a refused POST does not hold the data back: the contributor's next POST of it is accepted", async () => {
    const data = trainingData(2000);
    const forged = (await submitter.prepare({ data, signer: s.accounts.outsider })).envelope;
    const good = (await submitter.prepare({ data })).envelope;
    const [refused, accepted] = await Promise.all([submitter.post(forged), submitter.post(good)]);
    expect(refused.json.code).toBe("SIGNATURE_INVALID");
    expect(accepted.status).toBe(201);
    const untrusted = (await submitter.prepare({ data: trainingData(100), attesters: [s.accounts.outsider] })).envelope;
    expect((await submitter.post(untrusted)).json.code).toBe("ATTESTATION_INVALID");
    const sameData = await submitter.prepare({ data: new Uint8Array(0), dataHash: untrusted.dataHash, size: 100n });
    expect((await submitter.post(sameData.envelope)).status).toBe(201);
  });
});

// Last: the switch stays engaged for the rest of this worker's life.
describe("the kill switch engaged while an upload is in flight", () => {
  it("aborts the upload with KILL_SWITCH_ENGAGED as soon as the worker sees the switch, and keeps nothing", async () => {
    const { id, data, envelope } = await submitter.begin(trainingData(256 * 1024));
    const blocksBefore = s.storedBlocks();
    const upload = submitter.openUpload(id, data.byteLength, data.subarray(0, 100 * 1024));
    await pause(200);
    await s.wait(
      await s.accounts.guardian.writeContract({
        address: s.deployment.contracts.policyRegistry,
        abi: policyRegistryAbi,
        functionName: "engageKillSwitch",
        args: ["test: poisoned data"],
      }),
    );
    await s.worker.policySync.poll();
    // Answered while the body is still unfinished: the worker did not wait for the rest of it.
    let answer = await Promise.race([upload.answer, pause(1_000).then(() => undefined)]);
    const answeredMidStream = answer !== undefined;
    if (!answer) {
      upload.send(data.subarray(100 * 1024));
      answer = await upload.answer;
    }
    upload.close();
    expect(answer?.json.code).toBe("KILL_SWITCH_ENGAGED");
    expect(answer?.status).toBe(503);
    expect(answeredMidStream).toBe(true);

    await pause(200);
    expect(s.storedBlocks()).toBe(blocksBefore);
    const status = await statusOf(id);
    expect(status.state).toBe("awaiting_data");
    expect(status.manifestCid).toBeNull();
    expect(await s.worker.flush()).toBe(0);
    expect(await submitter.recordedContributor(envelope.dataHash)).toBe(zeroAddress);

    // While the switch stays engaged, a new upload is refused before any of it is read.
    const refused = await submitter.put(id, data);
    expect(refused.json.code).toBe("KILL_SWITCH_ENGAGED");
    expect(s.storedBlocks()).toBe(blocksBefore);
  });
});
