import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * A submission's upload capability: 32 random bytes, base64url (43 characters), returned once in
 * the `201` answer to its POST and sent back as `Authorization: Bearer <token>` on the PUT of its
 * data. Submission ids are public (listed by contributor, derived from contributor and nonce), so
 * the id alone must not let anyone upload. The worker keeps only the token's SHA-256: its journal
 * and backups give no one the right to upload, and a token of 256 random bits needs no slow hash.
 */
export function issueUploadToken(): { token: string; tokenHash: string } {
  const token = randomBytes(32).toString("base64url");
  return { token, tokenHash: hashUploadToken(token) };
}

/** Whether `token` is the one whose hash was kept; in constant time, so a guess learns nothing. */
export function isUploadToken(token: string | undefined, tokenHash: unknown): boolean {
  if (token === undefined || typeof tokenHash !== "string" || !/^[0-9a-f]{64}$/.test(tokenHash)) return false;
  return timingSafeEqual(Buffer.from(hashUploadToken(token), "hex"), Buffer.from(tokenHash, "hex"));
}

/** The token from an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(authorization ?? "");
  return match?.[1];
}

function hashUploadToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
