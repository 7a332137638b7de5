import { describe, expect, it } from "vitest";
import type { TrackedProposal } from "../../src/notifier/decodeAlertEvents.ts";
import { findEndingProposals } from "../../src/notifier/findEndingProposals.ts";

const proposal = (proposalId: string, deadline: number, endingAlertedFor: string | null = null): TrackedProposal => ({
  proposalId,
  title: `p${proposalId}`,
  deadline: String(deadline),
  endingAlertedFor,
});

describe("findEndingProposals", () => {
  it("finds a vote once its deadline is within the window, up to and including the deadline block", () => {
    const proposals = [proposal("1", 100)];
    expect(findEndingProposals({ proposals, head: 89n, windowBlocks: 10 }).ending).toEqual([]);
    for (const head of [90n, 95n, 100n]) {
      expect(findEndingProposals({ proposals, head, windowBlocks: 10 })).toEqual({ ending: proposals, ended: [] });
    }
  });

  it("says nothing twice for one deadline, but again for an extended one", () => {
    expect(findEndingProposals({ proposals: [proposal("1", 100, "100")], head: 95n, windowBlocks: 10 }).ending).toEqual(
      [],
    );
    const extended = proposal("1", 110, "100");
    expect(findEndingProposals({ proposals: [extended], head: 101n, windowBlocks: 10 }).ending).toEqual([extended]);
  });

  it("drops a vote past its deadline without alerting it: it can no longer be cast", () => {
    expect(
      findEndingProposals({ proposals: [proposal("1", 100), proposal("2", 300)], head: 101n, windowBlocks: 10 }),
    ).toEqual({ ending: [], ended: ["1"] });
  });
});
