// Signer recovery and receipt signing as the worker does them (libsecp256k1, its own checks),
// against viem's own (@noble/curves), in the same run; and what an API key costs per request.
import { createHash } from "node:crypto";
import { createUsageHasher, usageDomain, usageTypes } from "@dao-ai/pipeline-worker/eip712";
import { hexToBytes, keccak256, recoverTypedDataAddress, zeroAddress, type Hex } from "viem";
import { privateKeyToAccount, publicKeyToAddress } from "viem/accounts";
import {
  createDigestSigner,
  ethMessageDigest,
  nativeSecp256k1,
  recoverDigestSigner,
  recoverTypedDataSigner,
  wasmSecp256k1,
} from "@dao-ai/pipeline-worker/bench";
import { submissionDomain, submissionTypes } from "@dao-ai/pipeline-worker/eip712";
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
  const message = {
    consumer: account.address,
    key: zeroAddress,
    worker: contract,
    epoch: 3n,
    total: 7n,
    maxFeePerQuery: 10n ** 15n,
    inputHash: keccak256("0x02"),
    deadline: 9n,
  };
  const query = { domain: usageDomain(31337, contract), types: usageTypes, primaryType: "Usage", message } as const;
  const querySignature = await account.signTypedData(query);
  const hashQuery = createUsageHasher(31337, contract);
  // An API key's bearer token is its private key: the worker derives its address once, then finds
  // the token by its SHA-256.
  const tokenHex = "42".repeat(32);
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
    await measure("key lookup", () => createHash("sha256").update(tokenHex).digest("base64"));
    for (const curve of curves) {
      await measure(`query ${curve.name}`, () => recoverDigestSigner(hashQuery(message), querySignature, curve));
      await measure(`key address ${curve.name}`, () =>
        publicKeyToAddress(`0x${Buffer.from(curve.publicKey(Buffer.from(tokenHex, "hex"))!).toString("hex")}`),
      );
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
          `signed query: Usage voucher's EIP-712 digest and signer recovery with the worker's checks (low s), libsecp256k1 ${curve.name}`,
          `query ${curve.name}`,
          "viem query",
        ),
      ),
      ...curves.map((curve) =>
        row(`receipt: EIP-191 signature, libsecp256k1 ${curve.name}`, `receipt ${curve.name}`, "viem receipt"),
      ),
      ...curves.map((curve) => [
        `API key, per request: the token's SHA-256, by which the worker finds the key (no curve work)`,
        perSecond("key lookup"),
        `deriving the key's address, once per key, libsecp256k1 ${curve.name}: ${perSecond(`key address ${curve.name}`)}`,
        ratio(seconds(`key address ${curve.name}`) / seconds("key lookup")),
      ]),
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
