import { createFileRoute, Link } from "@tanstack/react-router";
import { AddressText } from "../components/AddressText.tsx";
import { Loaded } from "../components/Loading.tsx";
import { formatDuration, plural } from "../lib/format.ts";
import { usePolicy } from "../lib/queries.ts";
import { useWallet } from "../lib/WalletContext.tsx";
import { AttestForm, type AttestFormValues } from "./-components/AttestForm.tsx";
import { IssuedAttestations } from "./-components/IssuedAttestations.tsx";
import { usePolicySchema } from "./-components/usePolicySchema.ts";

/** The Contribute page links here with the contributor's address and data filled in. */
export const Route = createFileRoute("/attest")({
  component: AttestPage,
  validateSearch: (search: Record<string, unknown>): AttestFormValues => ({
    recipient: typeof search.recipient === "string" ? search.recipient : undefined,
    dataHash: typeof search.dataHash === "string" ? search.dataHash : undefined,
    size: typeof search.size === "string" || typeof search.size === "number" ? String(search.size) : undefined,
  }),
});

function AttestPage() {
  const search = Route.useSearch();
  const { wallet } = useWallet();
  return (
    <section className="page" aria-labelledby="attest-title">
      <div className="page-head">
        <h1 id="attest-title">Attest data</h1>
        <p className="lede">
          Attesters vouch, with EAS attestations, for a contributor's data: its hash and size, its licence and where it
          comes from. The worker and ContributorRewards record a contribution only with enough attestations from the
          attesters the policy trusts. The same can be done from a terminal with <code>npm run attest</code>.
        </p>
      </div>
      <Requirement />
      <AttestForm initial={search} />
      {wallet ? <IssuedAttestations attester={wallet.address} /> : null}
    </section>
  );
}

/** The schema and attesters the policy requires, and whether the connected account is one of them. */
function Requirement() {
  const { wallet } = useWallet();
  const { data: policy } = usePolicy();
  const schema = usePolicySchema();
  const requirement = policy?.attestation;
  const trusted =
    wallet && requirement
      ? requirement.attesters.some((a) => a.toLowerCase() === wallet.address.toLowerCase())
      : undefined;
  return (
    <section className="card" aria-labelledby="requirement-title">
      <h2 id="requirement-title">What the policy requires</h2>
      {!requirement || requirement.minAttestations === 0 ? (
        <p className="notice notice-warn">
          The DAO has not set an attestation requirement yet: no data can be recorded.
        </p>
      ) : (
        <>
          <p>
            {plural(requirement.minAttestations, "attestation")} from distinct trusted attesters
            {requirement.maxAge === 0n ? "" : `, each at most ${formatDuration(requirement.maxAge)} old when recorded`}.
          </p>
          <Loaded query={schema} what="the policy's schema">
            {(s) => (
              <dl className="kv">
                <div>
                  <dt>EAS schema</dt>
                  <dd>
                    <code data-testid="policy-schema-uid">{s.uid}</code>
                  </dd>
                </div>
                <div>
                  <dt>Fields</dt>
                  <dd>
                    <code data-testid="policy-schema-definition">{s.definition}</code>
                  </dd>
                </div>
              </dl>
            )}
          </Loaded>
          <p className="small">
            Trusted attesters:{" "}
            {requirement.attesters.map((a, i) => (
              <span key={a}>
                {i > 0 ? ", " : ""}
                <AddressText address={a} />
              </span>
            ))}
            .
          </p>
        </>
      )}
      {!wallet ? (
        <p className="notice">Connect the attester's wallet to attest.</p>
      ) : trusted ? (
        <p className="notice notice-ok" data-testid="attester-status">
          <AddressText address={wallet.address} /> is a trusted attester: its attestations count.
        </p>
      ) : (
        <p className="notice notice-warn" data-testid="attester-status">
          <AddressText address={wallet.address} /> is not a trusted attester: the worker will refuse its attestations
          until a vote trusts it. <Link to="/proposals/new">Propose</Link> it.
        </p>
      )}
    </section>
  );
}
