import { formatEther, formatUnits, getAddress, type Address } from "viem";

/** 0xAbCd…1234: enough to tell addresses apart at a glance; the full one goes in a title. */
export function shortAddress(address: string): string {
  const a = safeChecksum(address);
  return `${a.slice(0, 6)}…${a.slice(-4)}`;
}

export function shortHex(hex: string, keep = 6): string {
  return hex.length <= 2 + keep * 2 ? hex : `${hex.slice(0, 2 + keep)}…${hex.slice(-keep)}`;
}

export function safeChecksum(address: string): Address {
  try {
    return getAddress(address);
  } catch {
    return address as Address;
  }
}

const numberFormat = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });
const compactFormat = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 2 });

/** A token amount (18 decimals) for people: 1,234.5 or 1.2M. */
export function formatTokens(amount: bigint, { compact = false }: { compact?: boolean } = {}): string {
  const value = Number(formatUnits(amount, 18));
  return (compact ? compactFormat : numberFormat).format(value);
}

/** Wei as ETH, without trailing zeros: "0.01 ETH". */
export function formatEth(wei: bigint): string {
  return `${formatEther(wei)} ETH`;
}

/** A balance at a glance: four decimals at most ("9,999.9999 ETH"). */
export function formatBalance(wei: bigint): string {
  const value = Number(formatEther(wei));
  return `${new Intl.NumberFormat("en", { maximumFractionDigits: 4 }).format(value)} ETH`;
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

/** "in 5 min" or "3 h ago", relative to `now` (seconds). */
export function formatRelative(seconds: number | bigint, now: number): string {
  const delta = Number(seconds) - now;
  if (delta === 0) return "just now";
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

export function plural(count: number | bigint, one: string, many = `${one}s`): string {
  return `${formatNumber(count)} ${count === 1 || count === 1n ? one : many}`;
}

export function percent(part: bigint, whole: bigint): number {
  if (whole === 0n) return 0;
  return Number((part * 10_000n) / whole) / 100;
}
