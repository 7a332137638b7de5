// Browser test of rewards that follow use: a committed model's tree names two of the contributor's
// contributions; its pool receives fees; the Contribute page shows, for each contribution, the
// model that used it and what it earned, and the Claim button pays it with the proof. The built
// app in Chromium against Anvil, the real EAS and the pipeline worker (startStack).
import { createWalletClient, http, keccak256, parseEther, toHex, type Hex } from "viem";
import { describe, expect, test } from "vitest";
import { buildContributionsTree } from "@dao-ai/pipeline-worker/contributionsTree";
import { contributorRewardsAbi, modelCommitmentsAbi, runRewardsAbi } from "../../deployments/abis.ts";
import { attestData } from "../../scripts/lib/actors/attestData.ts";
import { actAs, navigate, poll, screenshot } from "./helpers/browser.ts";
import { devAccount, ROLES } from "./helpers/startStack.ts";
import { useStackAndBrowser } from "./helpers/useStackAndBrowser.ts";

const e2e = useStackAndBrowser();
const contributor = devAccount(ROLES.contributor).address;
const RUN = keccak256(toHex("ui run rewards"));

describe("the Contribute page's earnings from models", () => {
  test("shows which model used each contribution and what it earned, and the Claim button pays it with the proof", async () => {
    const { stack } = e2e;
    const wallet = (index: number) =>
      createWalletClient({ account: devAccount(index), chain: stack.chain, transport: http(stack.rpcUrl) });
    const { contributorRewards, modelCommitments, runRewards, eas } = stack.deployment.contracts;

    // Two of the contributor's contributions, attested and recorded as the worker records them.
    const contributions: { dataHash: Hex; weight: bigint }[] = [];
    for (const [label, weight] of [
      ["ui earnings a", 30n],
      ["ui earnings b", 10n],
    ] as const) {
      const dataHash = keccak256(toHex(label));
      const uid = await attestData({
        publicClient: stack.publicClient,
        attester: wallet(ROLES.attester),
        eas,
        schemaUID: stack.deployment.dataSchema.uid,
        recipient: contributor,
        dataHash,
        size: 1_000n,
      });
      await stack.send(ROLES.worker, {
        address: contributorRewards,
        abi: contributorRewardsAbi,
        functionName: "recordContribution",
        args: [contributor, dataHash, 1_000n, weight, [uid]],
      });
      contributions.push({ dataHash, weight });
    }
    // A training run's commitment of them, its tree on the worker's IPFS; the pool gets 0.01 ETH.
    const tree = buildContributionsTree(contributions.map((c) => ({ ...c, contributor })));
    const stored = await stack.worker.store.put([new TextEncoder().encode(tree.dump())]);
    const { timestamp } = await stack.publicClient.getBlock();
    await stack.asTimelock("approveTrainingRun", [
      RUN,
      keccak256(toHex("spec")),
      devAccount(ROLES.worker).address,
      timestamp + 86_400n,
    ]);
    await stack.send(ROLES.worker, {
      address: modelCommitments,
      abi: modelCommitmentsAbi,
      functionName: "commitModel",
      args: [
        RUN,
        keccak256(toHex("weights")),
        keccak256(toHex("training set")),
        "ipfs://weights",
        { root: tree.root, totalWeight: tree.totalWeight, uri: `ipfs://${stored.cid.toString()}` },
      ],
    });
    await stack.send(ROLES.outsider, {
      address: runRewards,
      abi: runRewardsAbi,
      functionName: "fundRun",
      args: [RUN],
      value: parseEther("0.01"),
    });

    const { page } = await e2e.browser.open(stack.uiUrl);
    await actAs(page, ROLES.contributor);
    await navigate(page, "Contribute");
    const rows = page.getByTestId("model-earning");
    await poll(() => rows.count()).toBe(2);
    await poll(() => rows.getByTestId("model-earning-run").first().getAttribute("title")).toBe(RUN);
    await poll(() => page.getByTestId("model-earnings").textContent()).toContain("30 of 40");
    await poll(() => rows.getByTestId("model-earning-earned").allTextContents()).toEqual([
      expect.stringContaining("0.0075"),
      expect.stringContaining("0.0025"),
    ]);
    await screenshot(page, "contribute-model-earnings");

    const first = contributions.find((c) => c.dataHash === tree.leaves[0]!.dataHash) ?? contributions[0]!;
    const before = await stack.publicClient.getBalance({ address: contributor });
    await rows
      .first()
      .getByRole("button", { name: /^Claim/ })
      .click();
    await poll(() =>
      stack.publicClient.readContract({
        address: runRewards,
        abi: runRewardsAbi,
        functionName: "claimed",
        args: [RUN, first.dataHash],
      }),
    ).toBeGreaterThan(0n);
    const claimed = await stack.publicClient.readContract({
      address: runRewards,
      abi: runRewardsAbi,
      functionName: "claimed",
      args: [RUN, first.dataHash],
    });
    expect(claimed).toBe((parseEther("0.01") * first.weight) / 40n);
    // Paid to the contributor (less the claim's gas, far below the amount).
    expect((await stack.publicClient.getBalance({ address: contributor })) - before).toBeGreaterThan(claimed / 2n);
    await poll(() => rows.first().getByTestId("model-earning-status").textContent()).toBe("nothing to claim now");
    await poll(() => rows.first().getByTestId("model-earning-claimed").textContent()).toContain(
      first.weight === 30n ? "0.0075" : "0.0025",
    );
  }, 180_000);
});
