// Browser test of access without a vote (issue 14): the DAO votes an access tier through the
// proposal builder's typed action, then a fresh account joins it by paying on the Consume page and
// the worker serves it a query, with no quota ever voted for it. The built app in Chromium against
// Anvil, the deployed contracts and the pipeline worker (startStack).
import { parseEther } from "viem";
import { describe, expect, test } from "vitest";
import { governanceTokenAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { actAs, navigate, poll, screenshot } from "./helpers/browser.ts";
import { devAccount, ROLES } from "./helpers/startStack.ts";
import { useStackAndBrowser } from "./helpers/useStackAndBrowser.ts";

const e2e = useStackAndBrowser();

// Development accounts no role uses: nobody ever voted them a quota.
const NEWCOMER = 17;
const LATECOMER = 18;

describe("access tiers", () => {
  test("the DAO votes a tier with the typed builder; a fresh account joins it by paying and is served at once, with no vote", async () => {
    const { stack } = e2e;
    const registry = { address: stack.deployment.contracts.policyRegistry, abi: policyRegistryAbi } as const;
    // Set-up that is not what the test is about: the proposer's votes (governance-ui.test.ts drives the Delegate page).
    const proposer = ROLES.holders[0];
    await stack.send(proposer, {
      address: stack.deployment.contracts.token,
      abi: governanceTokenAbi,
      functionName: "delegate",
      args: [devAccount(proposer).address],
    });
    await stack.mine(1);

    const { page } = await e2e.browser.open(stack.uiUrl);
    await actAs(page, proposer);
    await navigate(page, "New proposal");
    await page.getByLabel("Title").fill("Open a starter tier");
    await page.getByLabel("Description (Markdown)").fill("Anyone may try the AI for 0.001 ETH an epoch.");
    await page.getByLabel("Add an action").selectOption({ label: "Set an access tier" });
    await page.getByRole("button", { name: "Add action" }).click();
    await page.getByLabel("Tier", { exact: true }).fill("0");
    await page.getByLabel("Queries per epoch").fill("20");
    await page.getByLabel("Price per epoch (ETH)").fill("0.001");
    await page.getByLabel("New members").selectOption("true");
    await page.getByLabel("Members at most").fill("1");
    const preview = page.getByTestId("action-list");
    await poll(() => preview.textContent()).toContain(
      "Add access tier 0: 20 queries per epoch for 0.001 ETH an epoch, open, at most 1 member, joined by paying with no vote",
    );
    await poll(() => preview.textContent()).toMatch(/Access tier 0none20 queries per epoch/);
    await page.getByRole("button", { name: "Simulate" }).click();
    await poll(() => page.getByTestId("simulation").textContent()).toContain("All 1 action(s) succeed as the timelock");
    await page.getByRole("button", { name: "Submit proposal" }).click();
    await page.waitForURL(/\/proposals\/\d+$/);

    await stack.mine(stack.deployment.settings.votingDelay + 1);
    await poll(() => page.getByTestId("proposal-state").textContent()).toBe("active");
    await page.getByRole("button", { name: "Cast vote" }).click();
    await page.getByTestId("already-voted").waitFor();
    await stack.mine(stack.deployment.settings.votingPeriod + 1);
    await poll(() => page.getByTestId("proposal-state").textContent()).toBe("succeeded");
    await page.getByRole("button", { name: "Queue" }).click();
    await poll(() => page.getByTestId("proposal-state").textContent()).toBe("queued");
    await stack.warp(Number(stack.deployment.settings.timelockMinDelay) + 1);
    const execute = page.getByRole("button", { name: "Execute" });
    await poll(() => execute.isEnabled()).toBe(true);
    await execute.click();
    await poll(() => page.getByTestId("proposal-state").textContent()).toBe("executed");

    // The policy page lists the tier, and its history says which proposal set it.
    await navigate(page, "Policy");
    await poll(() => page.getByTestId("tiers").textContent()).toContain("0.001 ETH");
    await poll(() => page.getByTestId("policy-history").locator("li").first().textContent()).toContain(
      "Set access tier 0",
    );

    // A newcomer with no quota joins from the Consume page, paying the price into the treasury.
    const newcomer = devAccount(NEWCOMER).address;
    const treasuryBefore = await stack.publicClient.getBalance({ address: stack.deployment.contracts.timelock });
    await actAs(page, NEWCOMER);
    await navigate(page, "Consume");
    await page.getByTestId("no-quota").waitFor();
    const card = page.getByTestId("tier-membership");
    await poll(() => card.getByTestId("membership").textContent()).toBe("You are not a member of any tier.");
    await card.getByLabel("Epochs (1 to 12)").fill("13");
    await poll(() => card.getByTestId("join-tier-terms").textContent()).toContain("Join for 1 to 12 epochs");
    await card.getByLabel("Epochs (1 to 12)").fill("2");
    const epoch = await stack.publicClient.readContract({ ...registry, functionName: "currentEpoch" });
    await poll(() => card.getByTestId("join-tier-terms").textContent()).toContain(`Epochs ${epoch} to ${epoch + 1n}`);
    await card.getByRole("button", { name: "Join for 0.002 ETH" }).click();
    await card.getByText("Join tier 0 for 2 epochs: confirmed").waitFor();
    await poll(() => card.getByTestId("membership").textContent()).toContain(
      `Member of tier 0 (20 queries per epoch) from epoch ${epoch} to epoch ${epoch + 1n}`,
    );
    expect(await stack.publicClient.getBalance({ address: stack.deployment.contracts.timelock })).toBe(
      treasuryBefore + parseEther("0.002"),
    );
    expect(await stack.publicClient.readContract({ ...registry, functionName: "quotaOf", args: [newcomer] })).toBe(0n);
    expect(
      await stack.publicClient.readContract({ ...registry, functionName: "quotaAt", args: [newcomer, epoch] }),
    ).toBe(20n);

    // The worker follows the join within a poll: the quota is there and a signed question is answered.
    await poll(() => page.getByTestId("quota-meter").textContent()).toContain("0 of 20 used");
    const access = (await (await fetch(`${stack.workerUrl}/v1/policy?consumer=${newcomer}`)).json()) as {
      consumer: { quota: string; source: string };
    };
    expect(access.consumer).toMatchObject({ quota: "20", source: "tier" });
    await page.getByLabel("Sign each question with my wallet").check();
    await page.getByLabel("Your query").fill("URGENT: verify your wallet seed phrase to claim your prize");
    await page.getByRole("button", { name: "Sign and ask" }).click();
    await poll(() => page.getByTestId("answer-label").count()).toBe(1);
    await poll(() => page.getByTestId("queries-used").textContent()).toBe("1");
    await screenshot(page, "consume-tier");

    // The tier takes one member: a latecomer is told so before anything is signed, and nothing changes.
    await actAs(page, LATECOMER);
    await poll(() => card.getByTestId("join-tier-terms").textContent()).toContain(
      "Tier 0 is full this epoch (1 member).",
    );
    expect(await card.getByRole("button", { name: /^Join for/ }).isDisabled()).toBe(true);
    const [, , untilEpoch] = await stack.publicClient.readContract({
      ...registry,
      functionName: "membershipOf",
      args: [devAccount(LATECOMER).address],
    });
    expect(untilEpoch).toBe(0n);
  }, 180_000);
});
