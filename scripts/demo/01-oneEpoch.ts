import { type Demo, chapter, expect, waitForWorkerPolicy } from "./story.ts";

/** The story's votes move the chain's clock by a few minutes; an epoch with less left than this is skipped. */
const STORY_SECONDS = 15n * 60n;

export async function oneEpoch(d: Demo) {
  chapter(
    "An epoch to tell the story in",
    "Quotas and rewards count per epoch (an hour on this stack). The story takes place within one, so that its rewards are its own to check.",
  );
  const current = await d.registry.read.currentEpoch();
  const end = await d.registry.read.epochEnd([current]);
  const { timestamp } = await d.clients.publicClient.getBlock();
  if (end - timestamp < STORY_SECONDS) {
    // Too little of this epoch is left for the story's votes and timelocks: the chain's clock moves
    // to the next one.
    await d.clients.testClient.increaseTime({ seconds: Number(end - timestamp) });
    await d.clients.testClient.mine({ blocks: 1 });
    d.epoch = await d.registry.read.currentEpoch();
    expect(d.epoch === current + 1n, `epoch ${current} was nearly over: the chain's clock moves to epoch ${d.epoch}`);
  } else {
    d.epoch = current;
    expect(true, `the chain is in epoch ${d.epoch}, with ${(end - timestamp) / 60n} minutes left`);
  }
  await waitForWorkerPolicy(d);
}
