import { bearerTokenOf, privateKeyOfBearerToken } from "@dao-ai/pipeline-worker/consumer-api";
import type { Address } from "viem";
import { generatePrivateKey, privateKeyToAddress } from "viem/accounts";

/** An API key as the consumer holds it: the bearer token is the key's secp256k1 private key. */
export type ApiKeySecret = { token: string; address: Address };

/** A fresh key: its secret (shown once, or kept by this tab) and the address the grant names. */
export function createApiKeySecret(): ApiKeySecret {
  const privateKey = generatePrivateKey();
  return { token: bearerTokenOf(privateKey), address: privateKeyToAddress(privateKey) };
}

/** The key a tab authorised for its own questions, with the grant's bounds, as it keeps it. */
export type SessionKey = ApiKeySecret & { maxQueries: string; maxFeePerQuery: string; expiresAt: number };

/**
 * The page's session key lives in sessionStorage, not IndexedDB or localStorage: it is gone when
 * the tab closes, so a key left behind on a shared machine dies with the tab, and every tab
 * authorises its own (one wallet signature). IndexedDB could hold a non-extractable WebCrypto key,
 * but WebCrypto has no secp256k1 and the bearer token must be sent as text anyway, so it would
 * protect nothing more; the grant's cap and expiry bound what a leaked token can spend.
 * The entry is per chain, settlement contract, worker and consumer, so switching any of them never
 * reuses a key that another grant names.
 */
function storageKey(scope: { chainId: number; usageSettlement: Address; worker: string; consumer: Address }) {
  return `consume:session-key:${scope.chainId}:${scope.usageSettlement}:${scope.worker}:${scope.consumer}`.toLowerCase();
}

export type SessionKeyScope = Parameters<typeof storageKey>[0];

export function loadSessionKey(scope: SessionKeyScope, nowSeconds: number): SessionKey | null {
  const stored = sessionStorage.getItem(storageKey(scope));
  if (stored === null) return null;
  try {
    const key = JSON.parse(stored) as SessionKey;
    // A corrupted or expired entry is dropped, never used: the worker would refuse it anyway.
    if (privateKeyToAddress(privateKeyOfBearerToken(key.token)) !== key.address || key.expiresAt <= nowSeconds) {
      forgetSessionKey(scope);
      return null;
    }
    return key;
  } catch {
    forgetSessionKey(scope);
    return null;
  }
}

export function saveSessionKey(scope: SessionKeyScope, key: SessionKey): void {
  sessionStorage.setItem(storageKey(scope), JSON.stringify(key));
}

export function forgetSessionKey(scope: SessionKeyScope): void {
  sessionStorage.removeItem(storageKey(scope));
}
