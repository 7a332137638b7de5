import { bytesToHex, type Address, type Hex } from "viem";
import { mnemonicToAccount, type HDAccount } from "viem/accounts";
import { BaseError } from "@dao-ai/pipeline-worker/errors";

/** Hardhat's and Anvil's public development mnemonic: for local chains only, never for real funds. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** How many development accounts the local chain funds (Anvil's default of 10 is too few for every part). */
export const DEV_ACCOUNT_COUNT = 20;

/**
 * The part each development account plays on the local stack. The indices follow the test helpers
 * (`test/helpers/system.ts`) where the parts are the same, so an address seen in a test means the
 * same thing in the demo.
 */
export const DEV_ROLES = {
  deployer: 0,
  holders: [1, 2, 3],
  attester: 5,
  contributor: 6,
  consumer: 7,
  worker: 8,
  outsider: 9,
  untrustedAttester: 10,
  keyholders: [11, 12, 13],
  guardianOwners: [14, 15, 16],
} as const;

/** What each account does, in words, for the summary `npm start` prints. */
export const DEV_ROLE_DESCRIPTIONS: { index: number; role: string }[] = [
  { index: DEV_ROLES.deployer, role: "deployer (holds no role after deployment)" },
  ...DEV_ROLES.holders.map((index, i) => ({
    index,
    role: `token holder ${"ABC"[i]} (votes, proposes)`,
  })),
  { index: DEV_ROLES.attester, role: "attester (trusted by the policy; attests data on EAS)" },
  { index: DEV_ROLES.contributor, role: "data contributor (on the submitter allowlist)" },
  { index: DEV_ROLES.consumer, role: "query consumer (has a quota)" },
  { index: DEV_ROLES.worker, role: "pipeline worker (authorised by the DAO)" },
  { index: DEV_ROLES.outsider, role: "outsider (allowed nothing; executes and relays)" },
  { index: DEV_ROLES.untrustedAttester, role: "attester the policy does not trust" },
  ...DEV_ROLES.keyholders.map((index, i) => ({ index, role: `keyholder ${i + 1} (committee of 3, threshold 2)` })),
  ...DEV_ROLES.guardianOwners.map((index, i) => ({ index, role: `guardian Safe owner ${i + 1} (2 of 3 sign)` })),
];

export function devAccount(index: number): HDAccount {
  if (!Number.isInteger(index) || index < 0 || index >= DEV_ACCOUNT_COUNT) {
    throw new BaseError(`There is no development account ${index}.`, {
      hints: [`Development accounts are numbered 0 to ${DEV_ACCOUNT_COUNT - 1}.`],
    });
  }
  return mnemonicToAccount(DEV_MNEMONIC, { addressIndex: index });
}

export function devAddress(index: number): Address {
  return devAccount(index).address;
}

/** The private key of a development account, for tools (the worker, protocol-kit) that take a key. */
export function devPrivateKey(index: number): Hex {
  const key = devAccount(index).getHdKey().privateKey;
  if (!key) throw new BaseError(`Development account ${index} has no private key.`);
  return bytesToHex(key);
}
