import {
  hexToBigInt,
  parseSignature,
  recoverTypedDataAddress,
  type Address,
  type Hex,
  type TypedDataDefinition,
} from "viem";
import { WorkerError } from "../internal/WorkerError.ts";

/** Half the secp256k1 group order: signatures with a larger `s` are malleable copies (EIP-2). */
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/**
 * Recovers the signer of EIP-712 typed data, refusing malformed and malleable (high-s) signatures,
 * so each authorisation has exactly one valid encoding and cannot be replayed in another shape.
 */
export async function recoverTypedDataSigner(definition: TypedDataDefinition, signature: Hex): Promise<Address> {
  const malformed = (cause?: unknown) =>
    new WorkerError("SIGNATURE_INVALID", "The signature is malformed.", {
      cause,
      hints: ["Send the 65-byte signature (0x followed by 130 hex digits) that eth_signTypedData_v4 returns."],
    });
  if (signature.length !== 132) throw malformed();
  let s: Hex;
  try {
    ({ s } = parseSignature(signature));
  } catch (cause) {
    throw malformed(cause);
  }
  if (hexToBigInt(s) > SECP256K1_HALF_N) {
    throw new WorkerError("SIGNATURE_INVALID", "The signature has a high s value (a malleable signature).", {
      hints: ["Sign again with a standard wallet or library; they produce low-s signatures."],
    });
  }
  try {
    return await recoverTypedDataAddress({ ...definition, signature } as Parameters<typeof recoverTypedDataAddress>[0]);
  } catch (cause) {
    throw new WorkerError("SIGNATURE_INVALID", "The signature does not recover to any address.", { cause });
  }
}
