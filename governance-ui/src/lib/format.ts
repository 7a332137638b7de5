import { formatEther, formatUnits } from "viem";
import { formatDuration } from "@dao-ai/pipeline-worker/policy-words";

// The words a policy change is described in are the worker package's, shared with the demo; the
// rest of the app formats with the same functions.
export {
  formatDuration,
  formatEth,
  formatNumber,
  formatTime,
  plural,
  safeChecksum,
  shortAddress,
  shortHex,
} from "@dao-ai/pipeline-worker/policy-words";

const numberFormat = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });
const compactFormat = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 2 });

/** A token amount (18 decimals) for people: 1,234.5 or 1.2M. */
export function formatTokens(amount: bigint, { compact = false }: { compact?: boolean } = {}): string {
  const value = Number(formatUnits(amount, 18));
  return (compact ? compactFormat : numberFormat).format(value);
}

/** A balance at a glance: four decimals at most ("9,999.9999 ETH"). */
export function formatBalance(wei: bigint): string {
  const value = Number(formatEther(wei));
  return `${new Intl.NumberFormat("en", { maximumFractionDigits: 4 }).format(value)} ETH`;
}

/** "in 5 min" or "3 h ago", relative to `now` (seconds). */
export function formatRelative(seconds: number | bigint, now: number): string {
  const delta = Number(seconds) - now;
  if (delta === 0) return "just now";
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

export function percent(part: bigint, whole: bigint): number {
  if (whole === 0n) return 0;
  return Number((part * 10_000n) / whole) / 100;
}
