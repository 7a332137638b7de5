import { contribute } from "./contributions.ts";
import { type Demo, chapter, expect, registry, vote, waitForWorkerPolicy } from "./story.ts";

export async function liftKillSwitch(d: Demo) {
  chapter(
    "The DAO votes to lift the kill switch",
    "The data was checked and found clean. The holders vote to let the system run again; once the timelock executes, the worker takes data again.",
  );
  // The vote names the engagement it lifts, so it cannot lift a later one if it executes late.
  const { engagementId } = await d.registry.read.killSwitch();
  await vote(d, [registry(d, "liftKillSwitch", [engagementId])], "Lift the kill switch: the suspected data was clean", [
    { holder: 0, support: 1, reason: "The audit found nothing wrong." },
    { holder: 1, support: 1, reason: "Agreed; the guardian did right to stop it." },
    { holder: 2, support: 2, reason: "I have not read the audit." },
  ]);
  expect(!(await d.registry.read.killSwitchEngaged()), "the registry says the kill switch is off");
  await waitForWorkerPolicy(d);
  await contribute(d, Number(BigInt(`0x${d.run}`) % 1_000_000n) + 1, "demo: second batch, after the audit");
}
