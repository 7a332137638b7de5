import { describe, expect, it } from "vitest";
import { combineKeyShares } from "../../src/crypto/combineKeyShares.ts";
import { decryptStream } from "../../src/crypto/decryptStream.ts";
import { encryptStream } from "../../src/crypto/encryptStream.ts";
import { generateDataKey } from "../../src/crypto/generateDataKey.ts";
import { generateKeyholderKeyPair, keyholderPublicKey } from "../../src/crypto/keyholderKeys.ts";
import { splitDataKey } from "../../src/crypto/splitDataKey.ts";
import { unwrapKeyShare, wrapKeyShare } from "../../src/crypto/wrapKeyShare.ts";
import { WorkerError } from "../../src/internal/WorkerError.ts";
import { collect, randomPlaintext } from "./streams.ts";

const associatedData = Buffer.from("submission 0x01");
const context = Buffer.from("0x01");

function combinations<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  return items.flatMap((item, i) => combinations(items.slice(i + 1), k - 1).map((rest) => [item, ...rest]));
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof WorkerError ? error.code : "not a WorkerError";
  }
  return undefined;
}

describe("splitDataKey / combineKeyShares", () => {
  it("recovers the key and the plaintext from any 3 of 5 shares, and not from 2", async () => {
    const key = generateDataKey();
    const plaintext = randomPlaintext(5000);
    const ciphertext = await collect(encryptStream([plaintext], { key, associatedData }));
    const shares = await splitDataKey(key, { threshold: 3, shares: 5 });
    expect(shares).toHaveLength(5);
    for (const share of shares) expect(share.byteLength).toBe(33);

    for (const chosen of combinations(shares, 3)) {
      const recovered = await combineKeyShares(chosen);
      expect(Buffer.from(recovered).equals(Buffer.from(key))).toBe(true);
    }
    const recovered = await combineKeyShares([shares[4]!, shares[0]!, shares[2]!]);
    expect(await collect(decryptStream([ciphertext], { key: recovered, associatedData }))).toEqual(plaintext);

    for (const chosen of combinations(shares, 2)) {
      const wrong = await combineKeyShares(chosen);
      expect(Buffer.from(wrong).equals(Buffer.from(key))).toBe(false);
      await expect(collect(decryptStream([ciphertext], { key: wrong, associatedData }))).rejects.toMatchObject({
        code: "CIPHERTEXT_INVALID",
      });
    }
  });

  it("supports a committee of one and a threshold of one", async () => {
    const key = generateDataKey();
    const [only] = await splitDataKey(key, { threshold: 1, shares: 1 });
    expect(await combineKeyShares([only!])).toEqual(key);
    const anyOf3 = await splitDataKey(key, { threshold: 1, shares: 3 });
    for (const share of anyOf3) expect(await combineKeyShares([share])).toEqual(key);
  });

  it("refuses impossible thresholds and repeated shares", async () => {
    const key = generateDataKey();
    await expect(splitDataKey(key, { threshold: 4, shares: 3 })).rejects.toThrow(
      "Cannot split a key 4-of-3: need 1 <= threshold <= shares <= 255.",
    );
    await expect(splitDataKey(key, { threshold: 0, shares: 3 })).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
    const shares = await splitDataKey(key, { threshold: 2, shares: 3 });
    await expect(combineKeyShares([shares[0]!, shares[0]!])).rejects.toThrow("The same key share was given twice.");
    await expect(combineKeyShares([shares[0]!.subarray(1)])).rejects.toThrow("A key share has 33 bytes, not 32.");
  });
});

describe("keyholder keys and wrapped shares", () => {
  it("makes 33-byte compressed secp256k1 public keys, as the registry stores them", () => {
    const { privateKey, publicKey } = generateKeyholderKeyPair();
    expect(privateKey.byteLength).toBe(32);
    expect(publicKey.byteLength).toBe(33);
    expect([0x02, 0x03]).toContain(publicKey[0]);
    expect(keyholderPublicKey(privateKey)).toEqual(publicKey);
  });

  it("opens a share only with the keyholder's key and the same context", async () => {
    const alice = generateKeyholderKeyPair();
    const bob = generateKeyholderKeyPair();
    const [share] = await splitDataKey(generateDataKey(), { threshold: 2, shares: 2 });
    const wrapped = wrapKeyShare(share!, { recipientPublicKey: alice.publicKey, context });
    expect(wrapped.byteLength).toBe(1 + 33 + 12 + 33 + 16);

    expect(unwrapKeyShare(wrapped, { privateKey: alice.privateKey, context })).toEqual(share);
    expect(() => unwrapKeyShare(wrapped, { privateKey: bob.privateKey, context })).toThrow(
      "The wrapped key share cannot be opened. It was wrapped to another keyholder, for another context, or was changed.",
    );
    expect(codeOf(() => unwrapKeyShare(wrapped, { privateKey: alice.privateKey, context: Buffer.from("0x02") }))).toBe(
      "SHARE_UNWRAP_FAILED",
    );
  });

  it("refuses a wrapped share with any byte changed", async () => {
    const alice = generateKeyholderKeyPair();
    const [share] = await splitDataKey(generateDataKey(), { threshold: 2, shares: 2 });
    const wrapped = wrapKeyShare(share!, { recipientPublicKey: alice.publicKey, context });
    for (let position = 0; position < wrapped.byteLength; position++) {
      const tampered = Uint8Array.from(wrapped);
      tampered[position]! ^= 0x01;
      expect(
        codeOf(() => unwrapKeyShare(tampered, { privateKey: alice.privateKey, context })),
        `byte ${position}`,
      ).toBe("SHARE_UNWRAP_FAILED");
    }
  });

  it("refuses to wrap to something that is not a keyholder public key", () => {
    const { publicKey } = generateKeyholderKeyPair();
    const notOnCurve = Uint8Array.from(publicKey);
    notOnCurve[0] = 0x04;
    for (const bad of [new Uint8Array(33), notOnCurve, publicKey.subarray(1)]) {
      expect(() => wrapKeyShare(new Uint8Array(33), { recipientPublicKey: bad, context })).toThrow(
        "Not a keyholder public key.",
      );
    }
  });

  it("takes a submission from plaintext to wrapped shares and back with 2 of 3 keyholders", async () => {
    const committee = [generateKeyholderKeyPair(), generateKeyholderKeyPair(), generateKeyholderKeyPair()];
    const plaintext = randomPlaintext(10_000);
    const key = generateDataKey();
    const ciphertext = await collect(encryptStream([plaintext], { key, associatedData }));
    const shares = await splitDataKey(key, { threshold: 2, shares: committee.length });
    const wrapped = shares.map((share, i) =>
      wrapKeyShare(share, { recipientPublicKey: committee[i]!.publicKey, context }),
    );

    const released = [2, 0].map((i) => unwrapKeyShare(wrapped[i]!, { privateKey: committee[i]!.privateKey, context }));
    const recovered = await combineKeyShares(released);
    expect(await collect(decryptStream([ciphertext], { key: recovered, associatedData }))).toEqual(plaintext);
  });
});
