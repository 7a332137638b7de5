// Browser tests of the Safe in the governance UI (protocol-kit in the page): a guardian
// transaction proposed with the CLI's code path is imported as a file, signed by a second owner
// and executed in the UI, and exported back in the CLI's format; a Safe holding tokens delegates
// and votes through its owners, its vote counted with its voting power.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createWalletClient, encodeFunctionData, http, keccak256, parseEther, toBytes, type Address } from "viem";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { governanceTokenAbi, policyGovernorAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { createSafe } from "../../scripts/lib/deploy/deploySafe.ts";
import { devPrivateKey } from "../../scripts/lib/stack/devAccounts.ts";
import {
  engageKillSwitchCall,
  guardianConnection,
  proposeGuardianTransaction,
  readPendingTransaction,
  writePendingTransaction,
} from "../../scripts/lib/actors/guardianTransactions.ts";
import { actAs, launchBrowser, navigate, poll, screenshot, type TestBrowser } from "./helpers/browser.ts";
import { devAccount, ROLES, startStack, type Stack } from "./helpers/startStack.ts";
import { startTogether } from "./helpers/startTogether.ts";

let stack: Stack;
let browser: TestBrowser;
let files: string;

beforeAll(async () => {
  ({ stack, browser } = await startTogether({ stack: startStack, browser: () => launchBrowser() }));
  files = mkdtempSync(join(tmpdir(), "guardian-ui-files-"));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  if (files) rmSync(files, { recursive: true, force: true });
});

describe("the Safe in the browser", () => {
  test("a guardian transaction proposed in the CLI is imported in the UI, signed by a second owner, exported and executed: the kill switch engages", async () => {
    const reason = "Proposed in the CLI, signed in the browser";
    const [first, second] = ROLES.guardianOwners;
    const proposed = await proposeGuardianTransaction({
      connection: guardianConnection({
        provider: stack.rpcUrl,
        privateKey: devPrivateKey(first),
        chainId: 31337,
        contracts: stack.safeContracts,
      }),
      safe: stack.guardian,
      ...engageKillSwitchCall(stack.deployment.contracts.policyRegistry, reason),
    });
    const file = writePendingTransaction(files, proposed);

    const { page } = await browser.open(stack.uiUrl);
    await actAs(page, second);
    await navigate(page, "Guardian");
    await page.getByText("Import a pending transaction").click();
    await page.getByLabel("Import a file").setInputFiles(file);
    await poll(() => page.getByTestId("safe-pending").textContent()).toContain(`Engage the kill switch: ${reason}`);
    await poll(() => page.getByTestId("safe-signatures").textContent()).toMatch(/^1 of 2 signatures/);
    await page.getByRole("button", { name: "Sign as owner" }).click();
    await poll(() => page.getByTestId("safe-signatures").textContent()).toMatch(/^2 of 2 signatures/);
    await screenshot(page, "guardian-imported");

    // The exported file is the CLI's: it reads it, with both signatures.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export file" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`${proposed.safeTxHash}.json`);
    const exported = readPendingTransaction((await download.path())!);
    expect(exported.signatures.map((s) => s.signer)).toEqual([devAccount(first).address, devAccount(second).address]);

    await page.getByRole("button", { name: "Execute the Safe transaction" }).click();
    await page.getByText("Execute the Safe transaction: confirmed").waitFor();
    await poll(() => page.getByTestId("guardian-kill-state").textContent()).toContain(reason);
    const killSwitch = await stack.publicClient.readContract({
      address: stack.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "killSwitch",
    });
    expect(killSwitch).toMatchObject({ engaged: true, engagedBy: stack.guardian, reason });

    // A file that is not a pending transaction is refused and changes nothing (the import is still open).
    await page.getByLabel("Or paste it").fill('{"format":"something/else"}');
    await page.getByRole("button", { name: "Import", exact: true }).click();
    await poll(() => page.getByRole("alert").filter({ hasText: "Import refused" }).textContent()).toContain(
      'This is not a pending Safe transaction (format "something/else", expected dao-ai/safe-transaction/v1).',
    );
    await poll(() => page.getByTestId("safe-pending").textContent()).toContain(`Engage the kill switch: ${reason}`);
  }, 120_000);

  test("a Safe holding tokens delegates and votes through its owners; the vote counts with its voting power", async () => {
    const [ownerA, ownerB] = [17, 18];
    const deployer = createWalletClient({
      account: devAccount(ROLES.deployer),
      chain: stack.chain,
      transport: http(stack.rpcUrl),
    });
    const holder = await createSafe({
      provider: stack.rpcUrl,
      publicClient: stack.publicClient,
      walletClient: deployer,
      owners: [devAccount(ownerA).address, devAccount(ownerB).address],
      threshold: 2,
      saltNonce: 7n,
      contracts: stack.safeContracts,
    });
    const { token, governor, policyRegistry } = stack.deployment.contracts;
    await stack.send(ROLES.holders[2], {
      address: token,
      abi: governanceTokenAbi,
      functionName: "transfer",
      args: [holder.address, parseEther("50000")],
    });

    const { page } = await browser.open(stack.uiUrl);
    await actAs(page, ownerA);
    await navigate(page, "Safe");
    await page.getByLabel("Safe address").fill(holder.address);
    await poll(() => page.getByTestId("safe-role").textContent()).toBe("an owner: you sign for it");
    await poll(() => page.getByTestId("safe-balance").textContent()).toBe("50,000");
    await poll(() => page.getByTestId("safe-votes").textContent()).toBe("0");

    // Delegate to itself: one owner proposes and signs, the other signs and executes.
    await page.getByLabel("What the Safe does").selectOption("delegate");
    await page.getByRole("button", { name: "Propose to the Safe's owners" }).click();
    await page.getByRole("button", { name: "Sign as owner" }).click();
    await poll(() => page.getByTestId("safe-signatures").textContent()).toMatch(/^1 of 2 signatures/);
    await actAs(page, ownerB);
    await page.getByRole("button", { name: "Sign as owner" }).click();
    await poll(() => page.getByTestId("safe-signatures").textContent()).toMatch(/^2 of 2 signatures/);
    await page.getByRole("button", { name: "Execute the Safe transaction" }).click();
    await page.getByText("Execute the Safe transaction: confirmed").waitFor();
    await poll(() => page.getByTestId("safe-votes").textContent()).toBe("50,000");
    await page.getByRole("button", { name: "Clear" }).click();

    // A proposal made after the delegation: the Safe's votes count at its snapshot.
    await stack.send(ROLES.holders[0], {
      address: token,
      abi: governanceTokenAbi,
      functionName: "delegate",
      args: [devAccount(ROLES.holders[0]).address],
    });
    const title = "Let the Safe's vote count";
    const description = `# ${title}`;
    const calldata = encodeFunctionData({
      abi: policyRegistryAbi,
      functionName: "setQuota",
      args: [devAccount(ROLES.consumer).address, 3n],
    });
    const proposal = [[policyRegistry], [0n], [calldata]] as [Address[], bigint[], `0x${string}`[]];
    await stack.send(ROLES.holders[0], {
      address: governor,
      abi: policyGovernorAbi,
      functionName: "propose",
      args: [...proposal, description],
    });
    const proposalId = await stack.publicClient.readContract({
      address: governor,
      abi: policyGovernorAbi,
      functionName: "hashProposal",
      args: [...proposal, keccak256(toBytes(description))],
    });
    await stack.mine(stack.deployment.settings.votingDelay + 1);

    await page.getByLabel("What the Safe does").selectOption("vote");
    await page.getByLabel("Proposal", { exact: true }).selectOption({ label: title });
    await page.getByLabel("Vote", { exact: true }).selectOption("For");
    await page.getByLabel("Reason (optional, public)").fill("The Safe's owners agree");
    await page.getByRole("button", { name: "Propose to the Safe's owners" }).click();
    await poll(() => page.getByTestId("safe-pending").textContent()).toContain(
      `The Safe votes for “${title}”: The Safe's owners agree`,
    );
    await page.getByRole("button", { name: "Sign as owner" }).click();
    await poll(() => page.getByTestId("safe-signatures").textContent()).toMatch(/^1 of 2 signatures/);
    await actAs(page, ownerA);
    await page.getByRole("button", { name: "Sign as owner" }).click();
    await poll(() => page.getByTestId("safe-signatures").textContent()).toMatch(/^2 of 2 signatures/);
    await page.getByRole("button", { name: "Execute the Safe transaction" }).click();
    await page.getByText("Execute the Safe transaction: confirmed").waitFor();
    await screenshot(page, "safe-vote");

    const read = <T>(functionName: string, args: readonly unknown[]) =>
      stack.publicClient.readContract({
        address: governor,
        abi: policyGovernorAbi,
        functionName,
        args,
      } as never) as Promise<T>;
    expect(await read<boolean>("hasVoted", [proposalId, holder.address])).toBe(true);
    const [against, forVotes, abstain] = await read<[bigint, bigint, bigint]>("proposalVotes", [proposalId]);
    expect({ against, forVotes, abstain }).toEqual({ against: 0n, forVotes: parseEther("50000"), abstain: 0n });
  }, 120_000);
});
