import { contribute } from "./contributions.ts";
import { type Demo, chapter } from "./story.ts";

export async function attestAndSubmit(d: Demo) {
  chapter(
    "An attester vouches for data and a contributor submits it",
    "The contributor has 200 labelled messages (scam or legit). A trusted attester attests their hash, size, licence and provenance on EAS; the contributor signs and submits them to the worker.",
  );
  await contribute(d, Number(BigInt(`0x${d.run}`) % 1_000_000n), "demo: first batch of labelled messages");
}
