import { HDKey, hdKeyToAccount, type HDAccount } from "viem/accounts";

/** Hardhat's and Anvil's public development mnemonic: its accounts are funded on local chains only. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";
export const DEV_ACCOUNT_COUNT = 20;

let accounts: Promise<HDAccount[]> | undefined;

/**
 * The development accounts, derived once. The BIP-39 seed comes from WebCrypto's PBKDF2, which is
 * native and fast; viem's mnemonicToAccount would run the 2,048 rounds in JavaScript per account.
 */
export function devAccounts(): Promise<HDAccount[]> {
  accounts ??= (async () => {
    const encoder = new TextEncoder();
    const key = await crypto.subtle.importKey("raw", encoder.encode(DEV_MNEMONIC.normalize("NFKD")), "PBKDF2", false, [
      "deriveBits",
    ]);
    const bits = await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-512", salt: encoder.encode("mnemonic"), iterations: 2048 },
      key,
      512,
    );
    const master = HDKey.fromMasterSeed(new Uint8Array(bits));
    return Array.from({ length: DEV_ACCOUNT_COUNT }, (_, addressIndex) => hdKeyToAccount(master, { addressIndex }));
  })();
  return accounts;
}
