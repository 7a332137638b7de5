import { isAddressEqual, keccak256, toHex } from "viem";
import { contributorRewardsAbi, policyRegistryAbi } from "../../deployments/abis.ts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { devAddress } from "../lib/stack/devAccounts.ts";
import { guardianCommand } from "./commands.ts";
import { signedQuery } from "./consumerRequests.ts";
import { refusalOf, trainingData } from "./contributions.ts";
import { type Demo, chapter, expect, problem, revertOf, roles } from "./story.ts";

export async function killSwitch(d: Demo) {
  chapter(
    "The guardian Safe pulls the kill switch, and everything stops",
    "Poisoned data is suspected. One owner of the guardian Safe (2 of 3) proposes engaging the kill switch, a second signs, and anyone executes. The worker stops at once; the chain refuses new contributions too.",
  );
  const reason = `Suspected poisoned data in demo run ${d.run}; stop until it is checked.`;
  const proposed = await guardianCommand(d, ["propose", "--reason", reason, "--owner", "1"]);
  // The file the proposal was saved to, as the command says: named explicitly from here on, so
  // that a transaction left pending by an earlier, interrupted run is not picked up instead.
  const file = /Saved to (\S+)/.exec(proposed)?.[1];
  if (!file) throw new BaseError("The guardian's propose command did not say where it saved the transaction.");
  await guardianCommand(d, ["sign", file, "--owner", "2"]);
  await guardianCommand(d, ["execute", file]);
  const state = await d.registry.read.killSwitch();
  expect(
    state.engaged && isAddressEqual(state.engagedBy, d.info.safe.address),
    `the registry says the kill switch is engaged by the Safe ${d.info.safe.address}`,
  );

  // The worker acts on an engaged kill switch as soon as it sees it, without waiting for confirmations.
  const deadline = Date.now() + 30_000;
  let refused: Awaited<ReturnType<typeof refusalOf>>;
  for (;;) {
    refused = await refusalOf(d, d.clients.wallet(roles.contributor), trainingData(9, 10), [keccak256(toHex("any"))]);
    if (refused?.body.code === "KILL_SWITCH_ENGAGED" || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  expect(
    refused?.status === 503 && refused.body.code === "KILL_SWITCH_ENGAGED",
    `the worker refuses submissions: ${problem(refused)}`,
  );
  const query = await d.worker.post(
    "/v1/queries",
    await signedQuery(d, d.clients.wallet(roles.consumer), "Is this a scam?"),
  );
  expect(
    query.status === 503 && query.body.code === "KILL_SWITCH_ENGAGED",
    `the worker refuses queries: ${problem(query)}`,
  );
  const onChain = await revertOf(
    d,
    {
      address: d.deployment.contracts.contributorRewards,
      abi: contributorRewardsAbi,
      functionName: "recordContribution",
      args: [devAddress(roles.contributor), keccak256(toHex(`late ${d.run}`)), 10n, 1n, []],
    },
    devAddress(roles.worker),
  );
  expect(onChain === "RewardsKillSwitchEngaged", `even the worker's account cannot record on chain: ${onChain}`);
  const lift = await revertOf(
    d,
    {
      address: d.deployment.contracts.policyRegistry,
      abi: policyRegistryAbi,
      functionName: "liftKillSwitch",
      args: [(await d.registry.read.killSwitch()).engagementId],
    },
    d.info.safe.address,
  );
  expect(lift === "PolicyUnauthorized", `the guardian cannot lift it (${lift}): only a vote can`);
}
