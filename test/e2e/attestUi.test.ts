// Browser tests of the attester's tools: an attester issues an attestation of a contributor's data
// on the Attest page, with a browser wallet or a development account; the contributor attaches it
// on the Contribute page, and the worker accepts and records the submission. A revoked
// attestation is flagged before it is sent. The same with `npm run attest` (scripts/attest.ts) run
// as a user runs it. The built app in Chromium against Anvil, the real EAS and the pipeline worker
// (startStack); the tests share one stack and run in order.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Page } from "playwright-core";
import { describe, expect, test } from "vitest";
import { easAbi } from "../../deployments/abis.ts";
import { actAs, injectedWalletScript, navigate, poll, screenshot } from "./helpers/browser.ts";
import { devAccount, ROLES } from "./helpers/startStack.ts";
import { repoRoot } from "../../scripts/lib/deploy/contractArtifacts.ts";
import { devPrivateKey } from "../../scripts/lib/stack/devAccounts.ts";
import { useStackAndBrowser } from "./helpers/useStackAndBrowser.ts";

const e2e = useStackAndBrowser();

const attester = devAccount(ROLES.attester).address;
const contributor = devAccount(ROLES.contributor).address;

/** The contributor types data on the Contribute page; returns the link it gives attesters. */
async function contributorWrites(page: Page, text: string): Promise<string> {
  await actAs(page, ROLES.contributor);
  await navigate(page, "Contribute");
  await page.getByLabel("Data (text)").fill(text);
  await page.getByTestId("data-digest").waitFor();
  const link = page.getByTestId("attest-link");
  await poll(() => link.getAttribute("href")).toMatch(/dataHash=0x[0-9a-f]{64}/);
  return new URL((await link.getAttribute("href"))!, e2e.stack.uiUrl).toString();
}

/** An attester's page, with the attester's key in a browser wallet (EIP-1193) or as a development account. */
async function attesterOpens(url: string, wallet: "injected" | "dev"): Promise<Page> {
  const testWallet = { name: "Attester Wallet", rdns: "org.example.attester", account: attester };
  const { page } = await e2e.browser.open(
    url,
    wallet === "injected" ? { initScript: injectedWalletScript([testWallet]) } : {},
  );
  if (wallet === "injected") {
    const connect = page.getByRole("button", { name: "Connect wallet" });
    await connect.or(page.getByTestId("wallet-connected")).first().waitFor();
    if (await connect.isVisible()) {
      await connect.click();
      await page.getByRole("list", { name: "Browser wallets" }).getByRole("button", { name: testWallet.name }).click();
    }
    await poll(() => page.getByTestId("wallet-address").getAttribute("title")).toBe(attester);
  } else {
    await actAs(page, ROLES.attester);
  }
  await poll(() => page.getByTestId("attester-status").textContent()).toContain("is a trusted attester");
  await poll(() => page.getByTestId("policy-schema-definition").textContent()).toBe(
    e2e.stack.deployment.dataSchema.definition,
  );
  return page;
}

async function submitAndWaitRecorded(page: Page) {
  await page.getByRole("button", { name: "Sign and submit" }).click();
  await page.getByTestId("submission-result").waitFor();
  await poll(() => page.getByTestId("contribution-state").first().textContent()).toBe("recorded");
}

/** A contributor writes `text` in a page of its own; the attester opens the link it gives them. */
async function attesterOpensContribution(text: string, wallet: "injected" | "dev") {
  const { page: contributorPage } = await e2e.browser.open(e2e.stack.uiUrl);
  const link = await contributorWrites(contributorPage, text);
  return { contributorPage, attesterPage: await attesterOpens(link, wallet) };
}

describe("attesting from the UI", () => {
  test("an off-chain attestation signed with a browser wallet, attached by the contributor, is accepted and recorded", async () => {
    // The link fills the Attest page with the contributor's address and the data's hash and size.
    const { contributorPage, attesterPage } = await attesterOpensContribution(
      '{"text": "the library opens at nine on saturdays", "label": "legit"}\n{"text": "send a gift card to unlock your account", "label": "scam"}\n',
      "injected",
    );
    expect(await attesterPage.getByLabel("Contributor", { exact: true }).inputValue()).toBe(contributor);
    expect(await attesterPage.getByLabel("Data SHA-256").inputValue()).toMatch(/^0x[0-9a-f]{64}$/);
    await attesterPage.getByLabel(/^provenance/).fill("read by the attester");
    await attesterPage.getByRole("button", { name: "Sign off-chain attestation" }).click();
    const json = await attesterPage.getByTestId("offchain-json").inputValue();
    const uid = (await attesterPage.getByTestId("attestation-uid").textContent())!;
    expect(JSON.parse(json)).toMatchObject({ attester, attestation: { uid, primaryType: "Attest" } });
    await expect(attesterPage.getByRole("link", { name: "Download JSON" }).getAttribute("download")).resolves.toMatch(
      /^attestation-[0-9a-f]{8}\.json$/,
    );
    await poll(() => attesterPage.getByTestId("issued-attestations").textContent()).toContain("off chain");
    await screenshot(attesterPage, "attest");

    // The contributor attaches the JSON; it is checked before anything is sent.
    await contributorPage.getByLabel("Off-chain attestations (JSON)").fill(json);
    await contributorPage.getByRole("button", { name: "Attach", exact: true }).click();
    await poll(() => contributorPage.getByTestId("attached-attestations").textContent()).toContain("✓ valid");
    await submitAndWaitRecorded(contributorPage);
    await screenshot(contributorPage, "contribute-offchain-attestation");
  }, 120_000);

  test("an on-chain attestation made on the Attest page is accepted; a revoked one is flagged before sending", async () => {
    const { contributorPage, attesterPage } = await attesterOpensContribution(
      '{"text": "your dentist appointment is confirmed for tuesday", "label": "legit"}\n{"text": "you won a prize, pay the fee to claim it", "label": "scam"}\n',
      "dev",
    );
    await attesterPage.getByRole("radio", { name: /On chain/ }).check();
    await attesterPage.getByRole("button", { name: "Attest on chain" }).click();
    const uid = (await attesterPage.getByTestId("attestation-uid").textContent())! as `0x${string}`;
    const onChain = await e2e.stack.publicClient.readContract({
      address: e2e.stack.deployment.contracts.eas,
      abi: easAbi,
      functionName: "getAttestation",
      args: [uid],
    });
    expect(onChain.attester).toBe(attester);
    expect(onChain.recipient).toBe(contributor);

    await contributorPage.getByLabel("On-chain attestation UIDs").fill(uid);
    await submitAndWaitRecorded(contributorPage);

    // An off-chain attestation of other data, revoked by its attester on the Attest page.
    const link2 = await contributorWrites(
      contributorPage,
      '{"text": "the train leaves from platform two", "label": "legit"}\n{"text": "your bank account is locked, reply with your pin", "label": "scam"}\n',
    );
    await attesterPage.goto(link2);
    await attesterPage.getByRole("button", { name: "Sign off-chain attestation" }).click();
    const json = await attesterPage.getByTestId("offchain-json").inputValue();
    const revokedUid = (await attesterPage.getByTestId("attestation-uid").textContent())!;
    const row = attesterPage.locator(`tr[data-uid="${revokedUid}"]`);
    await row.getByRole("button", { name: "Revoke" }).click();
    await poll(() => row.getByTestId("attestation-state").textContent()).toContain("revoked");
    await contributorPage.getByLabel("Off-chain attestations (JSON)").fill(json);
    await contributorPage.getByRole("button", { name: "Attach", exact: true }).click();
    await poll(() => contributorPage.getByTestId("attached-attestations").textContent()).toContain(
      "Its attester revoked it",
    );
    await expect(contributorPage.getByRole("button", { name: "Sign and submit" }).isDisabled()).resolves.toBe(true);
  }, 120_000);

  test("npm run attest: an off-chain attestation file attached in the UI is accepted; on-chain and off-chain ones are revoked", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "attest-cli-"));
    try {
      const manifest = path.join(dir, "manifest.json");
      await writeFile(manifest, JSON.stringify(e2e.stack.deployment));
      const attest = (...args: string[]) =>
        promisify(execFile)(
          process.execPath,
          ["scripts/attest.ts", ...args, "--rpc-url", e2e.stack.rpcUrl, "--manifest", manifest],
          { cwd: repoRoot, env: { ...process.env, ATTESTER_PRIVATE_KEY: devPrivateKey(ROLES.attester) } },
        );

      const requirement = await attest("requirement");
      expect(requirement.stdout).toContain(
        `Schema ${e2e.stack.deployment.dataSchema.uid}: ${e2e.stack.deployment.dataSchema.definition}`,
      );
      expect(requirement.stdout).toContain(`${attester}  (you)`);

      const text =
        '{"text": "the pharmacy closes at six today", "label": "legit"}\n{"text": "claim your tax refund with your card number", "label": "scam"}\n';
      const dataFile = path.join(dir, "data.txt");
      await writeFile(dataFile, text);
      const { page } = await e2e.browser.open(e2e.stack.uiUrl);
      await contributorWrites(page, text);
      const [hashText, sizeText] = [
        await page.getByTestId("data-digest").getAttribute("data-hash"),
        await page.getByTestId("data-digest").getAttribute("data-size"),
      ];
      const file = path.join(dir, "attestation.json");
      const signed = await attest(
        "offchain",
        "--recipient",
        contributor,
        "--data-hash",
        hashText!,
        "--size",
        sizeText!,
        "--field",
        "license=CC-BY-4.0",
        "--field",
        "provenance=checked with the CLI",
        "--out",
        file,
      );
      expect(signed.stderr).toMatch(/Signed off-chain attestation 0x[0-9a-f]{64}/);
      const { attestation } = JSON.parse(await readFile(file, "utf8")) as { attestation: { uid: string } };

      await page.getByLabel("or attach files:").setInputFiles(file);
      await poll(() => page.getByTestId("attached-attestations").textContent()).toContain("✓ valid");
      await submitAndWaitRecorded(page);

      // Revoking: the file names the off-chain attestation; EAS records it under its UID.
      const revoked = await attest("revoke", file);
      expect(revoked.stderr).toContain(`Revoked off-chain attestation ${attestation.uid}`);
      expect(
        await e2e.stack.publicClient.readContract({
          address: e2e.stack.deployment.contracts.eas,
          abi: easAbi,
          functionName: "getRevokeOffchain",
          args: [attester, attestation.uid as `0x${string}`],
        }),
      ).not.toBe(0n);

      // On chain: the UID is printed on standard output, and revoked by it.
      const onchain = await attest(
        "onchain",
        "--recipient",
        contributor,
        "--file",
        dataFile,
        "--field",
        "license=CC-BY-4.0",
        "--field",
        "provenance=checked with the CLI",
      );
      // The file is hashed as the browser hashed the same text.
      expect(onchain.stderr).toContain(`Attesting SHA-256 ${hashText}, ${sizeText} bytes, to ${contributor}`);
      const uid = onchain.stdout.trim() as `0x${string}`;
      expect(uid).toMatch(/^0x[0-9a-f]{64}$/);
      await attest("revoke", uid);
      const a = await e2e.stack.publicClient.readContract({
        address: e2e.stack.deployment.contracts.eas,
        abi: easAbi,
        functionName: "getAttestation",
        args: [uid],
      });
      expect(a.revocationTime).not.toBe(0n);

      // A missing schema field is refused with a line that says which, and nothing is sent.
      const refused = await attest(
        "onchain",
        "--recipient",
        contributor,
        "--data-hash",
        hashText!,
        "--size",
        sizeText!,
      ).then(
        () => null,
        (error: { code: number; stderr: string }) => error,
      );
      expect(refused?.code).toBe(1);
      expect(refused?.stderr).toContain('The schema\'s field "license" (string) is missing.');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
