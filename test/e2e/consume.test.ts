// Browser tests of the Consume page: a consumer with a browser wallet (EIP-1193, announced through
// EIP-6963) authorises a session key with one signature and asks with no further prompt, sees its
// usage and downloads it as CSV, creates an API key that the official `openai` client then uses,
// and revokes keys on chain. The built app in Chromium against Anvil, the deployed contracts and
// the pipeline worker (startStack); the tests share one stack and run in order.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { privateKeyOfBearerToken } from "@dao-ai/pipeline-worker/consumer-api";
import OpenAI from "openai";
import type { Page } from "playwright-core";
import { formatEther, parseEther, zeroAddress } from "viem";
import { privateKeyToAddress } from "viem/accounts";
import { beforeAll, describe, expect, test } from "vitest";
import { injectedWalletScript, navigate, poll, screenshot, type TestWallet } from "./helpers/browser.ts";
import { devAccount, ROLES } from "./helpers/startStack.ts";
import { usageSettlementAbi } from "../../deployments/abis.ts";
import { useStackAndBrowser } from "./helpers/useStackAndBrowser.ts";

const e2e = useStackAndBrowser();
const run = promisify(execFile);

const consumer = devAccount(ROLES.consumer).address;
const consumerWallet: TestWallet = { name: "Consumer Wallet", rdns: "org.example.consumer", account: consumer };

/** The consumer's page, its browser wallet connected, on the Consume page. */
async function consumerOpens(): Promise<Page> {
  const { page } = await e2e.browser.open(e2e.stack.uiUrl, { initScript: injectedWalletScript([consumerWallet]) });
  const connect = page.getByRole("button", { name: "Connect wallet" });
  await connect.or(page.getByTestId("wallet-connected")).first().waitFor();
  if (await connect.isVisible()) {
    await connect.click();
    await page
      .getByRole("list", { name: "Browser wallets" })
      .getByRole("button", { name: consumerWallet.name })
      .click();
  }
  await poll(() => page.getByTestId("wallet-address").getAttribute("title")).toBe(consumer);
  await navigate(page, "Consume");
  await page.getByTestId("quota-meter").waitFor();
  return page;
}

/** The wallet prompts so far: each is a request the person would have to approve. */
async function walletPrompts(page: Page): Promise<{ signatures: number; transactions: number }> {
  const requests = await page.evaluate(
    (rdns) =>
      (window as unknown as { __testWallets: Record<string, { requests: string[] }> }).__testWallets[rdns]!.requests,
    consumerWallet.rdns,
  );
  return {
    signatures: requests.filter((method) => method.startsWith("eth_signTypedData")).length,
    transactions: requests.filter((method) => method === "eth_sendTransaction").length,
  };
}

async function ask(page: Page, question: string, button = "Ask") {
  const answers = await page.getByTestId("answer-label").count();
  await page.getByLabel("Your query").fill(question);
  await page.getByRole("button", { name: button, exact: true }).click();
  await poll(() => page.getByTestId("answer-label").count()).toBe(answers + 1);
}

/** Waits for `shown`, or fails with the error the page shows instead (a refusal says why). */
async function shownOrRefused(page: Page, shown: string) {
  const alert = page.getByRole("alert");
  await page.getByTestId(shown).or(alert).first().waitFor();
  if (await alert.first().isVisible()) throw new Error(`The page refused: ${await alert.first().textContent()}`);
}

/** Parses the CSV the page offers (RFC 4180, no quoted commas in these rows) into objects by header. */
function parseCsv(text: string): Record<string, string>[] {
  const [header, ...lines] = text.trim().split(/\r?\n/);
  const names = header!.split(",");
  return lines.map((line) => Object.fromEntries(line.split(",").map((value, i) => [names[i], value])));
}

describe("the Consume page", () => {
  // Each test starts from a consumer with a quota and a deposit (the Deposit form is driven in
  // governance-ui.test.ts), so that any one of them runs alone.
  beforeAll(async () => {
    await e2e.stack.asTimelock("setQuota", [consumer, 20n]);
    await e2e.stack.asTimelock("setQueryFee", [parseEther("0.001")]);
    await e2e.stack.send(ROLES.consumer, {
      address: e2e.stack.deployment.contracts.usageSettlement,
      abi: usageSettlementAbi,
      functionName: "deposit",
      args: [consumer],
      value: parseEther("0.05"),
    });
  });

  test("a session key authorised with one signature asks twice with no prompt, shows in the usage history and its CSV, and is refused KEY_REVOKED once revoked", async () => {
    const page = await consumerOpens();
    await poll(() => page.getByTestId("deposit").textContent()).toMatch(/ETH$/);

    // One signature: the grant of a key that the tab keeps.
    const before = await walletPrompts(page);
    await page.getByLabel("Session queries").fill("5");
    await page.getByRole("button", { name: "Authorise a session key" }).click();
    await shownOrRefused(page, "session-key");
    await poll(() => page.getByTestId("session-key").textContent()).toContain("up to 5 queries");
    const sessionKey = (await page.getByTestId("session-key").locator("code").getAttribute("title"))!;
    expect(sessionKey).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(await walletPrompts(page)).toEqual({ signatures: before.signatures + 1, transactions: before.transactions });

    // Two questions, no prompt.
    await ask(page, "URGENT: verify your wallet seed phrase to claim your prize");
    await ask(page, "Your parcel is ready for pickup at the post office");
    expect(await walletPrompts(page)).toEqual({ signatures: before.signatures + 1, transactions: before.transactions });
    await poll(() => page.getByTestId("answer-label").allTextContents()).toEqual([
      expect.stringMatching(/scam|legit/),
      expect.stringMatching(/scam|legit/),
    ]);
    await poll(() => page.getByTestId("queries-used").textContent()).toBe("2");

    // The key and its use, in the list and in the usage history.
    const keyRow = page.locator(`[data-testid=key-row][data-key="${sessionKey.toLowerCase()}"]`);
    await poll(() => keyRow.getByTestId("key-used").textContent()).toBe("2");
    await poll(() => keyRow.getByTestId("key-state").textContent()).toBe("active");
    const usageRow = page.locator(`[data-testid=usage-row][data-key="${sessionKey.toLowerCase()}"]`);
    await poll(() => usageRow.getByTestId("usage-served").textContent()).toBe("2");
    await screenshot(page, "consume-keys");

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download CSV" }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/\.csv$/);
    const rows = parseCsv(await readFile((await download.path())!, "utf8"));
    const keyLane = rows.filter((row) => row.key?.toLowerCase() === sessionKey.toLowerCase());
    expect(keyLane).toHaveLength(1);
    expect(keyLane[0]).toMatchObject({ served: "2", charged: "2" });
    expect(keyLane[0]!.consumer?.toLowerCase()).toBe(consumer.toLowerCase());

    // The tab keeps its key across a reload (sessionStorage), still with no prompt.
    await page.reload();
    await poll(() => page.getByTestId("session-key").locator("code").getAttribute("title")).toBe(sessionKey);
    expect((await walletPrompts(page)).signatures).toBe(0);

    // Revoked on chain through the wallet (a transaction, no signature), then refused.
    await keyRow.getByRole("button", { name: "Revoke" }).click();
    await page.getByText(/Revoke key .*: confirmed/).waitFor();
    await poll(() => keyRow.getByTestId("key-state").textContent()).toMatch(/^revoked/);
    await page.getByLabel("Your query").fill("Are we still on for lunch tomorrow?");
    await page.getByRole("button", { name: "Ask", exact: true }).click();
    const refusal = page.getByRole("alert").filter({ hasText: "The query was refused" });
    await poll(() => refusal.textContent()).toContain("KEY_REVOKED");
    // The tab dropped the dead key and offers a new one.
    await page.getByRole("button", { name: "Authorise a session key" }).waitFor();
    await screenshot(page, "consume-revoked");
  }, 120_000);

  test("an API key is shown once with snippets that work as copied (curl, the openai client), and is refused once revoked", async () => {
    const page = await consumerOpens();
    const before = await walletPrompts(page);
    await page.getByLabel("Cap (queries)").fill("3");
    await page.getByRole("button", { name: "Create API key" }).click();
    await shownOrRefused(page, "new-key");
    const token = (await page.getByTestId("new-key-token").textContent())!;
    expect(token).toMatch(/^dao_sk_[0-9a-f]{64}$/);
    expect(await page.getByTestId("new-key-curl").textContent()).toContain(`Authorization: Bearer ${token}`);
    expect(await page.getByTestId("new-key-openai").textContent()).toContain(`apiKey: "${token}"`);
    expect((await walletPrompts(page)).signatures).toBe(before.signatures + 1);
    await screenshot(page, "consume-new-key");

    // The curl snippet, run as copied.
    const { stdout } = await run("sh", ["-c", `${(await page.getByTestId("new-key-curl").textContent())!} -sS`]);
    expect((JSON.parse(stdout) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toMatch(
      /scam|legit/,
    );

    // The openai snippet's base URL and model, as a program would use them.
    const baseURL = /baseURL: "([^"]+)"/.exec((await page.getByTestId("new-key-openai").textContent())!)![1]!;
    const model = /model: "([^"]+)"/.exec((await page.getByTestId("new-key-openai").textContent())!)![1]!;
    const openai = new OpenAI({ baseURL, apiKey: token, maxRetries: 0 });
    const completion = await openai.chat.completions.create({
      model,
      messages: [{ role: "user", content: "Congratulations, you won a gift card, send your password to claim it" }],
    });
    expect(completion.choices[0]!.message.content).toMatch(/scam|legit/);

    // Listed with its use, and revoked from the list.
    const keyAddress = privateKeyToAddress(privateKeyOfBearerToken(token));
    const apiKeyRow = page.locator(`[data-testid=key-row][data-key="${keyAddress.toLowerCase()}"]`);
    await poll(() => apiKeyRow.getByTestId("key-used").textContent()).toBe("2");
    await apiKeyRow.getByRole("button", { name: "Revoke" }).click();
    await page.getByText(/Revoke key .*: confirmed/).waitFor();
    await poll(() => apiKeyRow.getByTestId("key-state").textContent()).toBe("revoked");
    const refused = await openai.chat.completions
      .create({ model, messages: [{ role: "user", content: "One more?" }] })
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect(JSON.stringify((refused as InstanceType<typeof OpenAI.APIError>).error)).toContain("KEY_REVOKED");
  }, 120_000);

  test("signing each question with the wallet prompts once per question", async () => {
    const page = await consumerOpens();
    await page.getByLabel("Sign each question with my wallet").check();
    const before = await walletPrompts(page);
    await ask(page, "URGENT: verify your wallet seed phrase to claim your prize", "Sign and ask");
    await ask(page, "Your parcel is ready for pickup at the post office", "Sign and ask");
    expect((await walletPrompts(page)).signatures).toBe(before.signatures + 2);
    const walletLane = page.locator(`[data-testid=usage-row][data-key="${zeroAddress}"]`);
    await poll(() => walletLane.getByTestId("usage-served").textContent()).toBe("2");
    // Served and not settled yet (a lane settles after its epoch): owed out of the deposit.
    await poll(() => page.getByTestId("owed").textContent()).toBe("0.002 ETH for 2 queries served and not settled yet");

    // The consumer voids what its wallet signed above what was charged (on chain, after a grace).
    await walletLane.getByRole("button", { name: "Void unused vouchers" }).click();
    await page.getByText(/Void vouchers above 2 in epoch \d+: confirmed/).waitFor();
    await poll(() => walletLane.getByTestId("vouchers-voided").textContent()).toMatch(/^vouchers above 2 void in /);

    // A requested withdrawal is shown as no longer spendable, with when it unlocks.
    await page.getByLabel("Withdraw (ETH; empty: all)").fill("0.004");
    await page.getByRole("button", { name: "Request withdrawal" }).click();
    await page.getByText("Request withdrawal: confirmed").waitFor();
    await poll(() => page.getByTestId("pending-withdrawal").textContent()).toMatch(
      /^0\.004 ETH, no longer spendable; unlocks at .+/,
    );
    await poll(async () => {
      const [balance] = await e2e.stack.publicClient.readContract({
        address: e2e.stack.deployment.contracts.usageSettlement,
        abi: usageSettlementAbi,
        functionName: "accountOf",
        args: [consumer],
      });
      return (await page.getByTestId("deposit").textContent()) === `${formatEther(balance - parseEther("0.004"))} ETH`;
    }).toBe(true);
    await screenshot(page, "consume-withdrawal");
  }, 120_000);
});
