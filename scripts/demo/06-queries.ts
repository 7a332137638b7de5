import { parseEther, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { usageSettlementAbi } from "../../deployments/abis.ts";
import {
  BEARER_TOKEN_PATTERN,
  privateKeyOfBearerToken,
  type QueryResponse,
  type QuotaStatus,
} from "@dao-ai/pipeline-worker/consumer-api";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { generateScamMessages } from "@dao-ai/pipeline-worker/generateScamMessages";
import { DEV_ROLES } from "../lib/stack/devAccounts.ts";
import { consumeCommand } from "./commands.ts";
import { bearerQuery, signedQuery } from "./consumerRequests.ts";
import { type Demo, chapter, expect, problem, wait } from "./story.ts";

export async function queries(d: Demo, lab: Hex) {
  chapter(
    "A consumer queries the model, with its wallet and then with an API key, until its quota is spent",
    "The research lab deposits 0.01 ETH for its fees and asks whether messages are scams. Its first question is signed with its wallet: a Usage voucher letting this worker charge it for up to 1 query of the epoch, at most 0.001 ETH each. Then, with one more signature, it makes an API key capped at 10 queries and asks with `Authorization: Bearer`, no wallet involved. The worker answers each with a label and a coarse score, counts it against the lab's 3 queries per epoch, and refuses the fourth. The lab then revokes the key. The worker settles one entry per lane (the wallet's, the key's), whatever the number of queries, and the fees accrue to the contributions the model was trained on.",
  );
  const consumer = d.clients.walletOf(privateKeyToAccount(lab));
  const address = consumer.account.address;
  await wait(
    d.clients,
    await d.clients.wallet(DEV_ROLES.deployer).sendTransaction({ to: address, value: parseEther("0.1") }),
  );
  await consumeCommand(d, ["deposit", "0.01"], lab);
  const [balance] = await d.clients.publicClient.readContract({
    address: d.deployment.contracts.usageSettlement,
    abi: usageSettlementAbi,
    functionName: "accountOf",
    args: [address],
  });
  expect(balance === parseEther("0.01"), `the lab ${address} deposited 0.01 ETH in UsageSettlement`);
  const quota = await d.worker.get<QuotaStatus>(`/v1/quota?consumer=${address}`);
  expect(
    quota.status === 200 && quota.body.remaining === "3" && quota.body.nextTotal === "1",
    `the worker will serve it 3 queries in epoch ${quota.body.epoch}; its wallet signs total 1 first`,
    problem(quota),
  );
  const epoch = BigInt(quota.body.epoch);

  const [first, second, third] = generateScamMessages({ seed: 99, count: 3 }).map((r) => r.text);
  const said = (text: string) => `"${text.length > 60 ? `${text.slice(0, 57)}...` : text}"`;
  const signed = await signedQuery(d, consumer, first!);
  const answer = await d.worker.post<QueryResponse>("/v1/queries", signed);
  expect(
    answer.status === 200 && answer.body.usage.remaining === "2",
    `signed with its wallet: ${said(first!)} is ${answer.body.answer?.label} (${answer.body.answer?.score}); ${answer.body.usage?.remaining} left`,
    problem(answer),
  );
  const replay = await d.worker.post("/v1/queries", signed);
  expect(
    replay.status === 409 && replay.body.code === "TOTAL_REPLAYED",
    `the same signed query again: ${problem(replay)}`,
  );

  const created = await consumeCommand(d, ["keys", "create", "--max-queries", "10"], lab);
  const token = created
    .split("\n")
    .find((l) => BEARER_TOKEN_PATTERN.test(l.trim()))
    ?.trim();
  if (!token) throw new BaseError("`npm run consume -- keys create` printed no token.");
  const key = privateKeyToAccount(privateKeyOfBearerToken(token)).address;
  expect(true, `the lab signed one grant for key ${key}: 10 queries at most, 0.001 ETH each at most`);
  for (const [i, text] of [second!, third!].entries()) {
    const asked = await bearerQuery(d, token, text);
    expect(
      asked.status === 200 && asked.body.usage.remaining === String(1 - i),
      `with the key (Authorization: Bearer): ${said(text)} is ${asked.body.answer?.label} (${asked.body.answer?.score}); ${asked.body.usage?.remaining} left`,
      problem(asked),
    );
  }
  const fourth = await bearerQuery(d, token, "One more, please?");
  expect(fourth.status === 429 && fourth.body.code === "QUOTA_EXHAUSTED", `a fourth query: ${problem(fourth)}`);

  // Revoking the key stops it at once, and makes the worker settle the lab's lanes now rather than
  // when the epoch ends.
  await consumeCommand(d, ["keys", "revoke", key], lab);
  const refusedDeadline = Date.now() + 30_000;
  let revoked = await bearerQuery(d, token, "Still there?");
  while (revoked.body.code !== "KEY_REVOKED" && Date.now() < refusedDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    revoked = await bearerQuery(d, token, "Still there?");
  }
  expect(
    revoked.status === 401 && revoked.body.code === "KEY_REVOKED",
    `the lab revokes the key on chain; the worker refuses it at once: ${problem(revoked)}`,
  );

  const deadline = Date.now() + 90_000;
  let settled = 0n;
  while (settled < 3n && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    settled = await d.clients.publicClient.readContract({
      address: d.deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "usedInEpoch",
      args: [address, epoch],
    });
  }
  expect(
    settled === 3n,
    `the worker settled the 3 queries on chain in two entries (the wallet's lane up to 1, the key's up to 2): lanes settle once their epoch ends, or at once when their consumer revokes a key, cancels vouchers or asks to withdraw; the 0.003 ETH of fees accrue to epoch ${epoch}`,
  );
  const usage = await consumeCommand(d, ["usage"], lab);
  expect(
    (usage.match(/ settled\s*$/gm) ?? []).length === 2,
    "the lab's usage history shows both lanes served, charged, settled and paid (also as CSV: usage --csv)",
  );
}
