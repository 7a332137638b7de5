import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { getAddress, parseEther } from "viem";
import { BaseError } from "@dao-ai/pipeline-worker/errors";
import { DEFAULT_GOVERNOR_SETTINGS } from "../../scripts/lib/deploy/deploySystem.ts";
import {
  deployParameters,
  parseClockMode,
  type DeployFlags,
  type DeployParametersOptions,
} from "../../scripts/lib/deploy/deployParameters.ts";
import { DEV_ROLES, devAddress } from "../../scripts/lib/stack/devAccounts.ts";

// What deploy accepts off the local chain: the flags an operator gives, checked before anything is
// deployed. Each refusal is one line that says what is wrong and how to fix it.

const BASE_SEPOLIA: DeployParametersOptions = { chainId: 84532, clock: "blocknumber" };
const A = getAddress(`0x${"a1".repeat(20)}`);
const B = getAddress(`0x${"b2".repeat(20)}`);

/** A correct public deployment's flags: two holders, a day's delay, a week's vote, a two-day timelock. */
const publicFlags: DeployFlags = {
  holder: [`${A}:400000`, `${B}:250000`],
  "block-time": "2",
  "voting-delay": "1d",
  "voting-period": "7d",
  "timelock-delay": "2d",
};

function refusal(flags: DeployFlags, options = BASE_SEPOLIA): string {
  try {
    deployParameters(flags, options);
  } catch (error) {
    expect(error).toBeInstanceOf(BaseError);
    const message = (error as BaseError).message;
    expect(message.split("\n")).toHaveLength(1);
    return message;
  }
  throw new Error("expected a refusal");
}

describe("deployParameters", () => {
  it("refuses the old public invocation with no holders, which would give the timelock the whole supply", () => {
    expect(refusal({})).toMatch(/^No initial token holders on chain 84532: pass --holder 0xADDRESS:TOKENS/);
    expect(refusal({ "timelock-delay": "86400", "voting-delay": "7200", "voting-period": "50400" })).toMatch(
      /No initial token holders/,
    );
  });

  it("refuses the local chain's timings on a public chain, naming the flag and the value to pass", () => {
    const { "voting-period": _period, ...noPeriod } = publicFlags;
    expect(refusal(noPeriod)).toMatch(/^--voting-period is required on chain 84532/);
    expect(refusal({ ...publicFlags, "voting-period": "50" })).toBe(
      "--voting-period 50 is 100 s, under the minimum of 1 day(s) on chain 84532: pass --voting-period 43200 (blocks) or more.",
    );
    expect(refusal({ ...publicFlags, "voting-delay": "1" })).toMatch(
      /^--voting-delay 1 is 2 s, under the minimum of 1 hour/,
    );
    expect(refusal({ ...publicFlags, "timelock-delay": "60" })).toBe(
      "--timelock-delay 60 is 60 s, under the minimum of 1 day on chain 84532: pass --timelock-delay 86400 or more.",
    );
    const { "timelock-delay": _delay, ...noDelay } = publicFlags;
    expect(refusal(noDelay)).toMatch(/^--timelock-delay is required/);
    expect(refusal({ ...publicFlags, quorum: "0" })).toMatch(/^--quorum 0 lets a single token pass any vote/);
  });

  it("needs the block time where the Governor counts in blocks, and counts minimums in seconds where it counts in seconds", () => {
    const { "block-time": _bt, ...noBlockTime } = publicFlags;
    expect(refusal(noBlockTime)).toMatch(/^--block-time is required on chain 84532: the Governor counts .* in blocks/);
    // On Ethereum's 12 s blocks, a day is 7200 blocks.
    expect(refusal({ ...publicFlags, "block-time": "12", "voting-period": "7199" })).toMatch(
      /pass --voting-period 7200 \(blocks\) or more/,
    );
    const params = deployParameters({ ...publicFlags, "block-time": "12", "voting-period": "7200" }, BASE_SEPOLIA);
    expect(params.governor.votingPeriod).toBe(7200);
    // A timestamp clock needs no block time: its ticks are seconds.
    const { "block-time": _, ...timestampFlags } = { ...publicFlags, "voting-period": "86399" };
    expect(refusal(timestampFlags, { chainId: 84532, clock: "timestamp" })).toMatch(
      /pass --voting-period 86400 \(seconds\) or more/,
    );
  });

  it("refuses holders who together cannot propose or reach the quorum", () => {
    expect(refusal({ ...publicFlags, holder: [`${A}:10`] })).toBe(
      "The holders' 10 tokens cannot reach the quorum of 40000 (4% of 1000000): allocate more with --holder or lower --quorum.",
    );
    expect(refusal({ ...publicFlags, holder: [`${A}:500000`], "proposal-threshold": "600000" })).toMatch(
      /cannot reach the proposal threshold of 600000/,
    );
    expect(refusal({ ...publicFlags, holder: [`${A}:900000`, `${B}:200000`] })).toMatch(/more than the supply/);
    expect(refusal({ ...publicFlags, holder: [`${A}:1`, `${A.toLowerCase()}:2`] })).toMatch(/listed twice/);
    expect(refusal({ ...publicFlags, holder: ["0x1234:5"] })).toMatch(/is not an address/);
    expect(refusal({ ...publicFlags, holder: [`${A}`] })).toMatch(/must be ADDRESS:TOKENS/);
  });

  it("takes a correct public deployment's holders from flags and a file, and its timings in blocks", () => {
    const file = join(mkdtempSync(join(tmpdir(), "holders-")), "holders.json");
    const C = getAddress(`0x${"c3".repeat(20)}`);
    writeFileSync(file, JSON.stringify({ [C]: "50000", [B.toLowerCase()]: 250000 }));
    const params = deployParameters(
      { ...publicFlags, holder: [`${A}:400000`], holders: file, "proposal-threshold": "1000", quorum: "10%" },
      BASE_SEPOLIA,
    );
    expect(params.allocations).toEqual([
      { to: A, amount: parseEther("400000") },
      { to: C, amount: parseEther("50000") },
      { to: B, amount: parseEther("250000") },
    ]);
    expect(params.governor).toEqual({
      votingDelay: 43_200,
      votingPeriod: 302_400,
      proposalThreshold: parseEther("1000"),
      quorumNumerator: 10n,
      lateQuorumExtension: 43_200,
    });
    expect(params.timelockMinDelay).toBe(172_800n);
    expect(params.tokenSupply).toBe(parseEther("1000000"));
  });

  it("keeps the local chain's demo defaults: the development holders and short timings", () => {
    const params = deployParameters({}, { chainId: 31337, clock: "blocknumber" });
    expect(params.allocations.map((a) => a.to)).toEqual(DEV_ROLES.holders.map(devAddress));
    expect(params.governor).toEqual(DEFAULT_GOVERNOR_SETTINGS);
    expect(params.timelockMinDelay).toBe(60n);
  });

  it("reads the token's clock from its CLOCK_MODE", () => {
    expect(parseClockMode("mode=blocknumber&from=default")).toBe("blocknumber");
    expect(parseClockMode("mode=timestamp")).toBe("timestamp");
    expect(() => parseClockMode("mode=other")).toThrow(BaseError);
  });
});
