import OpenAI, { APIError } from "openai";
import {
  decodeFunctionData,
  hashTypedData,
  zeroAddress,
  zeroHash,
  type Address,
  type Hex,
  type LocalAccount,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { usageSettlementAbi } from "../../../deployments/abis.ts";
import { createSafe, deploySafeContracts } from "../../../scripts/lib/deploy/deploySafe.ts";
import { keyGrantTypedData } from "../../../test/helpers/queryTypedData.ts";
import {
  bearerTokenOf,
  keyGrantToWire,
  keyListSchema,
  keyStatusSchema,
  type KeyStatus,
  type RegisterKeyRequest,
} from "../../src/api/consumerWire.ts";
import { openAiErrorSchema, signChatRequest } from "../../src/api/openAiWire.ts";
import type { KeyGrantMessage } from "../../src/chain/typedData.ts";
import { inputHashOf } from "../../src/inference/createQueryService.ts";
import { verifyQueryReceipt, type QueryReceipt } from "../../src/inference/queryReceipt.ts";
import type { ModelAnswer } from "../../src/model/Model.ts";
import {
  createInferenceTestSystem,
  devAccount,
  type InferenceTestSystem,
  type InferenceTestWorker,
} from "../inference/createInferenceTestSystem.ts";

// API keys as a consumer uses them: one wallet signature over a KeyGrant, registered at the worker
// (POST /v1/keys), then `Authorization: Bearer dao_sk_...` from the official `openai` client with
// no wallet at all; against a worker on a real local chain with the real UsageSettlement.

let t: InferenceTestSystem;

beforeAll(async () => {
  t = await createInferenceTestSystem({ quota: 20n, workers: 2 });
});
beforeEach(async () => {
  await t.reset();
});
afterAll(async () => {
  await t.cleanUp();
});

const MODEL = "keyword-test-model-v1";
const SCAM = "URGENT: verify your wallet seed phrase to claim your prize";

type ApiKey = { privateKey: Hex; token: string; address: Address };

function newKey(): ApiKey {
  const privateKey = generatePrivateKey();
  return { privateKey, token: bearerTokenOf(privateKey), address: privateKeyToAccount(privateKey).address };
}

/** The consumer's grant of `key`, signed by `signer` (the consumer, unless a forgery is wanted). */
async function signGrant(
  key: ApiKey,
  fields: Partial<KeyGrantMessage> & { signer?: LocalAccount } = {},
): Promise<RegisterKeyRequest> {
  const nowSeconds = BigInt(Math.floor(t.clock.now() / 1000));
  const { signer = t.consumer, ...rest } = fields;
  const grant: KeyGrantMessage = {
    consumer: t.consumer.address,
    key: key.address,
    worker: zeroAddress,
    maxQueries: 10n,
    maxFeePerQuery: t.fee,
    expiresAt: nowSeconds + 3600n,
    ...rest,
  };
  const signature = await signer.signTypedData(
    keyGrantTypedData({
      chainId: t.deployment.chainId,
      usageSettlement: t.deployment.contracts.usageSettlement,
      message: grant,
    }),
  );
  return { grant: keyGrantToWire(grant), signature };
}

async function register(worker: InferenceTestWorker, request: RegisterKeyRequest) {
  const response = await worker.worker.app.inject({ method: "POST", url: "/v1/keys", payload: request });
  return { status: response.statusCode, body: response.json() };
}

async function listKeys(worker: InferenceTestWorker, consumer: Address = t.consumer.address) {
  const response = await worker.worker.app.inject({ method: "GET", url: `/v1/keys?consumer=${consumer}` });
  expect(response.statusCode).toBe(200);
  return keyListSchema.parse(response.json());
}

/** A worker with `key` registered (cap `maxQueries`), and an openai client that holds only the token. */
async function withKey(fields: Partial<KeyGrantMessage> = {}) {
  const worker = await t.startWorker();
  const key = newKey();
  const registered = await register(worker, await signGrant(key, fields));
  expect(registered.status).toBe(201);
  const client = new OpenAI({ baseURL: await t.listen(worker), apiKey: key.token, maxRetries: 0 });
  return { worker, key, client };
}

const ask = (content: string) => ({ model: MODEL, messages: [{ role: "user" as const, content }] });

/** The openai client's APIError for a refused call, with the worker's error body. */
async function refusalOf(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(APIError);
  const { status, code } = error as APIError;
  const body = openAiErrorSchema.parse({ error: (error as APIError).error }).error;
  return { status, code, message: body.message, body };
}

const keyState = (key: Address) => t.readSettlement<readonly [bigint, bigint]>("keyState", [t.consumer.address, key]);
const balanceOf = async (consumer: Address = t.consumer.address) =>
  (await t.readSettlement<readonly [bigint, bigint, bigint]>("accountOf", [consumer]))[0];

/** What the worker holds for the consumer: its quota status (charged in the epoch) and what it has not settled. */
async function counted(worker: InferenceTestWorker) {
  const quota = await worker.worker.app.inject({ method: "GET", url: `/v1/quota?consumer=${t.consumer.address}` });
  return {
    used: (quota.json() as { used: string }).used,
    unsettled: worker.worker.inference.store.unsettled(t.consumer.address),
  };
}

describe("registering a key (POST /v1/keys)", () => {
  it("keeps a consumer-signed grant, idempotently, and lists it with its state", async () => {
    const worker = await t.startWorker();
    const key = newKey();
    const request = await signGrant(key, { maxQueries: 7n });
    const first = await register(worker, request);
    expect(first.status).toBe(201);
    expect(keyStatusSchema.parse(first.body)).toMatchObject({
      consumer: t.consumer.address,
      key: key.address,
      maxQueries: "7",
      usedHere: "0",
      used: "0",
      revokedAt: null,
      remaining: "7",
      state: "active",
    });
    // Anyone may post it again: nothing changes.
    const again = await register(worker, request);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const list = await listKeys(worker);
    expect(list.worker).toBe(worker.address);
    expect(list.keys.map((k) => k.key)).toEqual([key.address]);
    // A restarted worker still knows it.
    const restarted = await worker.restart();
    expect((await listKeys(restarted)).keys.map((k) => k.key)).toEqual([key.address]);
  });

  it("refuses a forged grant (signed by someone else) with SIGNATURE_INVALID and keeps nothing", async () => {
    const worker = await t.startWorker();
    const key = newKey();
    const thief = devAccount(9);
    const forged = await register(worker, await signGrant(key, { signer: thief }));
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe("SIGNATURE_INVALID");
    // A genuine grant whose cap was raised after signing is a forgery too.
    const genuine = await signGrant(key, { maxQueries: 3n });
    const raised = await register(worker, { ...genuine, grant: { ...genuine.grant, maxQueries: "3000" } });
    expect(raised.body.code).toBe("SIGNATURE_INVALID");
    expect((await listKeys(worker)).keys).toEqual([]);
    // And the key's token is unknown.
    const client = new OpenAI({ baseURL: await t.listen(worker), apiKey: key.token, maxRetries: 0 });
    expect((await refusalOf(client.chat.completions.create(ask("hello")))).code).toBe("KEY_UNKNOWN");
  });

  it("refuses a grant for another worker, an expired one, and one of a key revoked on chain", async () => {
    const worker = await t.startWorker();
    const other = await register(worker, await signGrant(newKey(), { worker: t.workerWallets[1]!.account.address }));
    expect(other.status).toBe(403);
    expect(other.body.code).toBe("KEY_WRONG_WORKER");
    const nowSeconds = BigInt(Math.floor(t.clock.now() / 1000));
    const expired = await register(worker, await signGrant(newKey(), { expiresAt: nowSeconds - 1n }));
    expect(expired.body.code).toBe("KEY_EXPIRED");
    const revokedKey = newKey();
    await revoke(revokedKey.address);
    await worker.worker.policySync.poll();
    const revoked = await register(worker, await signGrant(revokedKey));
    expect(revoked.body.code).toBe("KEY_REVOKED");
    expect((await listKeys(worker)).keys).toEqual([]);
  });
});

async function revoke(key: Address) {
  await t.wait(
    await t.accounts.consumer.writeContract({
      address: t.deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "revokeKey",
      args: [key],
    }),
  );
}

describe("querying with an API key (Authorization: Bearer)", () => {
  it("answers the official openai client that holds only the key, whole and streamed, and counts it in the key's lane", async () => {
    const { worker, key, client } = await withKey({ maxQueries: 5n });
    const completion = await client.chat.completions.create(ask(SCAM));
    expect(completion.choices[0]!.message.content).toMatch(/^scam /);
    const stream = await client.chat.completions.create({ ...ask("hello there"), stream: true });
    let content = "";
    for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? "";
    expect(content).toMatch(/^legit /);
    const [status] = (await listKeys(worker)).keys as [KeyStatus];
    expect(status).toMatchObject({ key: key.address, usedHere: "2", used: "0", remaining: "3", state: "active" });
    expect(await counted(worker)).toEqual({ used: "2", unsettled: 2n });
  });

  it("answers POST /v1/queries with a bearer key and no signature fields; its receipt is signed only when asked", async () => {
    const { worker, key } = await withKey();
    const post = (headers: Record<string, string> = {}) =>
      worker.worker.app.inject({
        method: "POST",
        url: "/v1/queries",
        headers: { authorization: `Bearer ${key.token}`, ...headers },
        payload: { input: SCAM },
      });
    const plain = await post();
    expect(plain.statusCode).toBe(200);
    const answer = plain.json() as { answer: { label: string; score: string }; receipt: QueryReceipt };
    expect(answer).toMatchObject({
      answer: { label: "scam" },
      receipt: { consumer: t.consumer.address, key: key.address, total: "1", signature: "0x", digest: zeroHash },
    });
    // Asked for, the receipt is signed by the worker and binds the lane, the total and the answer.
    const signed = await post({ "x-query-receipt": "signed" });
    const { receipt } = signed.json() as { receipt: QueryReceipt };
    const signer = await verifyQueryReceipt({
      receipt,
      usage: {
        consumer: t.consumer.address,
        key: key.address,
        epoch: BigInt(receipt.epoch),
        total: 2n,
        inputHash: inputHashOf(SCAM),
      },
      answer: answer.answer as ModelAnswer,
      chainId: t.deployment.chainId,
      usageSettlement: t.deployment.contracts.usageSettlement,
    });
    expect(signer).toBe(worker.address);
  });

  it("lets a stolen key spend at most its cap: then KEY_CAP_REACHED, and nothing more is charged on chain", async () => {
    const { worker, key, client } = await withKey({ maxQueries: 3n });
    const before = await balanceOf();
    // The thief fires more queries than the cap allows, at once.
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => client.chat.completions.create(ask(`q ${i}`))),
    );
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(3);
    for (const refused of outcomes.filter((o) => o.status === "rejected")) {
      expect(((refused as PromiseRejectedResult).reason as APIError).code).toBe("KEY_CAP_REACHED");
    }
    const settled = await worker.worker.inference.settle();
    expect(settled.transactions).toHaveLength(1);
    // One entry settles the key's lane, whatever the number of queries.
    const transaction = await t.publicClient.getTransaction({ hash: settled.transactions[0]! });
    const call = decodeFunctionData({ abi: usageSettlementAbi, data: transaction.input });
    expect(call.functionName).toBe("settleKeys");
    expect((call.args as readonly [readonly unknown[]])[0]).toHaveLength(1);
    expect(await keyState(key.address)).toEqual([3n, 0n]);
    expect(before - (await balanceOf())).toBe(3n * t.fee);
    // Spent: refused at once, and a further settlement charges nothing.
    expect((await refusalOf(client.chat.completions.create(ask("more")))).code).toBe("KEY_CAP_REACHED");
    expect((await worker.worker.inference.settle()).transactions).toEqual([]);
    expect(before - (await balanceOf())).toBe(3n * t.fee);
    expect(((await listKeys(worker)).keys[0] as KeyStatus).state).toBe("exhausted");
  });

  it("refuses an unknown or malformed key with KEY_UNKNOWN, another service's token as unauthenticated, and counts nothing", async () => {
    const worker = await t.startWorker();
    const baseURL = await t.listen(worker);
    for (const [apiKey, code] of [
      [newKey().token, "KEY_UNKNOWN"],
      ["dao_sk_nothex", "KEY_UNKNOWN"],
      [`dao_sk_${"0".repeat(64)}`, "KEY_UNKNOWN"],
      ["sk-proj-openai-style-key", "AUTHENTICATION_REQUIRED"],
    ] as const) {
      const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
      const refusal = await refusalOf(client.chat.completions.create(ask("hello")));
      expect(refusal.status).toBe(401);
      expect(refusal.code).toBe(code);
    }
    expect(await counted(worker)).toEqual({ used: "0", unsettled: 0n });
  });

  it("refuses an expired key with KEY_EXPIRED and counts nothing", async () => {
    const nowSeconds = BigInt(Math.floor(t.clock.now() / 1000));
    const { worker, key, client } = await withKey({ expiresAt: nowSeconds + 30n });
    await client.chat.completions.create(ask("hello"));
    await t.advanceTime(60);
    const refusal = await refusalOf(client.chat.completions.create(ask("hello again")));
    expect(refusal.code).toBe("KEY_EXPIRED");
    expect((await counted(worker)).unsettled).toBe(1n);
    // The key's lane settles at the next flush, its epoch still under way: the contract takes a
    // key's usage for one epoch after its expiry only.
    await worker.worker.inference.settle({});
    expect((await keyState(key.address))[0]).toBe(1n);
  });

  it("refuses a key revoked on chain with KEY_REVOKED from the first poll that sees it, and counts nothing", async () => {
    const { worker, key, client } = await withKey();
    await client.chat.completions.create(ask("hello"));
    await revoke(key.address);
    await worker.worker.policySync.poll();
    const refusal = await refusalOf(client.chat.completions.create(ask("hello again")));
    expect(refusal.code).toBe("KEY_REVOKED");
    expect((await counted(worker)).unsettled).toBe(1n);
    const [status] = (await listKeys(worker)).keys as [KeyStatus];
    expect(status.state).toBe("revoked");
    expect(status.revokedAt).toEqual(expect.any(Number));
    // What was served before the revocation still settles (within the contract's grace).
    await worker.worker.inference.settle();
    expect((await keyState(key.address))[0]).toBe(1n);
  });

  it("refuses a key whose grant caps the fee below the policy's with FEE_ABOVE_MAXIMUM", async () => {
    const { worker, client } = await withKey({ maxFeePerQuery: t.fee - 1n });
    const refusal = await refusalOf(client.chat.completions.create(ask("hello")));
    expect(refusal.code).toBe("FEE_ABOVE_MAXIMUM");
    expect(await counted(worker)).toEqual({ used: "0", unsettled: 0n });
  });

  it("refuses a key whose grant names another worker with KEY_WRONG_WORKER, and counts nothing", async () => {
    // The grant names the worker it was registered at; the same data directory is then served by
    // another worker account (an operator's key rotation), which may not charge that key.
    const first = await t.startWorker();
    const key = newKey();
    expect((await register(first, await signGrant(key, { worker: first.address }))).status).toBe(201);
    await first.close();
    const second = await t.startWorker({ account: 1, dataDir: first.dataDir });
    const client = new OpenAI({ baseURL: await t.listen(second), apiKey: key.token, maxRetries: 0 });
    const refusal = await refusalOf(client.chat.completions.create(ask("hello")));
    expect(refusal.status).toBe(403);
    expect(refusal.code).toBe("KEY_WRONG_WORKER");
    expect(await counted(second)).toEqual({ used: "0", unsettled: 0n });
  });
});

describe("session keys (each request signed by the key)", () => {
  it("serves vouchers the key signs, refuses one signed by another key, and settles the latest in one entry", async () => {
    const worker = await t.startWorker();
    const session = newKey();
    const grant = await signGrant(session, { maxQueries: 4n });
    expect((await register(worker, grant)).status).toBe(201);
    const client = new OpenAI({ baseURL: await t.listen(worker), apiKey: "unused", maxRetries: 0 });
    const epoch = await t.currentEpoch();
    const deadline = BigInt(Math.floor(t.clock.now() / 1000)) + 600n;
    const signed = (
      body: object,
      total: bigint,
      signer: Pick<LocalAccount, "signTypedData"> = privateKeyToAccount(session.privateKey),
    ) =>
      signChatRequest({
        body,
        signer,
        consumer: t.consumer.address,
        key: session.address,
        worker: worker.address,
        epoch,
        total,
        maxFeePerQuery: t.fee,
        deadline,
        chainId: t.deployment.chainId,
        usageSettlement: t.deployment.contracts.usageSettlement,
      });
    for (const total of [1n, 2n]) {
      const body = ask(`question ${total}`);
      const completion = await client.chat.completions.create(body, { headers: await signed(body, total) });
      expect(completion.choices[0]!.message.content).toBeTruthy();
    }
    // A voucher for this lane signed by anyone but the session key is refused, and counts nothing.
    const forgedBody = ask("forged");
    const forged = await refusalOf(
      client.chat.completions.create(forgedBody, { headers: await signed(forgedBody, 3n, t.consumer) }),
    );
    expect(forged.code).toBe("SIGNATURE_INVALID");
    // The same total again is a replay.
    const replayBody = ask("question 2");
    const replay = await refusalOf(
      client.chat.completions.create(replayBody, { headers: await signed(replayBody, 2n) }),
    );
    expect(replay.code).toBe("TOTAL_REPLAYED");

    await t.advanceTime(Number(await t.readRegistry<bigint>("epochLength")));
    const settled = await worker.worker.inference.settle();
    expect(settled.transactions).toHaveLength(1);
    const transaction = await t.publicClient.getTransaction({ hash: settled.transactions[0]! });
    const call = decodeFunctionData({ abi: usageSettlementAbi, data: transaction.input });
    expect(call.functionName).toBe("settleKeys");
    const [entries] = call.args as readonly [readonly { total: bigint; keySignature: Hex }[]];
    expect(entries).toHaveLength(1);
    expect(entries[0]!.total).toBe(2n);
    expect(entries[0]!.keySignature).not.toBe("0x");
    expect(await keyState(session.address)).toEqual([2n, 0n]);
  });
});

describe("a Safe as consumer (ERC-1271)", () => {
  it("registers a grant the Safe's owners signed, and refuses one they did not", async () => {
    const worker = await t.startWorker();
    const owner = devAccount(17);
    const contracts = await deploySafeContracts({ publicClient: t.publicClient, walletClient: t.accounts.deployer });
    const safe = await createSafe({
      provider: t.connection.provider as never,
      publicClient: t.publicClient,
      walletClient: t.accounts.deployer,
      owners: [owner.address],
      threshold: 1,
      saltNonce: 14n,
      contracts,
    });
    // The worker asks the Safe at the head block it has seen: one after the Safe's creation.
    await worker.worker.policySync.poll();
    const key = newKey();
    const nowSeconds = BigInt(Math.floor(t.clock.now() / 1000));
    const grant: KeyGrantMessage = {
      consumer: safe.address,
      key: key.address,
      worker: zeroAddress,
      maxQueries: 5n,
      maxFeePerQuery: t.fee,
      expiresAt: nowSeconds + 3600n,
    };
    const digest = hashTypedData(
      keyGrantTypedData({
        chainId: t.deployment.chainId,
        usageSettlement: t.deployment.contracts.usageSettlement,
        message: grant,
      }),
    );
    // The Safe's CompatibilityFallbackHandler accepts a digest its owners signed as a SafeMessage.
    const safeSignature = (signer: Pick<LocalAccount, "signTypedData">) =>
      signer.signTypedData({
        domain: { chainId: t.deployment.chainId, verifyingContract: safe.address },
        types: { SafeMessage: [{ name: "message", type: "bytes" }] },
        primaryType: "SafeMessage",
        message: { message: digest },
      });
    const stranger = await register(worker, {
      grant: keyGrantToWire(grant),
      signature: await safeSignature(devAccount(18)),
    });
    expect(stranger.body.code).toBe("SIGNATURE_INVALID");
    const registered = await register(worker, { grant: keyGrantToWire(grant), signature: await safeSignature(owner) });
    expect(registered.status).toBe(201);
    expect((await listKeys(worker, safe.address)).keys.map((k) => k.key)).toEqual([key.address]);
  });
});
