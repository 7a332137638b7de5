import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import type { Hex } from "viem";

/** A body to send as-is, with a label that says what was done to it (for failure messages). */
export type HostileBody = { label: string; bytes: Buffer };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Any JSON value, kept small so a hundred runs stay fast. */
const anyJson: fc.Arbitrary<Json> = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;

/**
 * Values of every JSON type, with the edges schema checks get wrong: big and fractional numbers,
 * negative zero, numeric and hex strings, empty and very long strings, control characters, lone
 * surrogates, prototype keys.
 */
const edgyJson: fc.Arbitrary<Json> = fc.oneof(
  anyJson,
  fc.constantFrom<Json>(
    null,
    true,
    false,
    0,
    -0,
    -1,
    1.5,
    2 ** 53,
    2 ** 64,
    1e308,
    -1e308,
    "",
    "0",
    "-1",
    "0x",
    "0x00",
    "1e3",
    " 1",
    "18446744073709551616",
    "9".repeat(80),
    "\u0000",
    "\ud800",
    "\u202e",
    "x".repeat(10_000),
    [],
    {},
    JSON.parse('{"__proto__": {"polluted": true}}') as Json,
    { constructor: { prototype: { polluted: true } } },
  ),
);

/** Byte sequences that are not UTF-8: stray continuation bytes, overlong forms, surrogates, truncations, 0xFF. */
const invalidUtf8: fc.Arbitrary<Buffer> = fc
  .constantFrom(
    [0x80],
    [0xbf],
    [0xc0, 0x80],
    [0xc1, 0xbf],
    [0xe0, 0x80, 0x80],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0xf8, 0x88, 0x80, 0x80, 0x80],
    [0xc3],
    [0xe2, 0x82],
    [0xfe],
    [0xff],
    [0xef, 0xbb, 0xbf],
    [0x00],
  )
  .map((bytes) => Buffer.from(bytes));

function withField(body: Record<string, Json>, path: readonly string[], value: Json | undefined): Json {
  const [head, ...rest] = path;
  if (rest.length === 0) {
    const others = Object.fromEntries(Object.entries(body).filter(([key]) => key !== head));
    return value === undefined ? others : { ...others, [head!]: value };
  }
  return { ...body, [head!]: withField(body[head!] as Record<string, Json>, rest, value) };
}

/** Every path to a member of a JSON object, nested objects included (arrays are treated as leaves). */
function fieldPaths(body: Record<string, Json>, prefix: string[] = []): string[][] {
  return Object.entries(body).flatMap(([key, value]) => {
    const path = [...prefix, key];
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? [path, ...fieldPaths(value, path)]
      : [path];
  });
}

/**
 * Hostile variants of one valid JSON body: each field missing, or of another type or an edge
 * value, extra members at any depth, the whole body replaced by other JSON, the text truncated or
 * with a byte changed, invalid UTF-8 spliced in anywhere. A variant that still means the valid
 * body (JSON that parses to the same value) is never produced, so every variant must be refused.
 */
export function hostileJsonBodies(valid: Record<string, Json>): fc.Arbitrary<HostileBody> {
  const text = JSON.stringify(valid);
  const paths = fieldPaths(valid);
  const structural: fc.Arbitrary<HostileBody> = fc.oneof(
    fc.constantFrom(...paths).map((path) => ({
      label: `missing ${path.join(".")}`,
      bytes: Buffer.from(JSON.stringify(withField(valid, path, undefined))),
    })),
    fc.tuple(fc.constantFrom(...paths), edgyJson).map(([path, value]) => ({
      label: `${path.join(".")} = ${JSON.stringify(value)?.slice(0, 60)}`,
      bytes: Buffer.from(JSON.stringify(withField(valid, path, value))),
    })),
    fc
      .tuple(fc.constantFrom([], ...paths.slice(0, -1)), fc.string({ minLength: 1, maxLength: 20 }), edgyJson)
      .filter(([path, key]) => !paths.some((p) => p.join("\u0000") === [...path, key].join("\u0000")))
      .map(([path, key, value]) => {
        const target =
          path.length === 0
            ? valid
            : (path.reduce<Json>((at, k) => (at as Record<string, Json>)[k]!, valid) as Record<string, Json>);
        const extended = { ...target, [key]: value };
        return {
          label: `extra member ${[...path, key].join(".")}`,
          bytes: Buffer.from(JSON.stringify(path.length === 0 ? extended : withField(valid, path, extended))),
        };
      }),
    edgyJson.map((value) => ({
      label: `body = ${JSON.stringify(value)?.slice(0, 60)}`,
      bytes: Buffer.from(JSON.stringify(value)),
    })),
  );
  const textual: fc.Arbitrary<HostileBody> = fc.oneof(
    fc.integer({ min: 0, max: text.length - 1 }).map((at) => ({
      label: `truncated at ${at}`,
      bytes: Buffer.from(text.slice(0, at)),
    })),
    fc.tuple(fc.integer({ min: 0, max: text.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
      const bytes = Buffer.from(text);
      bytes[at] = byte;
      return { label: `byte ${at} = 0x${byte.toString(16)}`, bytes };
    }),
    fc.tuple(fc.integer({ min: 0, max: text.length }), invalidUtf8).map(([at, bad]) => ({
      label: `invalid UTF-8 ${bad.toString("hex")} at ${at}`,
      bytes: Buffer.concat([Buffer.from(text.slice(0, at)), bad, Buffer.from(text.slice(at))]),
    })),
  );
  return fc.oneof(structural, textual).filter((body) => !meansTheSame(body.bytes, valid));
}

function meansTheSame(bytes: Buffer, valid: Json): boolean {
  try {
    // A leading byte-order mark is allowed to be ignored (RFC 8259, section 8.1), and Fastify does.
    const parsed = JSON.parse(bytes.toString("utf8").replace(/^\uFEFF/, "")) as Json;
    return isDeepStrictEqual(hexInLowerCase(parsed), hexInLowerCase(valid));
  } catch {
    return false;
  }
}

/**
 * The same JSON with every 0x-hex string in lower case: a hex digit's case does not change the
 * bytes it stands for, so a signature with one letter's case flipped is the same signature (the
 * hostile-input soak once flipped one and expected a refusal for a query rightly served).
 */
function hexInLowerCase(value: Json): Json {
  if (typeof value === "string") return /^0x[0-9a-f]*$/i.test(value) ? value.toLowerCase() : value;
  if (Array.isArray(value)) return value.map(hexInLowerCase);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, member]) => [key, hexInLowerCase(member)]));
  }
  return value;
}

/** A signature with one byte changed, for every byte: r, s and v. */
export const signatureByteMutation = fc.record({
  index: fc.integer({ min: 0, max: 64 }),
  mask: fc.integer({ min: 1, max: 255 }),
});

export function mutateSignatureByte(signature: Hex, { index, mask }: { index: number; mask: number }): Hex {
  const bytes = Buffer.from(signature.slice(2), "hex");
  bytes[index]! ^= mask;
  return `0x${bytes.toString("hex")}`;
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/**
 * The same signature in its other valid shapes: the malleable twin (s replaced by n - s, v
 * flipped), which recovers to the same signer, and v written as a y-parity bit (0/1) instead of
 * 27/28. An API that accepts either lets one authorisation travel in two encodings.
 */
export function otherEncodings(signature: Hex): { label: string; signature: Hex }[] {
  const r = signature.slice(2, 66);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130), 16);
  const flipped = v === 27 ? 28 : 27;
  const highS = (SECP256K1_N - s).toString(16).padStart(64, "0");
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return [
    { label: "high s (malleable twin)", signature: `0x${r}${highS}${hex(flipped)}` },
    { label: "v as y-parity", signature: `0x${r}${signature.slice(66, 130)}${hex(v - 27)}` },
    { label: "high s with v as y-parity", signature: `0x${r}${highS}${hex(flipped - 27)}` },
    { label: "v flipped", signature: `0x${r}${signature.slice(66, 130)}${hex(flipped)}` },
    { label: "v = 29", signature: `0x${r}${signature.slice(66, 130)}1d` },
    { label: "r = 0", signature: `0x${"0".repeat(64)}${signature.slice(66)}` },
    { label: "s = 0", signature: `0x${r}${"0".repeat(64)}${signature.slice(130)}` },
    { label: "r = n", signature: `0x${SECP256K1_N.toString(16)}${signature.slice(66)}` },
    { label: "64 bytes (EIP-2098 compact)", signature: `0x${r}${signature.slice(66, 130)}` },
    { label: "66 bytes", signature: `${signature}00` },
    { label: "empty", signature: "0x" },
  ];
}
