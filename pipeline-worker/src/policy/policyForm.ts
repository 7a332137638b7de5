import { getAddress, isAddress, keccak256, parseEther, toHex, type Address, type Hex } from "viem";

/**
 * The proposal builder's form inputs and how their text is parsed (`@dao-ai/pipeline-worker/policy-form`).
 * Every value is kept as the text typed and parsed when the action is built, so a half-typed form
 * shows what is wrong with each field instead of losing what was typed.
 */

/** One input of an action's form. */
export type FieldSpec = {
  name: string;
  label: string;
  type:
    | "address"
    | "addresses"
    | "number"
    | "eth"
    | "text"
    | "textarea"
    | "bytes32"
    | "datetime"
    | "duration"
    | "select"
    | "hex";
  help?: string;
  placeholder?: string;
  options?: { value: string; label: string }[];
};

/** A form's result: what it built, or a message per field that is wrong. */
export type FormResult<T> = { ok: true; value: T } | { ok: false; errors: Record<string, string> };

/** Parses a form's values field by field, collecting one message per wrong field; `done` returns them, or what was built. */
export function createFieldParser(values: Record<string, string>) {
  const errors: Record<string, string> = {};
  const value = (name: string) => (values[name] ?? "").trim();
  return {
    errors,
    address(name: string): Address {
      const v = value(name);
      if (!isAddress(v)) {
        errors[name] = v === "" ? "Enter an address." : "Not an address (0x followed by 40 hex digits).";
        return "0x0000000000000000000000000000000000000000";
      }
      return getAddress(v);
    },
    addresses(name: string): Address[] {
      const parts = value(name)
        .split(/[\s,;]+/)
        .filter(Boolean);
      if (parts.length === 0) errors[name] = "Enter at least one address.";
      const bad = parts.filter((p) => !isAddress(p));
      if (bad.length > 0) errors[name] = `Not an address: ${bad[0]}`;
      const list = parts.filter((p) => isAddress(p)).map((p) => getAddress(p));
      if (new Set(list).size !== list.length) errors[name] = "Each address may appear once.";
      return list;
    },
    integer(name: string, { min = 0n, max }: { min?: bigint; max?: bigint } = {}): bigint {
      const v = value(name);
      if (!/^\d+$/.test(v)) {
        errors[name] = "Enter a whole number.";
        return 0n;
      }
      const n = BigInt(v);
      if (n < min) errors[name] = `Must be at least ${min}.`;
      if (max !== undefined && n > max) errors[name] = `Must be at most ${max}.`;
      return n;
    },
    eth(name: string): bigint {
      const v = value(name);
      if (/^\d*\.?\d+$/.test(v)) {
        try {
          return parseEther(v);
        } catch {
          // More decimals than wei has: refused below like any other malformed amount.
        }
      }
      errors[name] = "Enter an amount in ETH, e.g. 0.01.";
      return 0n;
    },
    duration(name: string): bigint {
      const match = /^(\d+)\s*(s|sec|m|min|h|d|w)?$/i.exec(value(name));
      if (!match) {
        errors[name] = "Enter a duration: 3600, 90 min, 12 h or 7 d.";
        return 0n;
      }
      const unit = { s: 1n, sec: 1n, m: 60n, min: 60n, h: 3600n, d: 86_400n, w: 604_800n }[
        (match[2] ?? "s").toLowerCase() as "s"
      ];
      return BigInt(match[1]!) * unit;
    },
    /** A bytes32: given as 0x + 64 hex digits, or any text, which is hashed (keccak-256). */
    bytes32(name: string, { hashText = true } = {}): Hex {
      const v = value(name);
      if (/^0x[0-9a-fA-F]{64}$/.test(v)) return v.toLowerCase() as Hex;
      if (hashText && v !== "") return keccak256(toHex(v));
      errors[name] = hashText ? "Enter a name or a 32-byte hex value." : "Enter 0x followed by 64 hex digits.";
      return `0x${"00".repeat(32)}`;
    },
    datetime(name: string): bigint {
      const ms = Date.parse(value(name));
      if (Number.isNaN(ms)) {
        errors[name] = "Enter a date and time.";
        return 0n;
      }
      return BigInt(Math.floor(ms / 1000));
    },
    text: value,
    done<T>(make: () => T): FormResult<T> {
      return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, value: make() };
    },
  };
}

/** A datetime-local input's value for a unix time, in the local time zone. */
export function toDatetimeLocal(seconds: number): string {
  const d = new Date(seconds * 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Wei as the ETH a form field shows: "0.001", without trailing zeros. */
export function ethFieldValue(wei: bigint): string {
  const whole = wei / 10n ** 18n;
  const fraction = (wei % 10n ** 18n).toString().padStart(18, "0").replace(/0+$/, "");
  return fraction ? `${whole}.${fraction}` : whole.toString();
}
