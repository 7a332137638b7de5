import { readFileSync } from "node:fs";
import { formatEther, getAddress, isAddress, parseEther, type Address } from "viem";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { DEFAULT_GOVERNOR_SETTINGS, type DeploySystemParameters, type GovernorSettings } from "./deploySystem.ts";
import { DEV_ROLES, devAddress } from "../stack/devAccounts.ts";
import { HOLDER_ALLOCATIONS, LOCAL_SETTINGS } from "./deployLocalStack.ts";

/** The chain id of Hardhat's and Anvil's development chains, where the demo's short timings apply. */
export const LOCAL_CHAIN_ID = 31337;

const HOUR = 3600;
const DAY = 86_400;

/**
 * The shortest governance timings deploy accepts off the local chain, in seconds. A vote shorter
 * than a day, or a timelock shorter than a day, leaves holders and the guardian no time to notice a
 * hostile proposal and act (vote against it, engage the kill switch, leave); an hour before the
 * snapshot lets holders delegate before the votes are counted.
 */
export const PUBLIC_MINIMUMS = { votingDelay: HOUR, votingPeriod: DAY, timelockDelay: DAY, quorumPercent: 1 } as const;

/** The command-line flags deploy takes for the token's holders and the governance settings. */
export type DeployFlags = {
  holder?: string[] | undefined;
  holders?: string | undefined;
  supply?: string | undefined;
  "voting-delay"?: string | undefined;
  "voting-period"?: string | undefined;
  "late-quorum-extension"?: string | undefined;
  "block-time"?: string | undefined;
  "timelock-delay"?: string | undefined;
  "proposal-threshold"?: string | undefined;
  quorum?: string | undefined;
};

/** How the Governor measures time: EIP-6372's CLOCK_MODE of the token, parsed. */
export type Clock = "blocknumber" | "timestamp";

export function parseClockMode(clockMode: string): Clock {
  const mode = new URLSearchParams(clockMode).get("mode");
  if (mode === "blocknumber" || mode === "timestamp") return mode;
  throw new BaseError(`The token's CLOCK_MODE "${clockMode}" is neither block numbers nor timestamps.`);
}

export type DeployParametersOptions = {
  chainId: number;
  /** The token's clock (its CLOCK_MODE), which the Governor's delay, period and extension count in. */
  clock: Clock;
};

export type DeployParametersReturnType = Required<
  Pick<DeploySystemParameters, "allocations" | "tokenSupply" | "governor" | "timelockMinDelay">
> & { governor: GovernorSettings };

/** A refusal: one line that says what is wrong and how to fix it. */
function refuse(message: string): never {
  throw new BaseError(message);
}

/**
 * Turns deploy's flags into deploySystem's holders and governance settings. On the local chain
 * everything has the demo's defaults (three development holders, a 50-block vote, a 60 s
 * timelock). Anywhere else nothing is assumed: the initial holders and the timings must be given,
 * the timings must meet PUBLIC_MINIMUMS in the Governor's own clock, and the holders must be able,
 * together, to reach the proposal threshold and the quorum, or no vote could ever pass and the
 * supply left in the timelock could never be moved.
 */
export function deployParameters(flags: DeployFlags, options: DeployParametersOptions): DeployParametersReturnType {
  const local = options.chainId === LOCAL_CHAIN_ID;
  const where = `on chain ${options.chainId}`;
  const tokenSupply = tokens("supply", flags.supply ?? "1000000");

  const allocations = holdersOf(flags);
  if (allocations.length === 0) {
    if (!local) {
      refuse(
        `No initial token holders ${where}: pass --holder 0xADDRESS:TOKENS (repeat it) or --holders FILE; without holders the whole supply goes to the timelock and no one can ever propose.`,
      );
    }
    allocations.push(
      ...DEV_ROLES.holders.map((index, i) => ({ to: devAddress(index), amount: HOLDER_ALLOCATIONS[i]! })),
    );
  }
  const allocated = allocations.reduce((sum, a) => sum + a.amount, 0n);
  if (allocated > tokenSupply) {
    refuse(
      `The holders get ${formatEther(allocated)} tokens, more than the supply of ${formatEther(tokenSupply)}: lower their amounts or raise --supply.`,
    );
  }

  // Seconds per clock unit, to compare the Governor's timings with minimums in seconds.
  let secondsPerTick = 1;
  if (options.clock === "blocknumber") {
    const blockTime = flags["block-time"];
    if (blockTime === undefined) {
      if (!local) {
        refuse(
          `--block-time is required ${where}: the Governor counts its delay and period in blocks (the token's CLOCK_MODE is block numbers); pass the seconds between blocks as the contracts see block.number (12 on Ethereum and Arbitrum, 2 on Base and OP).`,
        );
      }
    } else {
      secondsPerTick = Number(blockTime);
      if (!Number.isFinite(secondsPerTick) || secondsPerTick <= 0) {
        refuse(`--block-time must be a positive number of seconds, not "${blockTime}".`);
      }
    }
  }
  const unit = options.clock === "blocknumber" ? "blocks" : "seconds";

  /** A timing flag in the Governor's clock: a bare number of ticks, or a duration such as 7d. */
  function ticks(flag: string, value: string): number {
    const match = /^(\d+(?:\.\d+)?)(s|m|h|d)?$/.exec(value.trim());
    if (!match) refuse(`--${flag} must be a number of ${unit} or a duration such as 7d, 12h or 30m, not "${value}".`);
    if (!match[2]) {
      if (!Number.isInteger(Number(match[1]))) refuse(`--${flag} must be a whole number of ${unit}, not "${value}".`);
      return Number(match[1]);
    }
    const seconds = Number(match[1]) * { s: 1, m: 60, h: HOUR, d: DAY }[match[2] as "s" | "m" | "h" | "d"];
    if (options.clock === "blocknumber" && flags["block-time"] === undefined) {
      refuse(`--${flag} ${value} is a duration: pass --block-time too, to turn it into blocks.`);
    }
    return Math.ceil(seconds / secondsPerTick);
  }

  function timing(flag: "voting-delay" | "voting-period", fallback: number, minimumSeconds: number): number {
    const value = flags[flag];
    if (value === undefined) {
      if (local) return fallback;
      refuse(
        `--${flag} is required ${where}: pass it in ${unit} or as a duration (e.g. --${flag} ${flag === "voting-period" ? "7d" : "1d"}); the local chain's ${fallback} ${unit} are far too short for real holders.`,
      );
    }
    const n = ticks(flag, value);
    if (!local && n * secondsPerTick < minimumSeconds) {
      const needed = Math.ceil(minimumSeconds / secondsPerTick);
      refuse(
        `--${flag} ${value} is ${describe(n * secondsPerTick)}, under the minimum of ${describe(minimumSeconds)} ${where}: pass --${flag} ${needed} (${unit}) or more.`,
      );
    }
    return n;
  }

  const votingDelay = timing("voting-delay", DEFAULT_GOVERNOR_SETTINGS.votingDelay, PUBLIC_MINIMUMS.votingDelay);
  const votingPeriod = timing("voting-period", DEFAULT_GOVERNOR_SETTINGS.votingPeriod, PUBLIC_MINIMUMS.votingPeriod);
  // A vote that reaches quorum late is extended by this much, so a last-minute whale cannot
  // decide it unopposed: a day of clock by default off the local chain, never more than the vote.
  const lateQuorumExtension =
    flags["late-quorum-extension"] !== undefined
      ? ticks("late-quorum-extension", flags["late-quorum-extension"])
      : local
        ? DEFAULT_GOVERNOR_SETTINGS.lateQuorumExtension
        : Math.min(votingPeriod, Math.ceil(DAY / secondsPerTick));

  let timelockMinDelay = LOCAL_SETTINGS.timelockMinDelay;
  const delay = flags["timelock-delay"];
  if (delay === undefined) {
    if (!local) {
      refuse(
        `--timelock-delay is required ${where}: pass the seconds between a vote passing and its execution, at least ${PUBLIC_MINIMUMS.timelockDelay} (1 day), e.g. --timelock-delay 2d.`,
      );
    }
  } else {
    const match = /^(\d+)(s|m|h|d)?$/.exec(delay.trim());
    if (!match) refuse(`--timelock-delay must be a whole number of seconds or a duration such as 2d, not "${delay}".`);
    timelockMinDelay = BigInt(match[1]!) * BigInt({ s: 1, m: 60, h: HOUR, d: DAY }[(match[2] ?? "s") as "s"]);
    if (!local && timelockMinDelay < BigInt(PUBLIC_MINIMUMS.timelockDelay)) {
      refuse(
        `--timelock-delay ${delay} is ${describe(Number(timelockMinDelay))}, under the minimum of 1 day ${where}: pass --timelock-delay ${PUBLIC_MINIMUMS.timelockDelay} or more.`,
      );
    }
  }

  const proposalThreshold =
    flags["proposal-threshold"] !== undefined
      ? tokens("proposal-threshold", flags["proposal-threshold"], true)
      : DEFAULT_GOVERNOR_SETTINGS.proposalThreshold;
  let quorumNumerator = DEFAULT_GOVERNOR_SETTINGS.quorumNumerator;
  if (flags.quorum !== undefined) {
    const q = flags.quorum.trim().replace(/%$/, "");
    if (!/^\d+$/.test(q) || Number(q) > 100)
      refuse(`--quorum must be a whole percentage of the supply, 0 to 100, not "${flags.quorum}".`);
    quorumNumerator = BigInt(q);
  }
  if (!local && quorumNumerator < BigInt(PUBLIC_MINIMUMS.quorumPercent)) {
    refuse(
      `--quorum ${flags.quorum} lets a single token pass any vote ${where}: pass --quorum ${PUBLIC_MINIMUMS.quorumPercent} or more.`,
    );
  }

  // Nobody holds votes at genesis but the holders given here (the rest is in the timelock, which
  // votes only by a proposal): together, once they delegate, they must be able to propose and to
  // carry a vote, or the DAO is stuck from its first day.
  const quorum = (tokenSupply * quorumNumerator) / 100n;
  if (allocated < proposalThreshold || allocated === 0n) {
    refuse(
      `The holders' ${formatEther(allocated)} tokens cannot reach the proposal threshold of ${formatEther(proposalThreshold)}: allocate more with --holder or lower --proposal-threshold.`,
    );
  }
  if (allocated < quorum) {
    refuse(
      `The holders' ${formatEther(allocated)} tokens cannot reach the quorum of ${formatEther(quorum)} (${quorumNumerator}% of ${formatEther(tokenSupply)}): allocate more with --holder or lower --quorum.`,
    );
  }

  return {
    allocations,
    tokenSupply,
    governor: { votingDelay, votingPeriod, proposalThreshold, quorumNumerator, lateQuorumExtension },
    timelockMinDelay,
  };
}

/** The initial holders from --holder ADDRESS:TOKENS flags and a --holders JSON file, in that order. */
function holdersOf(flags: DeployFlags): { to: Address; amount: bigint }[] {
  const entries: [string, string][] = [];
  for (const h of flags.holder ?? []) {
    const at = h.lastIndexOf(":");
    if (at < 0) refuse(`--holder ${h} must be ADDRESS:TOKENS, e.g. --holder 0xAbC...:250000.`);
    entries.push([h.slice(0, at).trim(), h.slice(at + 1).trim()]);
  }
  if (flags.holders !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(flags.holders, "utf8"));
    } catch (cause) {
      refuse(
        `Cannot read the holders file ${flags.holders} (${(cause as Error).message}): it must be a JSON object from address to tokens, e.g. {"0xAbC...": "250000"}.`,
      );
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      refuse(
        `The holders file ${flags.holders} must be a JSON object from address to tokens, e.g. {"0xAbC...": "250000"}.`,
      );
    }
    for (const [address, amount] of Object.entries(parsed)) entries.push([address, String(amount)]);
  }
  const seen = new Set<Address>();
  return entries.map(([address, amount]) => {
    if (!isAddress(address, { strict: false }))
      refuse(`The holder "${address}" is not an address: pass a 0x-prefixed 20-byte address.`);
    const to = getAddress(address);
    if (seen.has(to)) refuse(`The holder ${to} is listed twice: give each holder once, with its whole amount.`);
    seen.add(to);
    return { to, amount: tokens(`holder ${to}`, amount) };
  });
}

/** A number of whole tokens (18 decimals), as flags and the holders file give them. */
function tokens(what: string, value: string, zeroAllowed = false): bigint {
  const v = value.trim().replace(/_/g, "");
  if (!/^\d+(\.\d{1,18})?$/.test(v))
    refuse(`The ${what} must be a number of tokens such as 250000 or 0.5, not "${value}".`);
  const amount = parseEther(v);
  if (amount === 0n && !zeroAllowed) refuse(`The ${what} must be more than 0 tokens.`);
  return amount;
}

function describe(seconds: number): string {
  if (seconds >= DAY) return `${+(seconds / DAY).toFixed(2)} day(s)`;
  if (seconds >= HOUR) return `${+(seconds / HOUR).toFixed(2)} hour(s)`;
  return `${+seconds.toFixed(2)} s`;
}
