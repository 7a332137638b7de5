import { encodeAbiParameters, encodeEventTopics, getAddress, type Address, type Hex, type Log } from "viem";
import { describe, expect, it } from "vitest";
import { policyGovernorAbi, policyRegistryAbi } from "../../src/abis.ts";
import { alertPayloadSchema } from "../../src/notifier/alertPayload.ts";
import { alertId, decodeAlertEvents, proposalTitle } from "../../src/notifier/decodeAlertEvents.ts";
import { renderAlertText } from "../../src/notifier/renderAlertText.ts";

const governor = getAddress("0x5fbdb2315678afecb367f032d93f642f64180aa3");
const registry = getAddress("0xe7f1725e7734ce288f8367e1bb143e90bb3f0512");
const guardian = getAddress("0x15d34aaf54267db7d7c367839aaf71a00a2c6a65");
const blockHash = `0x${"11".repeat(32)}` as Hex;
const context = { chainId: 31337, governor, registry, uiUrl: "http://ui.example/", titleOf: () => null };

let logIndex = 0;
function log(address: Address, topics: readonly unknown[], data: Hex): Log<bigint, number, false> {
  return {
    address,
    topics: topics as [Hex, ...Hex[]],
    data,
    blockNumber: 42n,
    blockHash,
    transactionHash: `0x${"22".repeat(32)}`,
    transactionIndex: 0,
    logIndex: logIndex++,
    removed: false,
  };
}

const engaged = () =>
  log(
    registry,
    encodeEventTopics({
      abi: policyRegistryAbi,
      eventName: "KillSwitchEngaged",
      args: { engagementId: 3n, by: guardian },
    }),
    encodeAbiParameters([{ type: "string" }, { type: "uint256" }], ["drill", 7n]),
  );

const proposalEvent = (eventName: "ProposalQueued" | "ProposalExecuted", proposalId: bigint) =>
  log(
    governor,
    encodeEventTopics({ abi: policyGovernorAbi, eventName }),
    eventName === "ProposalQueued"
      ? encodeAbiParameters([{ type: "uint256" }, { type: "uint256" }], [proposalId, 1_800_000_000n])
      : encodeAbiParameters([{ type: "uint256" }], [proposalId]),
  );

describe("decodeAlertEvents", () => {
  it("turns the registry's and the Governor's events into alerts that match the payload schema", () => {
    const { alerts, proposals } = decodeAlertEvents(
      [engaged(), proposalEvent("ProposalQueued", 99n), proposalEvent("ProposalExecuted", 99n)],
      new Map([[blockHash, 1_700_000_000n]]),
      { ...context, titleOf: (id) => (id === "99" ? "Raise the quota" : null) },
    );
    expect(alerts.map((a) => alertPayloadSchema.parse(a).type)).toEqual([
      "kill_switch.engaged",
      "proposal.queued",
      "proposal.executed",
    ]);
    expect(alerts[0]).toMatchObject({
      timestamp: "2023-11-14T22:13:20.000Z",
      block: { number: "42", hash: blockHash },
      data: { engagementId: "3", by: guardian, reason: "drill", policyVersion: "7", url: "http://ui.example/guardian" },
    });
    expect(alerts[1]).toMatchObject({
      data: {
        proposalId: "99",
        title: "Raise the quota",
        eta: "2027-01-15T08:00:00.000Z",
        url: "http://ui.example/proposals/99",
      },
    });
    expect(proposals).toEqual([
      { op: "untrack", proposalId: "99" },
      { op: "untrack", proposalId: "99" },
    ]);
    expect(renderAlertText(alerts[0]!).subject).toBe("Kill switch ENGAGED: drill");
    expect(renderAlertText(alerts[1]!).subject).toBe("Proposal queued: Raise the quota");
  });

  it("gives the same log the same id, and skips other contracts' logs and blocks it has no time for", () => {
    const one = engaged();
    const again = decodeAlertEvents([one], new Map([[blockHash, 1n]]), context).alerts[0]!;
    expect(again.id).toBe(alertId(31337, registry, one.transactionHash, one.logIndex));
    expect(decodeAlertEvents([one], new Map([[blockHash, 1n]]), context).alerts[0]!.id).toBe(again.id);
    const foreign = { ...engaged(), address: getAddress("0x0000000000000000000000000000000000000001") };
    expect(decodeAlertEvents([foreign], new Map([[blockHash, 1n]]), context).alerts).toEqual([]);
    expect(decodeAlertEvents([engaged()], new Map(), context).alerts).toEqual([]);
  });
});

describe("proposalTitle", () => {
  it("is the description's first non-empty line without heading marks, shortened", () => {
    expect(proposalTitle("\n\n## Lift the switch\n\nBecause.")).toBe("Lift the switch");
    expect(proposalTitle("   ")).toBeNull();
    expect(proposalTitle("x".repeat(200))).toHaveLength(120);
  });
});
