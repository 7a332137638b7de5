// Browser test of withdrawing data: a contributor whose browser wallet (EIP-1193, announced by
// EIP-6963) submitted data withdraws it from the Contribute page's Withdraw control. The chain
// records the withdrawal, the worker unpins the data and the page shows it withdrawn. The built
// app in Chromium against Anvil, the real EAS and the pipeline worker (startStack).
import { describe, expect, test } from "vitest";
import { contributorRewardsAbi } from "../../deployments/abis.ts";
import { injectedWalletScript, navigate, poll, screenshot } from "./helpers/browser.ts";
import { devAccount, ROLES } from "./helpers/startStack.ts";
import { useStackAndBrowser } from "./helpers/useStackAndBrowser.ts";

const e2e = useStackAndBrowser();
const contributor = devAccount(ROLES.contributor).address;

describe("withdrawing a submission from the UI", () => {
  test("the Withdraw control withdraws through the browser wallet, and the page shows it withdrawn", async () => {
    const wallet = { name: "Contributor Wallet", rdns: "org.example.contributor", account: contributor };
    const { page } = await e2e.browser.open(e2e.stack.uiUrl, { initScript: injectedWalletScript([wallet]) });
    const connect = page.getByRole("button", { name: "Connect wallet" });
    await connect.or(page.getByTestId("wallet-connected")).first().waitFor();
    if (await connect.isVisible()) {
      await connect.click();
      await page.getByRole("list", { name: "Browser wallets" }).getByRole("button", { name: wallet.name }).click();
    }
    await poll(() => page.getByTestId("wallet-address").getAttribute("title")).toBe(contributor);

    await navigate(page, "Contribute");
    await page
      .getByLabel("Data (text)")
      .fill(
        '{"text": "the bakery on the corner sells rye on thursdays", "label": "legit"}\n{"text": "claim your prize: send 0.1 ETH to receive 1 ETH", "label": "scam"}\n',
      );
    await page.getByTestId("data-digest").waitFor();
    await page.getByRole("button", { name: /Attest as #5/ }).click();
    await poll(() => page.getByLabel("On-chain attestation UIDs").inputValue()).toMatch(/^0x[0-9a-f]{64}$/);
    await page.getByRole("button", { name: "Sign and submit" }).click();
    await page.getByTestId("submission-result").waitFor();
    await poll(() => page.getByTestId("contribution-state").first().textContent()).toBe("recorded");
    const dataHash = (await page.getByTestId("contributions").locator("tbody tr code").first().getAttribute("title"))!;

    // The control asks first, saying what withdrawing does; then the wallet sends the transaction.
    await page.getByTestId("withdraw-submission").first().click();
    await poll(() => page.getByTestId("withdraw-confirm").textContent()).toContain("keep what they learned");
    await page.getByRole("button", { name: "Withdraw for good" }).click();
    await page.getByText("Withdraw the submission: confirmed").waitFor();

    const onChain = await e2e.stack.publicClient.readContract({
      address: e2e.stack.deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "contributionOf",
      args: [dataHash as `0x${string}`],
    });
    expect(onChain.withdrawnAt).toBeGreaterThan(0n);
    // The wallet, not a development account, sent it.
    const requests = await page.evaluate(
      (rdns) =>
        (window as unknown as { __testWallets: Record<string, { requests: string[] }> }).__testWallets[rdns]!.requests,
      wallet.rdns,
    );
    expect(requests).toContain("eth_sendTransaction");
    // The worker sees the withdrawal at its next poll, unpins the data and says so.
    await poll(() => page.getByTestId("contribution-state").first().textContent()).toBe("withdrawn");
    await poll(() => page.getByTestId("withdrawn-at").first().textContent()).toMatch(/^withdrawn /);
    expect(await page.getByTestId("withdraw-submission").count()).toBe(0);
    await screenshot(page, "contribute-withdrawn");
  }, 180_000);
});
