import { secp256k1 as noble } from "@noble/curves/secp256k1.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bytesToHex,
  encodeAbiParameters,
  hashTypedData,
  hexToBytes,
  keccak256,
  recoverAddress,
  toHex,
  type Address,
  type Hex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  createDigestSigner,
  ethMessageDigest,
  nativeSecp256k1,
  recoverDigestSigner,
  wasmSecp256k1,
  type Secp256k1,
} from "../../src/chain/signatures.ts";
import {
  createKeyGrantHasher,
  createUsageHasher,
  keyGrantTypes,
  usageDomain,
  usageTypes,
} from "../../src/chain/typedData.ts";
import { isWorkerError } from "../../src/internal/WorkerError.ts";
import { QUERY_RECEIPT_TAG, receiptDigestOf } from "../../src/inference/queryReceipt.ts";

// The worker checks and makes signatures with libsecp256k1 and builds the query digest by hand;
// viem is the reference for all of it. Every property runs on both builds of the curve (the native
// one only where its package loads).
const curves: Secp256k1[] = [wasmSecp256k1, ...(nativeSecp256k1 ? [nativeSecp256k1] : [])];
const RUNS = process.env.SOAK ? 2_000 : 100;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;

const privateKey = fc.bigInt({ min: 1n, max: N - 1n }).map((k) => toHex(k, { size: 32 }));
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => bytesToHex(b));
const address = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => bytesToHex(b) as Address);
const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const uint256 = fc.bigInt({ min: 0n, max: 2n ** 256n - 1n });
const usage = fc.record({
  consumer: address,
  key: address,
  worker: address,
  epoch: uint64,
  total: uint64,
  maxFeePerQuery: uint256,
  inputHash: bytes32,
  deadline: uint64,
});
const keyGrant = fc.record({
  consumer: address,
  key: address,
  worker: address,
  maxQueries: uint64,
  maxFeePerQuery: uint256,
  expiresAt: uint64,
});
const word = (value: bigint) => value.toString(16).padStart(64, "0");

/** What viem says of a signature over `digest`: the signer, or that there is none. */
async function viemVerdict(digest: Hex, signature: Hex): Promise<string> {
  try {
    return (await recoverAddress({ hash: digest, signature })).toLowerCase();
  } catch {
    return "invalid";
  }
}

/** The worker's verdict: the signer, "high-s", or "invalid". */
function workerVerdict(digest: Hex, signature: string, curve: Secp256k1): string {
  try {
    return recoverDigestSigner(hexToBytes(digest), signature, curve);
  } catch (error) {
    if (!isWorkerError(error, "SIGNATURE_INVALID")) throw error;
    return error.message.includes("high s") ? "high-s" : "invalid";
  }
}

describe("EIP-712 Usage and KeyGrant digests", () => {
  it("are viem's hashTypedData of the Usage and of the KeyGrant, for any fields, chain and contract", () => {
    fc.assert(
      fc.property(
        usage,
        keyGrant,
        fc.integer({ min: 1, max: 2 ** 40 }),
        address,
        (message, grant, chainId, usageSettlement) => {
          const domain = usageDomain(chainId, usageSettlement);
          expect(bytesToHex(createUsageHasher(chainId, usageSettlement)(message))).toBe(
            hashTypedData({ domain, types: usageTypes, primaryType: "Usage", message }),
          );
          expect(bytesToHex(createKeyGrantHasher(chainId, usageSettlement)(grant))).toBe(
            hashTypedData({ domain, types: keyGrantTypes, primaryType: "KeyGrant", message: grant }),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("is refused for an epoch, total or deadline beyond uint64, as the ABI encoder refuses it", () => {
    const hash = createUsageHasher(31337, `0x${"11".repeat(20)}`);
    const message = {
      consumer: `0x${"22".repeat(20)}`,
      key: `0x${"00".repeat(20)}`,
      worker: `0x${"44".repeat(20)}`,
      epoch: 1n,
      maxFeePerQuery: 1n,
      inputHash: `0x${"33".repeat(32)}`,
      deadline: 1n,
    } as const;
    expect(() => hash({ ...message, total: 2n ** 64n })).toThrow(RangeError);
  });

  it("depend on their message alone, though a hasher reuses its buffers (even after a refused message)", () => {
    const contract = `0x${"11".repeat(20)}` as const;
    const hashUsage = createUsageHasher(31337, contract);
    const domain = usageDomain(31337, contract);
    fc.assert(
      fc.property(usage, (message) => {
        expect(() => hashUsage({ ...message, deadline: 2n ** 64n })).toThrow(RangeError);
        expect(bytesToHex(hashUsage(message))).toBe(
          hashTypedData({ domain, types: usageTypes, primaryType: "Usage", message }),
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe.each(curves.map((curve) => [curve.name, curve] as const))("signatures with libsecp256k1 (%s)", (_, curve) => {
  it("recovers what viem recovers from valid signatures", async () => {
    await fc.assert(
      fc.asyncProperty(privateKey, usage, async (key, message) => {
        const account = privateKeyToAccount(key);
        const definition = {
          domain: usageDomain(1, message.consumer),
          types: usageTypes,
          primaryType: "Usage",
          message,
        } as const;
        const signature = await account.signTypedData(definition);
        expect(recoverDigestSigner(hexToBytes(hashTypedData(definition)), signature, curve)).toBe(
          account.address.toLowerCase(),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it("agrees with viem on mutated and arbitrary signatures, and refuses the high-s copies viem accepts", async () => {
    const mutated = fc.record({
      key: privateKey,
      digest: bytes32,
      position: fc.nat({ max: 64 }),
      value: fc.nat({ max: 255 }),
      r: fc.constantFrom(undefined, 0n, N - 1n, N, 2n ** 256n - 1n),
      s: fc.constantFrom(undefined, 0n, 1n, HALF_N, HALF_N + 1n, N - 1n, N, 2n ** 256n - 1n),
    });
    await fc.assert(
      fc.asyncProperty(mutated, async ({ key, digest, position, value, r, s }) => {
        const valid = await privateKeyToAccount(key).sign({ hash: digest });
        const bytes = hexToBytes(valid);
        bytes[position] = value;
        let signature = bytesToHex(bytes);
        if (r !== undefined) signature = `0x${word(r)}${signature.slice(66)}`;
        if (s !== undefined) signature = `0x${signature.slice(2, 66)}${word(s)}${signature.slice(130)}`;
        const expected = await viemVerdict(digest, signature);
        const actual = workerVerdict(digest, signature, curve);
        const high = BigInt(`0x${signature.slice(66, 130)}`) > HALF_N;
        // Whatever viem refuses, the worker refuses; whatever viem accepts, the worker accepts as
        // the same signer unless s is high or v is a parity bit (which the contracts refuse).
        const parityV = ["00", "01"].includes(signature.slice(130));
        if (expected === "invalid") expect(["invalid", "high-s"]).toContain(actual);
        else if (parityV) expect(["invalid", "high-s"]).toContain(actual);
        else expect(actual).toBe(high ? "high-s" : expected);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it("refuses signatures of the wrong length or with characters that are not hex", () => {
    const digest = keccak256("0x01");
    for (const signature of [
      "0x",
      `0x${"ab".repeat(64)}`,
      `0x${"ab".repeat(66)}`,
      `0x${"zz".repeat(65)}`,
      `${"ab".repeat(66)}`,
    ]) {
      expect(workerVerdict(digest, signature, curve)).toBe("invalid");
    }
  });

  it("signs digests and receipts (EIP-191) byte for byte as viem's local account does", async () => {
    await fc.assert(
      fc.asyncProperty(privateKey, bytes32, async (key, digest) => {
        const account = privateKeyToAccount(key);
        const signer = createDigestSigner(key, curve);
        expect(signer.address).toBe(account.address);
        expect(signer.sign(hexToBytes(digest))).toBe(await account.sign({ hash: digest }));
        expect(signer.sign(ethMessageDigest(hexToBytes(digest)))).toBe(
          await account.signMessage({ message: { raw: digest } }),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses a private key that is not one", () => {
    for (const key of [`0x${"00".repeat(32)}`, toHex(N, { size: 32 }), "0x1234"] as Hex[]) {
      expect(() => createDigestSigner(key, curve)).toThrow("not a valid secp256k1 key");
    }
  });

  it("makes the public keys and ECDH points @noble/curves makes (key shares are wrapped with them)", () => {
    fc.assert(
      fc.property(privateKey, privateKey, (a, b) => {
        const [mine, theirs] = [hexToBytes(a), hexToBytes(b)];
        const theirPublicKey = noble.getPublicKey(theirs, true);
        expect(bytesToHex(curve.publicKey(mine, true)!)).toBe(bytesToHex(noble.getPublicKey(mine, true)));
        expect(bytesToHex(curve.publicKey(mine)!)).toBe(bytesToHex(noble.getPublicKey(mine, false)));
        expect(bytesToHex(curve.sharedPoint(mine, theirPublicKey)!)).toBe(
          bytesToHex(noble.getSharedSecret(mine, theirPublicKey, true)),
        );
        // Either form of the other side's key gives the same point.
        expect(bytesToHex(curve.sharedPoint(mine, noble.getPublicKey(theirs, false))!)).toBe(
          bytesToHex(curve.sharedPoint(mine, theirPublicKey)!),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it("finds no ECDH point with a public key that is not a point, or a private key that is not one", () => {
    const publicKey = noble.getPublicKey(hexToBytes(`0x${"11".repeat(32)}`), true);
    const notAPoint = Uint8Array.of(0x02, ...new Uint8Array(32).fill(0xff));
    expect(curve.sharedPoint(hexToBytes(`0x${"22".repeat(32)}`), notAPoint)).toBeNull();
    expect(curve.sharedPoint(hexToBytes(`0x${"22".repeat(32)}`), publicKey.subarray(0, 20))).toBeNull();
    expect(curve.sharedPoint(new Uint8Array(32), publicKey)).toBeNull();
    expect(curve.sharedPoint(hexToBytes(toHex(N, { size: 32 })), publicKey)).toBeNull();
  });
});

describe("receipt digest", () => {
  it("is keccak256 of the ABI encoding it documents", () => {
    fc.assert(
      fc.property(
        fc.tuple(bytes32, bytes32, bytes32, bytes32),
        address,
        address,
        fc.tuple(uint64, uint64, uint64),
        ([usageDigest, inputHash, answerHash, modelHash], consumer, key, [epoch, total, quota]) => {
          const expected = keccak256(
            encodeAbiParameters(
              [
                { type: "bytes32" },
                { type: "bytes32" },
                { type: "bytes32" },
                { type: "bytes32" },
                { type: "bytes32" },
                { type: "address" },
                { type: "address" },
                { type: "uint64" },
                { type: "uint64" },
                { type: "uint64" },
              ],
              [QUERY_RECEIPT_TAG, usageDigest, inputHash, answerHash, modelHash, consumer, key, epoch, total, quota],
            ),
          );
          const fields = { usageDigest, inputHash, answerHash, modelHash, consumer, key, epoch, total, quota };
          expect(receiptDigestOf(fields)).toBe(expected);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
