import { formatEther, getAddress, type Address } from "viem";

/**
 * How amounts, times and accounts read for people, in the sentences that describe policy changes
 * (`@dao-ai/pipeline-worker/policy-words`). The governance UI, the demo and the policy actions
 * table all say "0.01 ETH", "7 d" and "0xAbCd…1234" the same way because they use these.
 */

/** 0xAbCd…1234: enough to tell addresses apart at a glance; the full one goes in a title. */
export function shortAddress(address: string): string {
  const a = safeChecksum(address);
  return `${a.slice(0, 6)}…${a.slice(-4)}`;
}

export function shortHex(hex: string, keep = 6): string {
  return hex.length <= 2 + keep * 2 ? hex : `${hex.slice(0, 2 + keep)}…${hex.slice(-keep)}`;
}

/** The checksummed address, or the text as given when it is not an address (so a label never throws). */
export function safeChecksum(address: string): Address {
  try {
    return getAddress(address);
  } catch {
    return address as Address;
  }
}

const numberFormat = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });

/** Wei as ETH, without trailing zeros: "0.01 ETH". */
export function formatEth(wei: bigint): string {
  return `${formatEther(wei)} ETH`;
}

export function formatNumber(value: bigint | number): string {
  return numberFormat.format(typeof value === "bigint" ? Number(value) : value);
}

/** A duration in seconds, in the two largest units: "2 d 3 h", "45 s". */
export function formatDuration(seconds: number | bigint): string {
  let s = Math.max(0, Math.round(Number(seconds)));
  if (s === 0) return "0 s";
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3_600],
    ["min", 60],
    ["s", 1],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)} ${unit}`);
      s %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

const dateTimeFormat = new Intl.DateTimeFormat("en-GB", {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** A unix timestamp in seconds, as a local date and time. */
export function formatTime(seconds: number | bigint): string {
  return dateTimeFormat.format(new Date(Number(seconds) * 1000));
}

export function plural(count: number | bigint, one: string, many = `${one}s`): string {
  return `${formatNumber(count)} ${count === 1 || count === 1n ? one : many}`;
}
