import type { Hex } from "viem";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { devPrivateKey } from "../stack/devAccounts.ts";

/**
 * The private key a CLI acts with: the environment variable `variable` when set; on the local
 * stack otherwise a development account's, `--account N` or the role's `devAccount`. On another
 * chain the variable is required (`needs` says what the key does there).
 */
export function cliPrivateKey(options: {
  variable: string;
  local: boolean;
  account: string | undefined;
  devAccount: number;
  needs: string;
}): Hex {
  const fromEnv = process.env[options.variable];
  if (fromEnv) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(fromEnv)) {
      throw new BaseError(`${options.variable} is not a private key.`, {
        hints: ["Export it as 0x followed by 64 hex digits."],
      });
    }
    return fromEnv as Hex;
  }
  if (!options.local) {
    throw new BaseError(`${options.variable} is not set.`, { hints: [options.needs] });
  }
  if (options.account !== undefined && !/^\d+$/.test(options.account)) {
    throw new BaseError(`--account must be a development account's number; got ${options.account}.`);
  }
  return devPrivateKey(options.account === undefined ? options.devAccount : Number(options.account));
}
