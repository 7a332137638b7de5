import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bytesToHex, hexToBytes, type Address, type Hex } from "viem";
import { generateKeyholderKeyPair, keyholderPublicKey } from "../../pipeline-worker/src/crypto/keyholderKeys.ts";
import { BaseError } from "../../pipeline-worker/src/internal/BaseError.ts";
import type { KeyholderInfo } from "./stackFiles.ts";

/** A keyholder's key file: its account, and the key that unwraps the data-key shares wrapped to it. */
export type KeyholderKeyFile = { member: Address; accountIndex: number; publicKey: Hex; privateKey: Hex };

/**
 * The local committee's share-wrapping keys, one file per keyholder (readable by the owner only),
 * made once and kept: the data submitted so far is wrapped to them, so they must outlive restarts
 * and even a reset chain.
 */
export function ensureKeyholderKeys(
  directory: string,
  members: { member: Address; accountIndex: number }[],
): KeyholderInfo[] {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  return members.map(({ member, accountIndex }, i) => {
    const keyFile = join(directory, `keyholder-${i + 1}.json`);
    if (!existsSync(keyFile)) {
      const pair = generateKeyholderKeyPair();
      const file: KeyholderKeyFile = {
        member,
        accountIndex,
        publicKey: bytesToHex(pair.publicKey),
        privateKey: bytesToHex(pair.privateKey),
      };
      writeFileSync(keyFile, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
      chmodSync(keyFile, 0o600);
    }
    const file = readKeyholderKeyFile(keyFile);
    return { member: file.member, accountIndex: file.accountIndex, publicKey: file.publicKey, keyFile };
  });
}

export function readKeyholderKeyFile(keyFile: string): KeyholderKeyFile {
  let file: KeyholderKeyFile;
  try {
    file = JSON.parse(readFileSync(keyFile, "utf8")) as KeyholderKeyFile;
  } catch (cause) {
    throw new BaseError(`Cannot read the keyholder key ${keyFile}.`, {
      cause,
      hints: ["Restore it from a backup: the data wrapped to this key cannot be decrypted without it."],
    });
  }
  // A public key that does not match the private key would wrap shares nobody can unwrap.
  if (bytesToHex(keyholderPublicKey(hexToBytes(file.privateKey))) !== file.publicKey.toLowerCase()) {
    throw new BaseError(`The keyholder key ${keyFile} is corrupt: its public key is not its private key's.`);
  }
  return file;
}
