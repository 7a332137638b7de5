import {
  BaseError as ViemError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  HttpRequestError,
  InsufficientFundsError,
  UserRejectedRequestError,
  type AbiParameter,
  type Hex,
} from "viem";
import { systemErrorsAbi } from "./abis.ts";
import { meaningOf, safeErrorMeanings } from "./errorMeanings.ts";
import { WorkerProblemError } from "./workerApi.ts";

/** An error as the app shows it: a name a person can search for, and what it means. */
export type DecodedError = {
  /** The custom error's name (PolicyUnauthorized), the worker's code (QUOTA_EXHAUSTED), or a short kind. */
  name: string;
  /** What happened and what to do, in plain words. */
  meaning: string;
  /** The error's arguments, for the curious. */
  args: { name: string; value: string }[];
  /** The full underlying message. */
  details?: string | undefined;
};

const PANICS: Record<string, string> = {
  "1": "an assertion failed",
  "17": "an arithmetic overflow or underflow",
  "18": "a division by zero",
  "50": "an array index out of bounds",
};

/**
 * Turns anything a read, a simulation or a transaction threw into a DecodedError. Revert data is
 * decoded against every error of every contract of the system (a revert in the registry bubbles
 * up through the timelock and the Governor), so the person sees `PolicyZeroAddress` and what it
 * means, never a hex string.
 */
export function decodeError(error: unknown): DecodedError {
  if (error instanceof WorkerProblemError) {
    return {
      name: error.problem.code,
      meaning: [error.problem.detail, ...(error.problem.hints ?? [])].join(" "),
      args: [],
      details: error.problem.title,
    };
  }
  if (!(error instanceof ViemError)) {
    const message = error instanceof Error ? error.message : String(error);
    return { name: error instanceof Error ? error.name : "Error", meaning: message, args: [] };
  }
  const details = error.shortMessage;

  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError) as
    ContractFunctionRevertedError | undefined;
  const data = reverted?.raw ?? revertDataOf(error);
  if (data && data.length >= 10) {
    const decoded = decodeRevert(data);
    if (decoded) return { ...decoded, details };
  }
  if (reverted?.data) {
    const { errorName, args = [], abiItem } = reverted.data;
    return described(errorName, args, "inputs" in abiItem ? abiItem.inputs : [], details);
  }
  if (reverted?.reason) return described("Error", [reverted.reason], [{ name: "reason", type: "string" }], details);

  if (error.walk((e) => e instanceof UserRejectedRequestError)) {
    return { name: "UserRejected", meaning: "You declined the request in your wallet; nothing was sent.", args: [] };
  }
  if (error.walk((e) => e instanceof InsufficientFundsError)) {
    return {
      name: "InsufficientFunds",
      meaning: "This account cannot pay for the gas and value of this transaction.",
      args: [],
      details,
    };
  }
  if (error.walk((e) => e instanceof HttpRequestError)) {
    return {
      name: "ChainUnreachable",
      meaning: "The chain's JSON-RPC endpoint did not answer. Check that the node is running.",
      args: [],
      details,
    };
  }
  if (reverted) {
    return {
      name: "Reverted",
      meaning: "The contract refused the call without saying why.",
      args: [],
      details,
    };
  }
  return { name: error.name.replace(/Error$/, ""), meaning: details, args: [], details: error.message };
}

/** Decodes raw revert data against the system's errors; undefined when the selector is unknown. */
export function decodeRevert(data: Hex): DecodedError | undefined {
  try {
    const { errorName, args = [], abiItem } = decodeErrorResult({ abi: systemErrorsAbi, data });
    return described(errorName, args, "inputs" in abiItem ? abiItem.inputs : [], undefined);
  } catch {
    return {
      name: "UnknownError",
      meaning: `The contract reverted with an unknown error (${data.slice(0, 10)}).`,
      args: [],
    };
  }
}

function described(
  name: string,
  args: readonly unknown[],
  inputs: readonly AbiParameter[],
  details: string | undefined,
): DecodedError {
  let meaning = meaningOf(name, args, inputs);
  if (name === "Error") {
    const reason = String(args[0] ?? "");
    meaning = safeErrorMeanings[reason] ?? reason;
  } else if (name === "Panic") {
    meaning = `The contract failed with ${PANICS[String(args[0])] ?? `panic code ${String(args[0])}`}.`;
  }
  return {
    name,
    meaning: meaning ?? "The contract refused the call.",
    args: args.map((value, i) => ({ name: inputs[i]?.name || `arg${i}`, value: formatArg(value) })),
    details,
  };
}

function formatArg(value: unknown): string {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(formatArg).join(", ")}]`;
  return String(value);
}

/** Finds revert data anywhere in the cause chain (nodes put it in different places). */
function revertDataOf(error: ViemError): Hex | undefined {
  let found: Hex | undefined;
  error.walk((e) => {
    const candidate = (e as { data?: unknown }).data;
    const hex = typeof candidate === "string" ? candidate : (candidate as { data?: unknown } | undefined)?.data;
    if (typeof hex === "string" && /^0x[0-9a-fA-F]{8,}$/.test(hex)) {
      found = hex as Hex;
      return true;
    }
    return false;
  });
  return found;
}
