import { parseOffchainAttestation, type OffchainAttestation } from "@dao-ai/pipeline-worker/attestations";
import type { Address } from "viem";

// Off-chain attestations exist nowhere but with whoever holds them: the Attest page keeps those
// signed in this browser, so their attester can find and revoke them later.

const key = (chainId: number, eas: Address) => `dao-ai.offchain-attestations.${chainId}.${eas.toLowerCase()}`;

/** The off-chain attestations signed in this browser on this chain's EAS, newest first. */
export function issuedOffchainAttestations(chainId: number, eas: Address): OffchainAttestation[] {
  try {
    const stored = JSON.parse(localStorage.getItem(key(chainId, eas)) ?? "[]") as unknown[];
    return stored.flatMap((item) => {
      try {
        return [parseOffchainAttestation(item)];
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

export function rememberOffchainAttestation(chainId: number, eas: Address, attestation: OffchainAttestation) {
  const list = [attestation, ...issuedOffchainAttestations(chainId, eas)];
  localStorage.setItem(key(chainId, eas), JSON.stringify(list.slice(0, 200)));
}
