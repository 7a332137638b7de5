// Signer recovery and receipt signing as the worker does them (libsecp256k1, its own checks),
// against viem's own (@noble/curves), in the same run.
import { hexToBytes, keccak256, recoverTypedDataAddress, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  createDigestSigner,
  ethMessageDigest,
  nativeSecp256k1,
  recoverDigestSigner,
  recoverTypedDataSigner,
  wasmSecp256k1,
} from "../../pipeline-worker/src/chain/signatures.ts";
import {
  createQueryHasher,
  queryDomain,
  queryTypes,
  submissionDomain,
  submissionTypes,
} from "../../pipeline-worker/src/chain/typedData.ts";
import { median, ratio, time, type BenchContext, type BenchSection } from "./measure.ts";

export async function benchSignatures({ repeats, progress }: BenchContext): Promise<BenchSection> {
  const key: Hex = `0x${"42".repeat(32)}`;
  const account = privateKeyToAccount(key);
  const contract = `0x${"11".repeat(20)}` as const;
  const submission = {
    domain: submissionDomain(31337, contract),
    types: submissionTypes,
    primaryType: "Submission",
    message: { contributor: account.address, dataHash: keccak256("0x01"), size: 1n, nonce: 1n, deadline: 1n },
  } as const;
  const submissionSignature = await account.signTypedData(submission);
  const message = { consumer: account.address, inputHash: keccak256("0x02"), nonce: 7n, epoch: 3n, deadline: 9n };
  const query = { domain: queryDomain(31337, contract), types: queryTypes, primaryType: "Query", message } as const;
  const querySignature = await account.signTypedData(query);
  const hashQuery = createQueryHasher(31337, contract);
  const receiptDigest = hexToBytes(keccak256("0x03"));
  const curves = [wasmSecp256k1, ...(nativeSecp256k1 ? [nativeSecp256k1] : [])];

  const count = 200;
  const runs = new Map<string, number[]>();
  const measure = async (name: string, run: () => unknown) => {
    const seconds = await time(async () => {
      for (let n = 0; n < count; n++) await run();
    });
    runs.set(name, [...(runs.get(name) ?? []), seconds]);
  };
  progress("signer recovery and receipt signing");
  for (let i = 0; i < repeats; i++) {
    await measure("viem query", () => recoverTypedDataAddress({ ...query, signature: querySignature }));
    await measure("viem submission", () => recoverTypedDataAddress({ ...submission, signature: submissionSignature }));
    await measure("viem receipt", () => account.signMessage({ message: { raw: receiptDigest } }));
    await measure("worker submission", () => recoverTypedDataSigner(submission, submissionSignature));
    for (const curve of curves) {
      await measure(`query ${curve.name}`, () => recoverDigestSigner(hashQuery(message), querySignature, curve));
      const signer = createDigestSigner(key, curve);
      await measure(`receipt ${curve.name}`, () => signer.sign(ethMessageDigest(receiptDigest)));
    }
  }
  const seconds = (name: string) => median(runs.get(name)!);
  const perSecond = (name: string) => `${Math.round(count / seconds(name))} /s`;
  const row = (what: string, name: string, baseline: string) => [
    what,
    perSecond(name),
    `viem ${perSecond(baseline)}`,
    ratio(seconds(baseline) / seconds(name)),
  ];
  return {
    title: "Signatures",
    columns: ["what", "measured", "baseline, same run", "ratio to baseline"],
    rows: [
      ...curves.map((curve) =>
        row(
          `query: EIP-712 digest and signer recovery with the worker's checks (low s), libsecp256k1 ${curve.name}`,
          `query ${curve.name}`,
          "viem query",
        ),
      ),
      ...curves.map((curve) =>
        row(`receipt: EIP-191 signature, libsecp256k1 ${curve.name}`, `receipt ${curve.name}`, "viem receipt"),
      ),
      row(
        "submission: generic EIP-712 (viem's hashTypedData) and recovery as the ingest route does it",
        "worker submission",
        "viem submission",
      ),
    ],
    notes: [
      `The worker uses ${nativeSecp256k1 ? "the native build (the secp256k1 package's N-API libsecp256k1) here" : "WebAssembly here (the native secp256k1 package did not load)"}; both builds give viem's answers (pipeline-worker/test/chain/signatures.test.ts).`,
      "A query's digest is built by hand with the domain separator and type hash computed once; receipts are signed in process with the worker's key, deterministically (RFC 6979), byte for byte as viem's local account.",
    ],
  };
}
