// Browser tests of the governance UI: the built app in Chromium (playwright-core), against
// Anvil, the deployed contracts, a guardian Safe and the pipeline worker, all started here. The
// chain's blocks and clock are advanced over its RPC between steps, as time would pass. The tests
// share one stack and run in order; each sets up the policy it needs.
import { describe, expect, test } from "vitest";
import {
  actAs,
  countRpc,
  injectedWalletScript,
  navigate,
  poll,
  screenshot,
  testWalletIcon,
  type TestWallet,
} from "./helpers/browser.ts";
import { devAccount, ROLES } from "./helpers/startStack.ts";
import { useStackAndBrowser } from "./helpers/useStackAndBrowser.ts";
import {
  contributorRewardsAbi,
  governanceTokenAbi,
  policyGovernorAbi,
  policyRegistryAbi,
} from "../../deployments/abis.ts";
import { encodeFunctionData, parseEther } from "viem";

const e2e = useStackAndBrowser();

describe("governance from the UI", () => {
  test("delegate, propose a quota change with the typed builder, vote, queue, execute, see the policy change", async () => {
    const { page } = await e2e.browser.open(e2e.stack.uiUrl);
    const consumer = devAccount(ROLES.consumer).address;
    await actAs(page, ROLES.holders[0]);

    // Delegate to oneself: tokens vote only once delegated.
    await navigate(page, "Delegate");
    await poll(() => page.getByTestId("current-delegate").textContent()).toContain("not delegated");
    await page.getByRole("button", { name: "Delegate to myself" }).click();
    await page.getByText("Delegate to yourself: confirmed").waitFor();
    await poll(() => page.getByTestId("current-delegate").textContent()).toContain("You delegate to yourself");
    await poll(() => page.getByTestId("votes").textContent()).toBe("400,000");
    // A delegation counts for proposals from the next block on.
    await e2e.stack.mine(1);
    await screenshot(page, "delegate");

    // Build the proposal with the typed builder.
    await navigate(page, "New proposal");
    await page.getByLabel("Title").fill("Give the research lab 5 queries per epoch");
    await page
      .getByLabel("Description (Markdown)")
      .fill(
        "The lab asked for **a few queries** to evaluate the model.\n\n- 5 queries per epoch\n- paid at the usual fee",
      );
    await page.getByLabel("Add an action").selectOption({ label: "Set a consumer's quota" });
    await page.getByRole("button", { name: "Add action" }).click();
    await page.getByLabel("Consumer").fill(consumer);
    await page.getByLabel("Queries per epoch").fill("5");

    const preview = page.getByTestId("action-list");
    await poll(() => preview.textContent()).toContain("make 5 queries per epoch");
    await poll(() => preview.textContent()).toMatch(/Quota of 0x\w{4}…\w{4}none5 queries per epoch/);

    await page.getByRole("button", { name: "Simulate" }).click();
    await poll(() => page.getByTestId("simulation").textContent()).toContain("All 1 action(s) succeed as the timelock");
    await poll(() => page.getByTestId("simulation").textContent()).toContain("Set the quota of");
    await screenshot(page, "new-proposal");

    await page.getByRole("button", { name: "Submit proposal" }).click();
    await page.waitForURL(/\/proposals\/\d+$/);
    await poll(() => page.getByTestId("proposal-state").textContent()).toBe("pending");
    await poll(() => page.getByTestId("proposal-timing").textContent()).toMatch(/Voting opens in \d+ blocks?/);

    // Let the voting delay pass, then vote with a reason.
    await e2e.stack.mine(e2e.stack.deployment.settings.votingDelay + 1);
    await poll(() => page.getByTestId("proposal-state").textContent()).toBe("active");
    await page.getByLabel("Reason (optional, public)").fill("The lab's evaluation helps everyone.");
    await page.getByRole("button", { name: "Cast vote" }).click();
    await page.getByTestId("already-voted").waitFor();
    await poll(() => page.getByTestId("vote-list").textContent()).toContain("The lab's evaluation helps everyone.");
    await poll(() => page.getByTestId("quorum").textContent()).toContain("reached");
    await screenshot(page, "proposal-active");

    // The list shows it with its votes against quorum and the blocks left.
    await page.getByRole("link", { name: "All proposals" }).click();
    await poll(() => page.getByTestId("proposal-list").textContent()).toMatch(/blocks? left to vote/);
    await screenshot(page, "proposals");
    await page.getByRole("link", { name: "Give the research lab 5 queries per epoch" }).click();

    // Close the vote, queue, wait out the timelock, execute.
    await e2e.stack.mine(e2e.stack.deployment.settings.votingPeriod + 1);
    await poll(() => page.getByTestId("proposal-state").textContent()).toBe("succeeded");
    await page.getByRole("button", { name: "Queue" }).click();
    await poll(() => page.getByTestId("proposal-state").textContent()).toBe("queued");
    await poll(() => page.getByTestId("proposal-timing").textContent()).toMatch(/Executable in/);
    await e2e.stack.warp(Number(e2e.stack.deployment.settings.timelockMinDelay) + 1);
    const execute = page.getByRole("button", { name: "Execute" });
    await poll(() => execute.isEnabled()).toBe(true);
    await execute.click();
    await poll(() => page.getByTestId("proposal-state").textContent()).toBe("executed");
    await screenshot(page, "proposal-executed");
    const phone = await e2e.browser.open(page.url(), { phone: true });
    await poll(() => phone.page.getByTestId("vote-list").textContent()).toContain("The lab's evaluation");
    await screenshot(phone.page, "phone-proposal");

    // The chain has the new quota, and the policy page shows it with the proposal that made it.
    const quota = await e2e.stack.publicClient.readContract({
      address: e2e.stack.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "quotaOf",
      args: [consumer],
    });
    expect(quota).toBe(5n);
    await navigate(page, "Policy");
    await poll(() => page.getByTestId("quotas").textContent()).toMatch(/0x\w{4}…\w{4}5$/);
    const history = page.getByTestId("policy-history");
    await poll(() => history.locator("li").first().textContent()).toContain("Set the quota of");
    await poll(() => history.locator("li").first().textContent()).toContain("proposal");
    await screenshot(page, "policy");
  }, 180_000);

  test("a contribution through the worker, recorded on chain, and its reward claimed after the epoch", async () => {
    const { page } = await e2e.browser.open(e2e.stack.uiUrl);
    await actAs(page, ROLES.contributor);
    await navigate(page, "Contribute");
    await page
      .getByLabel("Data (text)")
      .fill(
        '{"text": "your parcel is ready for pickup at the post office", "label": "legit"}\n{"text": "URGENT verify your wallet seed phrase now", "label": "scam"}\n',
      );
    await page.getByTestId("data-digest").waitFor();
    await page.getByRole("button", { name: /Attest as #5/ }).click();
    await poll(() => page.getByLabel("On-chain attestation UIDs").inputValue()).toMatch(/^0x[0-9a-f]{64}$/);
    await page.getByRole("button", { name: "Sign and submit" }).click();
    await page.getByTestId("submission-result").waitFor();
    await poll(() => page.getByTestId("contribution-state").first().textContent()).toBe("recorded");
    // Ingest's validation: two records, both new to the pool, so a weight of two.
    expect(await page.getByTestId("contribution-records").first().textContent()).toBe("2");
    expect(await page.getByTestId("contribution-duplicates").first().textContent()).toBe("0");
    expect(await page.getByTestId("contribution-weight").first().textContent()).toBe("2");
    await poll(() => page.getByTestId("reward-status").first().textContent()).toMatch(/running: claimable in/);

    // Someone funds the epoch's pool; once the epoch is over the contributor claims all of it.
    const epoch = await e2e.stack.publicClient.readContract({
      address: e2e.stack.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "currentEpoch",
    });
    await e2e.stack.send(ROLES.outsider, {
      address: e2e.stack.deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "fund",
      args: [epoch],
      value: parseEther("1"),
    });
    await e2e.stack.warp(Number(e2e.stack.deployment.settings.epochLength));
    const claim = page.getByRole("button", { name: "Claim 1 ETH" });
    await claim.waitFor();
    await claim.click();
    await page.getByText(`Claim epoch ${epoch}: confirmed`).waitFor();
    await poll(() => page.getByTestId("reward-status").first().textContent()).toBe("claimed");
    const [, claimed] = await e2e.stack.publicClient.readContract({
      address: e2e.stack.deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "shareOf",
      args: [epoch, devAccount(ROLES.contributor).address],
    });
    expect(claimed).toBe(parseEther("1"));
    await screenshot(page, "contribute");
  }, 120_000);

  test("queries until the quota is spent", async () => {
    const consumer = devAccount(ROLES.consumer).address;
    await e2e.stack.asTimelock("setQuota", [consumer, 3n]);
    await e2e.stack.asTimelock("setQueryFee", [parseEther("0.001")]);
    const { page } = await e2e.browser.open(e2e.stack.uiUrl);
    await actAs(page, ROLES.consumer);
    await navigate(page, "Consume");
    await poll(() => page.getByTestId("quota-meter").textContent()).toContain("0 of 3 used");

    await page.getByLabel("Amount (ETH)").fill("0.01");
    await page.getByRole("button", { name: "Deposit", exact: true }).click();
    await page.getByText("Deposit: confirmed").waitFor();
    await poll(() => page.getByTestId("deposit").textContent()).toBe("0.01 ETH");

    // Each question signed by the wallet (the session-key mode is test/e2e/consume.test.ts's).
    await page.getByLabel("Sign each question with my wallet").check();
    const messages = [
      "URGENT: verify your wallet seed phrase to claim your prize",
      "Your parcel is ready for pickup at the post office",
      "Congratulations, you won a gift card, send your password to claim it",
    ];
    for (const [i, message] of messages.entries()) {
      await page.getByLabel("Your query").fill(message);
      await page.getByRole("button", { name: "Sign and ask" }).click();
      await poll(() => page.getByTestId("answer-label").count()).toBe(i + 1);
      await poll(() => page.getByTestId("queries-used").textContent()).toBe(String(i + 1));
    }
    await poll(() => page.getByTestId("answer-label").first().textContent()).toMatch(/scam|legit/);
    await page.getByLabel("Your query").fill("One more, please");
    await page.getByRole("button", { name: "Sign and ask" }).click();
    const refusal = page.getByRole("alert").filter({ hasText: "The query was refused" });
    await poll(() => refusal.textContent()).toContain("QUOTA_EXHAUSTED");
    await screenshot(page, "consume");
  }, 120_000);

  test("reverts show the decoded error's name and meaning, before anything is signed", async () => {
    const { page } = await e2e.browser.open(e2e.stack.uiUrl);
    await actAs(page, ROLES.outsider);
    await navigate(page, "New proposal");
    await page.getByLabel("Title").fill("Revoke a run that does not exist");
    await page.getByLabel("Add an action").selectOption({ label: "Revoke a training run" });
    await page.getByRole("button", { name: "Add action" }).click();
    await page.getByLabel("Run id").fill("no-such-run");
    await page.getByRole("button", { name: "Simulate" }).click();
    const simulation = page.getByTestId("simulation");
    await poll(() => simulation.textContent()).toContain("1 of 1 action(s) would fail at execution");
    await poll(() => simulation.textContent()).toContain("PolicyUnknownTrainingRun");
    await poll(() => simulation.textContent()).toContain("No training run with this id exists.");
    await poll(() => simulation.textContent()).toContain("GovernorInsufficientProposerVotes");

    await page.getByRole("button", { name: "Submit proposal" }).click();
    const failure = page.locator(".tx-status[data-status=failed]");
    await poll(() => failure.textContent()).toContain("Submit proposal failed: GovernorInsufficientProposerVotes");
    await poll(() => failure.textContent()).toContain("You need 1 votes to propose; you had 0");
    await screenshot(page, "decoded-revert");
  }, 60_000);

  test("the guardian Safe engages the kill switch, shown everywhere it matters", async () => {
    const reason = "Answers leak training data: stopping until fixed";
    const { page } = await e2e.browser.open(e2e.stack.uiUrl);
    const [first, second] = ROLES.guardianOwners;
    await actAs(page, first);
    await navigate(page, "Guardian");
    await poll(() => page.getByTestId("safe-threshold").textContent()).toBe("2 of 3 owners must sign");
    await page.getByLabel("Reason (shown to every user)").fill(reason);
    await page.getByRole("button", { name: "Propose to the Safe's owners" }).click();
    await page.getByRole("button", { name: "Sign as owner" }).click();
    await poll(() => page.getByTestId("safe-signatures").textContent()).toMatch(/^1 of 2 signatures/);
    await screenshot(page, "guardian");

    // The second owner signs in the same browser (the pending transaction waits there) and executes.
    await actAs(page, second);
    await page.getByRole("button", { name: "Sign as owner" }).click();
    await poll(() => page.getByTestId("safe-signatures").textContent()).toMatch(/^2 of 2 signatures/);
    await page.getByRole("button", { name: "Execute the Safe transaction" }).click();
    await poll(() => page.getByTestId("guardian-kill-state").textContent()).toContain(reason);

    const killSwitch = await e2e.stack.publicClient.readContract({
      address: e2e.stack.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "killSwitch",
    });
    expect(killSwitch.engaged).toBe(true);
    expect(killSwitch.engagedBy).toBe(e2e.stack.guardian);

    // Every page carries the banner; the pages that act on the AI say it is stopped and disable it.
    for (const [link, marker] of [
      ["Policy", "policy-kill-switch"],
      ["Proposals", "proposal-list"],
      ["Contribute", "contribute-kill-switch"],
      ["Consume", "consume-kill-switch"],
    ] as const) {
      await navigate(page, link);
      await page.getByTestId(marker).waitFor();
      await poll(() => page.getByTestId("kill-switch-banner").textContent()).toContain(reason);
    }
    await poll(() => page.getByTestId("consume-kill-switch").isVisible()).toBe(true);
    await page.getByLabel("Sign each question with my wallet").check();
    expect(await page.getByRole("button", { name: "Sign and ask" }).isDisabled()).toBe(true);
    await navigate(page, "Contribute");
    expect(await page.getByRole("button", { name: "Sign and submit" }).isDisabled()).toBe(true);
    await navigate(page, "Policy");
    await poll(() => page.getByTestId("policy-kill-switch").textContent()).toContain("Engaged");
    await screenshot(page, "kill-switch");

    // The worker acts on it too.
    const snapshot = (await (await fetch(`${e2e.stack.workerUrl}/v1/policy`)).json()) as {
      policy: { killSwitch: { engaged: boolean; engagementId: string; reason: string } };
    };
    expect(snapshot.policy.killSwitch).toMatchObject({ engaged: true, engagementId: "1", reason });

    // Lifting takes a proposal naming the engagement: the banner leads to a builder with the action
    // filled in, the engagement in force included.
    await page.getByTestId("kill-switch-banner").getByRole("link", { name: "Propose lifting it" }).click();
    await poll(() => page.getByTestId("action-list").textContent()).toContain("Lift the kill switch");
    await poll(() => page.getByTestId("action-list").textContent()).toMatch(
      /Kill switch\s*engaged \(engagement 1\)\s*off/,
    );

    const phone = await e2e.browser.open(e2e.stack.uiUrl, { phone: true });
    await phone.page.getByTestId("kill-switch-banner").waitFor();
    await poll(() => phone.page.getByTestId("policy-version").textContent()).toMatch(/\d+/);
    await screenshot(phone.page, "phone-policy");
    await phone.page.goto(`${e2e.stack.uiUrl}/proposals/new?preset=liftKillSwitch`);
    await phone.page.getByTestId("kill-switch-banner").waitFor();
    await poll(() => phone.page.getByTestId("action-list").textContent()).toMatch(
      /Kill switch\s*engaged \(engagement 1\)\s*off/,
    );
    await screenshot(phone.page, "phone-new-proposal");
  }, 120_000);

  test("the guardian Safe cancels a proposal, but not the one replacing it", async () => {
    const title = "Remove the research lab";
    const consumer = devAccount(ROLES.consumer).address;
    const calldata = encodeFunctionData({ abi: policyRegistryAbi, functionName: "setQuota", args: [consumer, 0n] });
    await e2e.stack.send(ROLES.holders[0], {
      address: e2e.stack.deployment.contracts.governor,
      abi: policyGovernorAbi,
      functionName: "propose",
      args: [[e2e.stack.deployment.contracts.policyRegistry], [0n], [calldata], `# ${title}`],
    });
    // The Governor refuses the guardian a cancel of its own replacement, so the page offers none.
    const replacement = "Replace the guardian";
    const replace = encodeFunctionData({ abi: policyRegistryAbi, functionName: "setGuardian", args: [consumer] });
    await e2e.stack.send(ROLES.holders[0], {
      address: e2e.stack.deployment.contracts.governor,
      abi: policyGovernorAbi,
      functionName: "propose",
      args: [[e2e.stack.deployment.contracts.policyRegistry], [0n], [replace], `# ${replacement}`],
    });
    const { page } = await e2e.browser.open(e2e.stack.uiUrl);
    const [first, , third] = ROLES.guardianOwners;
    await actAs(page, first);
    await navigate(page, "Guardian");
    await page.getByLabel("What").selectOption("cancel");
    await poll(() => page.getByLabel("Proposal to cancel").textContent()).toContain(title);
    expect(await page.getByLabel("Proposal to cancel").textContent()).not.toContain(replacement);
    await page.getByLabel("Proposal to cancel").selectOption({ label: `${title} (pending)` });
    await page.getByRole("button", { name: "Propose to the Safe's owners" }).click();
    await page.getByRole("button", { name: "Sign as owner" }).click();
    // As with a browser wallet, a signature asked of one account is refused once another is acting.
    await poll(() => page.getByTestId("safe-signatures").textContent()).toMatch(/^1 of 2 signatures/);
    await actAs(page, third);
    await page.getByRole("button", { name: "Sign as owner" }).click();
    await poll(() => page.getByTestId("safe-signatures").textContent()).toMatch(/^2 of 2 signatures/);
    await page.getByRole("button", { name: "Execute the Safe transaction" }).click();
    await page.getByText("Execute the Safe transaction: confirmed").waitFor();

    await navigate(page, "Proposals");
    await page.getByRole("link", { name: title }).click();
    await poll(() => page.getByTestId("proposal-state").textContent()).toBe("canceled");
  }, 60_000);

  test("browser wallets announced through EIP-6963 are listed by name and icon; the chosen one connects, is moved to the app's chain, and delegates", async () => {
    const alpha: TestWallet = {
      name: "Alpha Wallet",
      rdns: "org.example.alpha",
      account: devAccount(ROLES.holders[2]).address,
      colour: "#d9480f",
    };
    // On mainnet at first, with no idea of the local chain: the app has to add it.
    const beta: TestWallet = {
      name: "Beta Wallet",
      rdns: "org.example.beta",
      account: devAccount(ROLES.holders[1]).address,
      chainId: 1,
      colour: "#1c7ed6",
    };
    const { page } = await e2e.browser.open(e2e.stack.uiUrl, { initScript: injectedWalletScript([alpha, beta]) });
    await page.getByRole("button", { name: "Connect wallet" }).click();
    const list = page.getByRole("list", { name: "Browser wallets" });
    await poll(() => list.getByRole("button").allTextContents()).toEqual(["Alpha Wallet", "Beta Wallet"]);
    expect(await list.locator("img").evaluateAll((imgs) => imgs.map((img) => img.getAttribute("src")))).toEqual([
      testWalletIcon(alpha),
      testWalletIcon(beta),
    ]);
    await screenshot(page, "wallet-picker");

    // Beta, although Alpha holds window.ethereum.
    await list.getByRole("button", { name: "Beta Wallet" }).click();
    await poll(() => page.getByTestId("wallet-address").getAttribute("title")).toBe(beta.account);
    await poll(() => page.getByTestId("wallet-connected").textContent()).toContain("Beta Wallet");
    await navigate(page, "Delegate");
    await page.getByRole("button", { name: "Delegate to myself" }).click();
    await page.getByText("Delegate to yourself: confirmed").waitFor();
    await poll(() => page.getByTestId("votes").textContent()).toBe("250,000");
    const requests = (rdns: string) =>
      page.evaluate(
        (id) =>
          (window as unknown as { __testWallets: Record<string, { requests: string[] }> }).__testWallets[id]!.requests,
        rdns,
      );
    expect(await requests(beta.rdns)).toEqual(
      expect.arrayContaining([
        "wallet_requestPermissions",
        "wallet_switchEthereumChain",
        "wallet_addEthereumChain",
        "eth_sendTransaction",
      ]),
    );
    expect(await requests(alpha.rdns)).not.toContain("wallet_requestPermissions");
    expect(await requests(alpha.rdns)).not.toContain("eth_sendTransaction");

    // The person moves the wallet to another chain: nothing can be signed until it comes back.
    await page.evaluate(() =>
      (window as unknown as { __testWallets: Record<string, { switchTo(id: number): void }> }).__testWallets[
        "org.example.beta"
      ]!.switchTo(1),
    );
    const wrongChain = page.getByRole("alert").filter({ hasText: "Beta Wallet is on chain 1" });
    await poll(() => wrongChain.textContent()).toContain("this app is for Local chain (31337)");
    expect(await page.getByTestId("wallet-address").count()).toBe(0);
    await page.getByRole("button", { name: "Switch to Local chain" }).click();
    await poll(() => page.getByTestId("wallet-address").getAttribute("title")).toBe(beta.account);

    // The choice survives a reload, without asking again.
    await page.reload();
    await poll(() => page.getByTestId("wallet-address").getAttribute("title")).toBe(beta.account);
    await poll(() => page.getByTestId("wallet-connected").textContent()).toContain("Beta Wallet");
    await page.getByRole("button", { name: "Disconnect" }).click();
    await page.getByRole("button", { name: "Connect wallet" }).waitFor();
    expect(await page.getByTestId("wallet-address").count()).toBe(0);
  }, 60_000);

  test("an older wallet that only sets window.ethereum is offered as the browser wallet", async () => {
    const legacy: TestWallet = {
      name: "Legacy",
      rdns: "org.example.legacy",
      account: devAccount(ROLES.outsider).address,
      announces: false,
    };
    const { page } = await e2e.browser.open(e2e.stack.uiUrl, { initScript: injectedWalletScript([legacy]) });
    await page.getByRole("button", { name: "Connect wallet" }).click();
    const list = page.getByRole("list", { name: "Browser wallets" });
    await poll(() => list.getByRole("button").allTextContents()).toEqual(["Browser wallet"]);
    await list.getByRole("button", { name: "Browser wallet" }).click();
    await poll(() => page.getByTestId("wallet-address").getAttribute("title")).toBe(legacy.account);
  }, 60_000);

  test("without a browser wallet, the development accounts are the wallet, and the choice survives a reload", async () => {
    const { page } = await e2e.browser.open(e2e.stack.uiUrl);
    await page.getByRole("button", { name: "Connect wallet" }).click();
    await page.getByText("No browser wallet was found").waitFor();
    await actAs(page, ROLES.holders[0]);
    await page.reload();
    await poll(() => page.getByTestId("wallet-address").getAttribute("title")).toBe(
      devAccount(ROLES.holders[0]).address,
    );
    await poll(() => page.getByLabel("Act as").inputValue()).toBe(String(ROLES.holders[0]));
    await page.getByLabel("Act as").selectOption("");
    await poll(() => page.getByTestId("wallet-address").count()).toBe(0);
  }, 60_000);

  test("each new block costs a few batched reads, however many proposals there are", async () => {
    // Proposals of their own, so that this test also runs alone.
    const holder = ROLES.holders[2];
    await e2e.stack.send(holder, {
      address: e2e.stack.deployment.contracts.token,
      abi: governanceTokenAbi,
      functionName: "delegate",
      args: [devAccount(holder).address],
    });
    await e2e.stack.mine(1);
    const titles = ["Reads A", "Reads B", "Reads C", "Reads D"];
    for (const [i, title] of titles.entries()) {
      const calldata = encodeFunctionData({
        abi: policyRegistryAbi,
        functionName: "setQuota",
        args: [devAccount(ROLES.consumer).address, BigInt(10 + i)],
      });
      await e2e.stack.send(holder, {
        address: e2e.stack.deployment.contracts.governor,
        abi: policyGovernorAbi,
        functionName: "propose",
        args: [[e2e.stack.deployment.contracts.policyRegistry], [0n], [calldata], `# ${title}`],
      });
    }
    const { page } = await e2e.browser.open(`${e2e.stack.uiUrl}/proposals`);
    const rpc = countRpc(page);
    for (const title of titles) await page.getByRole("link", { name: title }).waitFor();
    const proposals = await page.getByTestId("proposal-list").locator("li").count();

    // What the page reads after each of three blocks, once the first load is over.
    const perBlock: { ethCalls: number; httpRequests: number }[] = [];
    await new Promise((r) => setTimeout(r, 3_000));
    const shownBlock = async () =>
      Number(
        await page
          .getByTestId("block-number")
          .textContent()
          .then((t) => t!.replace(/\D/g, "")),
      );
    for (let i = 0; i < 3; i++) {
      const before = await shownBlock();
      rpc.reset();
      await e2e.stack.mine(1);
      await poll(shownBlock).toBeGreaterThan(before);
      await new Promise((r) => setTimeout(r, 3_000));
      // Other activity on the stack may mine a block too: the reads are shared among the blocks seen.
      const blocks = Math.max(1, (await shownBlock()) - before);
      perBlock.push({ ethCalls: (rpc.calls().eth_call ?? 0) / blocks, httpRequests: rpc.httpRequests() / blocks });
    }
    console.info(
      `Reads per new block with ${proposals} proposals on the page: ${perBlock
        .map((b) => `${b.ethCalls} eth_call in ${b.httpRequests} HTTP requests`)
        .join("; ")}.`,
    );
    // Reads made together go out as a few aggregate3 calls (one per round of dependent reads),
    // where each proposal used to cost nine eth_calls of its own. The median of the three blocks:
    // on a loaded machine one block's window can also catch a late round of its neighbour's reads
    // (a CI run saw 4, 4 and 8), while a page that stopped batching costs more after every block.
    const median = perBlock.map((block) => block.ethCalls).sort((a, b) => a - b)[1]!;
    expect(median).toBeLessThanOrEqual(6);
  }, 90_000);
});
