import { Link } from "@tanstack/react-router";
import { formatTime } from "../lib/format.ts";
import { usePolicy } from "../lib/queries.ts";
import { AddressText } from "./AddressText.tsx";

/** On every page while the kill switch is engaged: who engaged it, when, why, and how it is lifted. */
export function KillSwitchBanner() {
  const { data: policy } = usePolicy();
  if (!policy?.killSwitch.engaged) return null;
  const { engagementId, engagedBy, engagedAt, reason } = policy.killSwitch;
  return (
    <div className="kill-banner" role="alert" data-testid="kill-switch-banner">
      <div className="kill-banner-inner">
        <strong className="kill-banner-title">Kill switch engaged</strong>
        <span>
          “{reason}” — by <AddressText address={engagedBy} /> on {formatTime(engagedAt)} (engagement{" "}
          {engagementId.toString()}).
        </span>
        <span>
          Ingest, inference and training are stopped. Only a proposal naming this engagement can lift it.{" "}
          <Link to="/proposals/new" search={{ preset: "liftKillSwitch" }}>
            Propose lifting it
          </Link>
        </span>
      </div>
    </div>
  );
}
