import { createSafeTransaction, type PendingSafeTransaction } from "@dao-ai/pipeline-worker/safe";
import { useState } from "react";
import type { Address, Hex } from "viem";
import type { DecodedError } from "../lib/decodeError.ts";
import { describeSafeError, useSafeConnection } from "./SafeTransactionPanel.tsx";

/** A call for the Safe to make, in words too: the owners read the description before they sign. */
export type DescribedSafeCall = { to: Address; data: Hex; description: string };

/**
 * Proposes one call as a Safe transaction with the connected account (the Safe and guardian pages
 * build different calls, proposed the same way). `propose` hands the created transaction to
 * `onProposed`, where signing is the next step; while it runs `proposing` is true, and what went
 * wrong stays in `error` until the next try.
 */
export function useProposeSafeTransaction(safe: Address, onProposed: (created: PendingSafeTransaction) => void) {
  const connection = useSafeConnection();
  const [proposing, setProposing] = useState(false);
  const [error, setError] = useState<DecodedError | null>(null);

  async function propose(call: DescribedSafeCall | undefined) {
    if (!call) return;
    setProposing(true);
    setError(null);
    try {
      onProposed(
        await createSafeTransaction({
          connection,
          safe,
          calls: [{ to: call.to, data: call.data }],
          description: call.description,
        }),
      );
    } catch (cause) {
      setError(describeSafeError(cause));
    } finally {
      setProposing(false);
    }
  }

  return { proposing, error, propose };
}
