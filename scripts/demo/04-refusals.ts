import { keccak256, sha256, toHex } from "viem";
import { attestData } from "../lib/actors/attestData.ts";
import { refusalOf, trainingData } from "./contributions.ts";
import { type Demo, chapter, expect, problem, roles } from "./story.ts";

export async function refusals(d: Demo) {
  chapter(
    "What the policy does not allow is refused",
    "Someone not on the allowlist tries to submit, and the contributor tries a forged attestation and one from an attester the policy does not trust. The worker refuses each before a byte of data is uploaded.",
  );
  const attester = d.clients.wallet(roles.attester);
  const outsider = d.clients.wallet(roles.outsider);
  const contributor = d.clients.wallet(roles.contributor);

  const outsiderData = trainingData(7, 10);
  const outsiderUid = await attestData({
    publicClient: d.clients.publicClient,
    attester,
    eas: d.deployment.contracts.eas,
    schemaUID: d.deployment.dataSchema.uid,
    recipient: outsider.account.address,
    dataHash: sha256(outsiderData),
    size: BigInt(outsiderData.byteLength),
  });
  const notAllowed = await refusalOf(d, outsider, outsiderData, [outsiderUid]);
  expect(
    notAllowed?.status === 403 && notAllowed.body.code === "SUBMITTER_NOT_ALLOWED",
    `an outsider with a genuine attestation: ${problem(notAllowed)}`,
  );

  const forgedData = trainingData(8, 10);
  const forgedUid = keccak256(toHex(`an attestation nobody made ${d.run}`));
  const forged = await refusalOf(d, contributor, forgedData, [forgedUid]);
  expect(
    forged?.status === 422 && forged.body.code === "ATTESTATION_INVALID",
    `a forged attestation (a UID that is not on EAS): ${problem(forged)}`,
  );

  const untrustedUid = await attestData({
    publicClient: d.clients.publicClient,
    attester: d.clients.wallet(roles.untrustedAttester),
    eas: d.deployment.contracts.eas,
    schemaUID: d.deployment.dataSchema.uid,
    recipient: contributor.account.address,
    dataHash: sha256(forgedData),
    size: BigInt(forgedData.byteLength),
  });
  const untrusted = await refusalOf(d, contributor, forgedData, [untrustedUid]);
  expect(
    untrusted?.status === 422 && untrusted.body.code === "ATTESTATION_INVALID",
    `a real attestation from an attester the policy does not trust: ${problem(untrusted)}`,
  );

  const listed = await d.worker.get<{ submissions: unknown[] }>(
    `/v1/submissions?contributor=${outsider.account.address}`,
  );
  expect(listed.status === 200 && listed.body.submissions.length === 0, "nothing of the outsider's was stored");
}
