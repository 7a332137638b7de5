import { createRequire } from "node:module";
import { keccak_256 } from "@noble/hashes/sha3.js";
import * as tinySecp256k1 from "tiny-secp256k1";
import { getAddress, hashTypedData, hexToBytes, type Address, type Hex, type TypedDataDefinition } from "viem";
import { WorkerError } from "../internal/WorkerError.ts";

// Signatures are checked and made with libsecp256k1, Bitcoin Core's library: natively through the
// `secp256k1` package's N-API build where it loads (about 19,000 recoveries a second on one core,
// 30 times viem's pure-JavaScript @noble/curves), otherwise compiled to WebAssembly
// (tiny-secp256k1, kept by bitcoinjs; about 3,500 a second). Everything around the curve (which
// signatures are accepted, how `v` is read, how the digest is built) is this file's, the same for
// both, and a test holds both to viem's on valid and on invalid signatures alike.

/** The curve operations the worker needs, from one build of libsecp256k1. */
export type Secp256k1 = {
  name: "native" | "wasm";
  /** The uncompressed public key, or null when the signature matches no point. */
  recover(digest: Uint8Array, signature: Uint8Array, parity: 0 | 1): Uint8Array | null;
  /** A low-s, RFC 6979 signature and its recovery id. */
  sign(digest: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recoveryId: number };
  /** The public key of a private key (uncompressed unless asked), or null when it is not one. */
  publicKey(privateKey: Uint8Array, compressed?: boolean): Uint8Array | null;
  /**
   * ECDH: the point privateKey × publicKey, compressed (33 bytes), as @noble/curves'
   * getSharedSecret gives it; null when either key is not one. Key shares are wrapped with it.
   */
  sharedPoint(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null;
};

type NativeSecp256k1 = {
  ecdsaRecover(signature: Uint8Array, recid: number, message: Uint8Array, compressed: boolean): Uint8Array;
  ecdsaSign(message: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number };
  publicKeyCreate(privateKey: Uint8Array, compressed: boolean): Uint8Array;
  ecdh(
    publicKey: Uint8Array,
    privateKey: Uint8Array,
    options: { hashfn: (x: Uint8Array, y: Uint8Array) => Uint8Array },
    output: Uint8Array,
  ): Uint8Array;
};

export const wasmSecp256k1: Secp256k1 = {
  name: "wasm",
  recover(digest, signature, parity) {
    try {
      return tinySecp256k1.recover(digest, signature, parity, false);
    } catch {
      // tiny-secp256k1 throws where r is not the x of any point: no address, as viem's "no point".
      return null;
    }
  },
  sign: (digest, privateKey) => tinySecp256k1.signRecoverable(digest, privateKey),
  publicKey: (privateKey, compressed = false) =>
    tinySecp256k1.isPrivate(privateKey) ? tinySecp256k1.pointFromScalar(privateKey, compressed) : null,
  sharedPoint(privateKey, publicKey) {
    if (!tinySecp256k1.isPrivate(privateKey) || !tinySecp256k1.isPoint(publicKey)) return null;
    return tinySecp256k1.pointMultiply(publicKey, privateKey, true);
  },
};

/**
 * The native build, when the `secp256k1` package (N-API, prebuilt for the common platforms) is
 * installed and loads; undefined otherwise. It is optional: the WebAssembly build gives the same
 * answers, slower.
 */
export const nativeSecp256k1: Secp256k1 | undefined = (() => {
  let native: NativeSecp256k1;
  try {
    // The bindings alone: the package's own entry falls back to elliptic (pure JavaScript,
    // slower than the WebAssembly build) when the addon does not load.
    native = createRequire(import.meta.url)("secp256k1/bindings") as NativeSecp256k1;
  } catch {
    return undefined;
  }
  return {
    name: "native",
    recover(digest, signature, parity) {
      try {
        return native.ecdsaRecover(signature, parity, digest, false);
      } catch {
        return null;
      }
    },
    sign(digest, privateKey) {
      const { signature, recid } = native.ecdsaSign(digest, privateKey);
      return { signature, recoveryId: recid };
    },
    publicKey(privateKey, compressed = false) {
      try {
        return native.publicKeyCreate(privateKey, compressed);
      } catch {
        return null;
      }
    },
    sharedPoint(privateKey, publicKey) {
      try {
        // libsecp256k1 hands the point's coordinates to a hash function of the caller's; this one
        // hashes nothing and writes the compressed point.
        const compress = (x: Uint8Array, y: Uint8Array) => {
          const point = new Uint8Array(33);
          point[0] = 0x02 | (y[31]! & 1);
          point.set(x, 1);
          return point;
        };
        return native.ecdh(publicKey, privateKey, { hashfn: compress }, new Uint8Array(33));
      } catch {
        return null;
      }
    },
  };
})();

/** What the worker uses: the native build where it loads, else WebAssembly. */
export const secp256k1: Secp256k1 = nativeSecp256k1 ?? wasmSecp256k1;

/** The secp256k1 group order. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
/** Half the group order: signatures with a larger `s` are malleable copies (EIP-2). */
const SECP256K1_HALF_N = SECP256K1_N >> 1n;
const SIGNATURE_PATTERN = /^0x[0-9a-fA-F]{130}$/;
/** EIP-191 prefix of a signed 32-byte message (`personal_sign`). */
const MESSAGE_PREFIX = new TextEncoder().encode("\x19Ethereum Signed Message:\n32");

const malformed = (cause?: unknown) =>
  new WorkerError("SIGNATURE_INVALID", "The signature is malformed.", {
    cause,
    hints: ["Send the 65-byte signature (0x followed by 130 hex digits) that eth_signTypedData_v4 returns."],
  });

/**
 * The address that signed a 32-byte digest, refusing malformed and malleable (high-s) signatures,
 * so each authorisation has exactly one valid encoding and cannot be replayed in another shape.
 * Accepts what viem's `recoverAddress` accepts (r and s in [1, n), `v` 27 or 28), less the high-s
 * copies and less `v` written as a parity bit (0 or 1), which viem takes but the contracts'
 * OpenZeppelin ECDSA refuses: a query accepted in that shape could never be settled. Returns the
 * lower-case address: compare it with `sameAddress`.
 */
export function recoverDigestSigner(
  digest: Uint8Array,
  signature: string,
  curve: Secp256k1 = secp256k1,
): Lowercase<Address> {
  if (signature.length !== 132 || !SIGNATURE_PATTERN.test(signature)) throw malformed();
  const r = BigInt(`0x${signature.slice(2, 66)}`);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130), 16);
  const parity = v === 27 ? 0 : v === 28 ? 1 : undefined;
  if (r === 0n || r >= SECP256K1_N || s === 0n || s >= SECP256K1_N || parity === undefined) throw malformed();
  if (s > SECP256K1_HALF_N) {
    throw new WorkerError("SIGNATURE_INVALID", "The signature has a high s value (a malleable signature).", {
      hints: ["Sign again with a standard wallet or library; they produce low-s signatures."],
    });
  }
  const publicKey = curve.recover(digest, Buffer.from(signature.slice(2, 130), "hex"), parity);
  if (publicKey === null) {
    throw new WorkerError("SIGNATURE_INVALID", "The signature does not recover to any address.");
  }
  return addressOfPublicKey(publicKey);
}

/** Recovers the signer of EIP-712 typed data, with the checks of `recoverDigestSigner`. */
export async function recoverTypedDataSigner(definition: TypedDataDefinition, signature: Hex): Promise<Address> {
  if (signature.length !== 132 || !SIGNATURE_PATTERN.test(signature)) throw malformed();
  let digest: Hex;
  try {
    digest = hashTypedData(definition as Parameters<typeof hashTypedData>[0]);
  } catch (cause) {
    // viem refuses a message whose fields do not fit their types (a nonce beyond uint256): that is
    // the request's fault, and nothing can have signed it.
    throw new WorkerError("VALIDATION_FAILED", "A signed field is out of the range of its EIP-712 type.", {
      cause,
      hints: ["Check the numbers against the types GET /v1/eip712 publishes (uint64, uint256)."],
    });
  }
  return getAddress(recoverDigestSigner(hexToBytes(digest), signature));
}

/** Whether two addresses are the same, whatever their letter case. */
export function sameAddress(a: string, b: string): boolean {
  return a.length === b.length && a.toLowerCase() === b.toLowerCase();
}

/** keccak256 of an EIP-191 signed 32-byte message: what `personal_sign` over `digest` signs. */
export function ethMessageDigest(digest: Uint8Array): Uint8Array {
  const prefixed = new Uint8Array(MESSAGE_PREFIX.length + 32);
  prefixed.set(MESSAGE_PREFIX);
  prefixed.set(digest, MESSAGE_PREFIX.length);
  return keccak_256(prefixed);
}

export type DigestSigner = {
  address: Address;
  /** A 65-byte signature of `digest` (r, low s, v 27 or 28), deterministic (RFC 6979), as viem's. */
  sign(digest: Uint8Array): Hex;
};

/**
 * Signs digests with a private key held in memory, as viem's `privateKeyToAccount(key).sign` does
 * (the same bytes for the same key and digest), with libsecp256k1.
 */
export function createDigestSigner(privateKey: Hex, curve: Secp256k1 = secp256k1): DigestSigner {
  const key = hexToBytes(privateKey);
  const publicKey = key.length === 32 ? curve.publicKey(key) : null;
  if (publicKey === null) {
    throw new WorkerError("CONFIG_INVALID", "The worker's private key is not a valid secp256k1 key.", {
      hints: ["Set WORKER_PRIVATE_KEY to 0x followed by the 64 hex digits of the worker account's key."],
    });
  }
  return {
    address: getAddress(addressOfPublicKey(publicKey)),
    sign(digest) {
      const { signature, recoveryId } = curve.sign(digest, key);
      const bytes = Buffer.alloc(65);
      bytes.set(signature);
      bytes[64] = 27 + recoveryId;
      return `0x${bytes.toString("hex")}`;
    },
  };
}

function addressOfPublicKey(publicKey: Uint8Array): Lowercase<Address> {
  const hash = keccak_256(publicKey.subarray(1));
  return `0x${Buffer.from(hash.buffer, hash.byteOffset + 12, 20).toString("hex")}` as Lowercase<Address>;
}
