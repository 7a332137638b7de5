import type { AlertPayload } from "./alertPayload.ts";

export type AlertText = { subject: string; text: string };

/** What an alert says to a person: an email's subject and body, and the notifier's log line. */
export function renderAlertText(alert: AlertPayload): AlertText {
  const lines: string[] = [];
  let subject: string;
  switch (alert.type) {
    case "kill_switch.engaged":
      subject = `Kill switch ENGAGED: ${alert.data.reason || "no reason given"}`;
      lines.push(
        `The kill switch was engaged by ${alert.data.by} (engagement ${alert.data.engagementId}).`,
        `Reason: ${alert.data.reason || "(none given)"}`,
        "Workers stop ingest, inference and training at once. Only a governance proposal executed by the timelock can lift it.",
      );
      break;
    case "kill_switch.lifted":
      subject = `Kill switch lifted (engagement ${alert.data.engagementId})`;
      lines.push(`Governance lifted engagement ${alert.data.engagementId} of the kill switch; workers resume.`);
      break;
    case "proposal.created":
      subject = `New proposal: ${titleOf(alert.data)}`;
      lines.push(
        `${alert.data.proposer} proposed "${titleOf(alert.data)}" (${alert.data.actions.length} action${alert.data.actions.length === 1 ? "" : "s"}).`,
        `Voting opens after block ${alert.data.voteStart} and closes after block ${alert.data.voteEnd}.`,
        "",
        alert.data.description,
      );
      break;
    case "proposal.queued":
      subject = `Proposal queued: ${titleOf(alert.data)}`;
      lines.push(
        `"${titleOf(alert.data)}" passed and is queued in the timelock; it can execute from ${alert.data.eta}.`,
      );
      break;
    case "proposal.executed":
      subject = `Proposal executed: ${titleOf(alert.data)}`;
      lines.push(`"${titleOf(alert.data)}" was executed: its changes are in force.`);
      break;
    case "proposal.canceled":
      subject = `Proposal canceled: ${titleOf(alert.data)}`;
      lines.push(`"${titleOf(alert.data)}" was canceled.`);
      break;
    case "proposal.ending": {
      const { votes } = alert.data;
      const when = alert.data.estimatedEndAt === null ? "" : `, about ${alert.data.estimatedEndAt}`;
      subject = `Vote ending in ${alert.data.blocksLeft} blocks: ${titleOf(alert.data)}`;
      lines.push(
        `The vote on "${titleOf(alert.data)}" closes after block ${alert.data.deadline} (${alert.data.blocksLeft} blocks left${when}).`,
        `For ${votes.for}, against ${votes.against}, abstain ${votes.abstain}; quorum ${alert.data.quorum} ${alert.data.quorumReached ? "reached" : "NOT reached"}.`,
      );
      break;
    }
  }
  if (alert.data.url !== null) lines.push("", alert.data.url);
  lines.push(
    "",
    `Chain ${alert.chainId}, block ${alert.block.number} (${alert.timestamp})${alert.transactionHash === null ? "" : `, transaction ${alert.transactionHash}`}.`,
    `Alert id ${alert.id}.`,
  );
  return { subject, text: lines.join("\n") };
}

function titleOf(data: { title: string | null; proposalId: string }): string {
  return data.title ?? `proposal ${data.proposalId.slice(0, 12)}…`;
}
