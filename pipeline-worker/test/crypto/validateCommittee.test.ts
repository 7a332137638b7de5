import { describe, expect, it } from "vitest";
import { toHex, type Address, type Hex } from "viem";
import { generateKeyholderKeyPair } from "../../src/crypto/keyholderKeys.ts";
import { assertValidCommittee } from "../../src/crypto/validateCommittee.ts";

const keys = [generateKeyholderKeyPair(), generateKeyholderKeyPair(), generateKeyholderKeyPair()].map((k) =>
  toHex(k.publicKey),
);
const members: Address[] = [
  "0x1111111111111111111111111111111111111111",
  "0x2222222222222222222222222222222222222222",
  "0x3333333333333333333333333333333333333333",
];
const committee = (publicKeys: readonly Hex[], threshold = 2, who: readonly Address[] = members) => ({
  id: 7n,
  members: who,
  publicKeys,
  threshold,
});

function refusal(run: () => void) {
  try {
    run();
  } catch (error) {
    return error as { code: string; shortMessage: string; retryable: boolean };
  }
  throw new Error("expected a refusal");
}

describe("assertValidCommittee", () => {
  it("accepts a committee of distinct valid keys with 1 <= threshold <= members", () => {
    expect(() => assertValidCommittee(committee(keys))).not.toThrow();
    expect(() => assertValidCommittee(committee(keys, 1))).not.toThrow();
    expect(() => assertValidCommittee(committee(keys, 3))).not.toThrow();
  });

  it("refuses a committee listing one key twice, which would give its holder two shares (K1, K1, K2 with threshold 2 is one keyholder alone)", () => {
    const error = refusal(() => assertValidCommittee(committee([keys[0]!, keys[0]!, keys[1]!])));
    expect(error.code).toBe("COMMITTEE_INVALID");
    expect(error.shortMessage).toBe(`Committee 7 is invalid: the public key ${keys[0]} is listed twice.`);
    // The same key in another letter case is the same point.
    expect(
      refusal(() =>
        assertValidCommittee(committee([keys[0]!, keys[0]!.toUpperCase().replace("0X", "0x") as Hex, keys[1]!])),
      ).code,
    ).toBe("COMMITTEE_INVALID");
  });

  it("refuses a key that is not a compressed secp256k1 point, which would fail every upload after its ciphertext was stored", () => {
    const notOnCurve = `0x02${"ff".repeat(32)}` as Hex;
    const uncompressed = toHex(new Uint8Array(65).fill(4));
    for (const bad of [notOnCurve, uncompressed, "0x" as Hex, "0x02zz" as Hex]) {
      const error = refusal(() => assertValidCommittee(committee([keys[0]!, bad, keys[1]!])));
      expect(error.code).toBe("COMMITTEE_INVALID");
      expect(error.shortMessage).toContain("is not a 33-byte compressed secp256k1 public key");
    }
  });

  it("refuses a threshold of 0 or above the member count, a member listed twice, and keys and members that do not pair up", () => {
    expect(refusal(() => assertValidCommittee(committee(keys, 0))).shortMessage).toBe(
      "Committee 7 is invalid: its threshold 0 is not between 1 and its 3 members.",
    );
    expect(refusal(() => assertValidCommittee(committee(keys, 4))).code).toBe("COMMITTEE_INVALID");
    expect(refusal(() => assertValidCommittee(committee(keys, 1.5))).code).toBe("COMMITTEE_INVALID");
    expect(
      refusal(() => assertValidCommittee(committee(keys, 2, [members[0]!, members[1]!, members[0]!]))).shortMessage,
    ).toBe(`Committee 7 is invalid: the member ${members[0]} is listed twice.`);
    expect(refusal(() => assertValidCommittee(committee(keys.slice(0, 2)))).code).toBe("COMMITTEE_INVALID");
  });
});
