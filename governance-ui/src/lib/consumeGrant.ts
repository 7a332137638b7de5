import { keyGrantTypes, usageDomain, type KeyGrantMessage } from "@dao-ai/pipeline-worker/eip712";
import type { Address } from "viem";
import { keyGrantToWire, type KeyStatus } from "@dao-ai/pipeline-worker/consumer-api";
import type { ConsumeApi } from "./consumeApi.ts";
import { createApiKeySecret, type ApiKeySecret } from "./consumeSessionKey.ts";
import type { ConnectedWallet } from "./WalletContext.tsx";

export type AuthorizeKeyParameters = {
  wallet: ConnectedWallet;
  consumeApi: ConsumeApi;
  chainId: number;
  usageSettlement: Address;
  /** The grant's bounds; the key and the consumer are filled in. */
  bounds: Pick<KeyGrantMessage, "worker" | "maxQueries" | "maxFeePerQuery" | "expiresAt">;
};

export type AuthorizedKey = ApiKeySecret & { info: KeyStatus };

/**
 * Makes a key, has the wallet sign its KeyGrant (the one prompt) and registers the grant at the
 * worker, which from then on takes the key's bearer token. The secret never leaves this function
 * except in its result: the caller shows it once or keeps it in the tab.
 */
export async function authorizeKey(parameters: AuthorizeKeyParameters): Promise<AuthorizedKey> {
  const { wallet, bounds } = parameters;
  const secret = createApiKeySecret();
  const grant: KeyGrantMessage = { consumer: wallet.address, key: secret.address, ...bounds };
  const signature = await wallet.client.signTypedData({
    account: wallet.client.account,
    domain: usageDomain(parameters.chainId, parameters.usageSettlement),
    types: keyGrantTypes,
    primaryType: "KeyGrant",
    message: grant,
  });
  const info = await parameters.consumeApi.registerKey(keyGrantToWire(grant), signature);
  return { ...secret, info };
}
