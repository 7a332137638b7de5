// EIP-712 signer recovery as the worker does it, against viem's own.
import { keccak256, recoverTypedDataAddress, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { recoverTypedDataSigner } from "../../pipeline-worker/src/chain/signatures.ts";
import { submissionDomain, submissionTypes } from "../../pipeline-worker/src/chain/typedData.ts";
import { median, ratio, time, type BenchContext, type BenchSection } from "./measure.ts";

export async function benchSignatures({ repeats, progress }: BenchContext): Promise<BenchSection> {
  const account = privateKeyToAccount(`0x${"42".repeat(32)}`);
  const domain = submissionDomain(31337, `0x${"11".repeat(20)}`);
  const message = { contributor: account.address, dataHash: keccak256("0x01"), size: 1n, nonce: 1n, deadline: 1n };
  const definition = { domain, types: submissionTypes, primaryType: "Submission", message } as const;
  const signature: Hex = await account.signTypedData(definition);
  const count = 200;
  const viemOnly: number[] = [];
  const worker: number[] = [];
  progress("signer recovery");
  for (let i = 0; i < repeats; i++) {
    viemOnly.push(
      await time(async () => {
        for (let n = 0; n < count; n++) await recoverTypedDataAddress({ ...definition, signature });
      }),
    );
    worker.push(
      await time(async () => {
        for (let n = 0; n < count; n++) await recoverTypedDataSigner(definition, signature);
      }),
    );
  }
  const perSecond = (seconds: number) => `${Math.round(count / seconds)} /s`;
  return {
    title: "Signatures",
    columns: ["what", "measured", "baseline, same run", "ratio to baseline"],
    rows: [
      [
        "EIP-712 signer recovery with the worker's checks (low-s)",
        perSecond(median(worker)),
        `viem alone ${perSecond(median(viemOnly))}`,
        ratio(median(viemOnly) / median(worker)),
      ],
    ],
  };
}
