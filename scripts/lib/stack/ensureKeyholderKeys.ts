import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bytesToHex, hexToBytes, type Address, type Hex } from "viem";
import { generateKeyholderKeyPair, keyholderPublicKey } from "@dao-ai/pipeline-worker/keyholderKeys";
import { readSecretFile, writeSecretFileSync } from "@dao-ai/pipeline-worker/local-stack";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import type { KeyholderInfo } from "./stackFiles.ts";

/**
 * The local committee's share-wrapping keys, made once and kept: the data submitted so far is
 * wrapped to them, so they must outlive restarts and even a reset chain. For keyholder N,
 * `keyholder-N.key` holds the private key alone (hex, readable by the owner only: what the
 * keyholder's KEYHOLDER_PRIVATE_KEY_FILE reads) and `keyholder-N.json` what is public (its
 * account and public key).
 */
export function ensureKeyholderKeys(
  directory: string,
  members: { member: Address; accountIndex: number }[],
): KeyholderInfo[] {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  return members.map(({ member, accountIndex }, i) => {
    const keyFile = join(directory, `keyholder-${i + 1}.key`);
    const infoFile = join(directory, `keyholder-${i + 1}.json`);
    if (!existsSync(keyFile)) {
      const pair = generateKeyholderKeyPair();
      // By a new 0600 file renamed into place: never through a symlink left at the name.
      writeSecretFileSync(keyFile, `${bytesToHex(pair.privateKey)}\n`);
    }
    const publicKey = bytesToHex(keyholderPublicKey(readKeyholderKey(keyFile)));
    const info: KeyholderInfo = { member, accountIndex, publicKey, keyFile };
    writeFileSync(infoFile, `${JSON.stringify({ member, accountIndex, publicKey }, null, 2)}\n`);
    return info;
  });
}

/** A keyholder's private key from its key file. */
export function readKeyholderKey(keyFile: string): Uint8Array {
  let text: string;
  try {
    // Refused, as ssh refuses a key, when group or others may read it (the error says chmod 600).
    text = readSecretFile(keyFile).trim();
  } catch (cause) {
    if (cause instanceof BaseError && cause.cause === undefined) throw cause;
    throw new BaseError(`Cannot read the keyholder key ${keyFile}.`, {
      cause,
      hints: ["Restore it from a backup: the data wrapped to this key cannot be decrypted without it."],
    });
  }
  if (!/^0x[0-9a-fA-F]{64}$/.test(text)) {
    throw new BaseError(`The keyholder key ${keyFile} is not 0x and 64 hex digits.`, {
      hints: ["Restore it from a backup: the data wrapped to this key cannot be decrypted without it."],
    });
  }
  return hexToBytes(text as Hex);
}
