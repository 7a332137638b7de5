// Browser test of withdrawing data: a contributor whose browser wallet (EIP-1193, announced by
// EIP-6963) submitted data withdraws it from the Contribute page's Withdraw control. The chain
// records the withdrawal, the worker unpins the data and the page shows it withdrawn. The same
// with `npm run contribute -- withdraw` run as a user runs it. The built app in Chromium against
// Anvil, the real EAS and the pipeline worker (startStack).
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Page } from "playwright-core";
import type { Hex } from "viem";
import { describe, expect, test } from "vitest";
import { contributorRewardsAbi } from "../../deployments/abis.ts";
import { repoRoot } from "../../scripts/lib/deploy/contractArtifacts.ts";
import { devPrivateKey } from "../../scripts/lib/stack/devAccounts.ts";
import { actAs, injectedWalletScript, navigate, poll, screenshot } from "./helpers/browser.ts";
import { devAccount, ROLES } from "./helpers/startStack.ts";
import { useStackAndBrowser } from "./helpers/useStackAndBrowser.ts";

const e2e = useStackAndBrowser();
const contributor = devAccount(ROLES.contributor).address;

/** Submits `text` on the Contribute page, attested by the development attester; its data hash once recorded. */
async function submitRecorded(page: Page, text: string): Promise<Hex> {
  await navigate(page, "Contribute");
  await page.getByLabel("Data (text)").fill(text);
  await page.getByTestId("data-digest").waitFor();
  await page.getByRole("button", { name: /Attest as #5/ }).click();
  await poll(() => page.getByLabel("On-chain attestation UIDs").inputValue()).toMatch(/^0x[0-9a-f]{64}$/);
  await page.getByRole("button", { name: "Sign and submit" }).click();
  await page.getByTestId("submission-result").waitFor();
  await poll(() => page.getByTestId("contribution-state").first().textContent()).toBe("recorded");
  return (await page.getByTestId("contributions").locator("tbody tr code").first().getAttribute("title")) as Hex;
}

function withdrawnAt(dataHash: Hex) {
  return e2e.stack.publicClient
    .readContract({
      address: e2e.stack.deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "contributionOf",
      args: [dataHash],
    })
    .then((c) => c.withdrawnAt);
}

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

    const dataHash = await submitRecorded(
      page,
      '{"text": "the bakery on the corner sells rye on thursdays", "label": "legit"}\n{"text": "claim your prize: send 0.1 ETH to receive 1 ETH", "label": "scam"}\n',
    );

    // The control asks first, saying what withdrawing does; then the wallet sends the transaction.
    await page.getByTestId("withdraw-submission").first().click();
    await poll(() => page.getByTestId("withdraw-confirm").textContent()).toContain("keep what they learned");
    await page.getByRole("button", { name: "Withdraw for good" }).click();
    await page.getByText("Withdraw the submission: confirmed").waitFor();

    expect(await withdrawnAt(dataHash)).toBeGreaterThan(0n);
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

  test("npm run contribute -- withdraw: refused for someone else's data, then withdrawn by its contributor, once", async () => {
    const { page } = await e2e.browser.open(e2e.stack.uiUrl);
    await actAs(page, ROLES.contributor);
    const dataHash = await submitRecorded(
      page,
      '{"text": "the swimming pool reopens after the holidays", "label": "legit"}\n{"text": "your account is locked, log in here to keep it", "label": "scam"}\n',
    );
    const dir = await mkdtemp(path.join(tmpdir(), "withdraw-cli-"));
    try {
      const manifest = path.join(dir, "manifest.json");
      await writeFile(manifest, JSON.stringify(e2e.stack.deployment));
      const contribute = (key: Hex, ...args: string[]) =>
        promisify(execFile)(
          process.execPath,
          [
            "scripts/contribute.ts",
            ...args,
            "--rpc-url",
            e2e.stack.rpcUrl,
            "--manifest",
            manifest,
            "--worker-url",
            e2e.stack.workerUrl,
          ],
          { cwd: repoRoot, env: { ...process.env, CONTRIBUTOR_PRIVATE_KEY: key } },
        );

      // The attack: another account withdraws the contributor's data. Refused before any transaction.
      const stranger = await contribute(devPrivateKey(ROLES.outsider), "withdraw", "--data", dataHash).catch(
        (e: unknown) => e as { code: number; stderr: string },
      );
      expect(stranger).toMatchObject({ code: 1 });
      expect((stranger as { stderr: string }).stderr).toContain(`is ${contributor}'s`);
      expect(await withdrawnAt(dataHash)).toBe(0n);

      const done = await contribute(devPrivateKey(ROLES.contributor), "withdraw", "--data", dataHash);
      expect(done.stderr).toContain("Withdrawn. No training run from now on includes it");
      expect(done.stderr).toContain("keep what they learned");
      expect(await withdrawnAt(dataHash)).toBeGreaterThan(0n);
      await poll(() => page.getByTestId("contribution-state").first().textContent()).toBe("withdrawn");

      const again = await contribute(devPrivateKey(ROLES.contributor), "withdraw", "--data", dataHash).catch(
        (e: unknown) => e as { code: number; stderr: string },
      );
      expect(again).toMatchObject({ code: 1 });
      expect((again as { stderr: string }).stderr).toContain("was already withdrawn");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
