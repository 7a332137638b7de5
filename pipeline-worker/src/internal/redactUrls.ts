/**
 * URLs of the network endpoints a worker or keyholder is configured with, as they appear in
 * text: an error's message (viem quotes the RPC URL it failed to reach), a problem's detail.
 */
const URL_PATTERN = /\b(?:https?|wss?):\/\/[^\s"'<>`]+/gi;
/** Sentence punctuation that ends a URL in prose rather than belonging to it. */
const TRAILING = /[.,;:!?)]+$/;

/**
 * Hides what may be a secret in every URL in `text`: its credentials (`user:password@`, or an
 * API key as the user name) are dropped, and its path, query and fragment, where RPC providers
 * and gateways put API keys (`/v3/<key>`, `?apikey=`), become `/…`. The scheme, host and port
 * stay, which is what an operator needs to tell which endpoint failed.
 *
 * Applied to every problem a client receives (renderProblem) and every log line (createLogger),
 * not at each place a URL might be quoted: the URL reaches text through libraries' messages
 * (viem's `URL: ...`, fetch's causes) that no call site controls.
 */
export function redactUrls(text: string): string {
  return text.replace(URL_PATTERN, (match) => {
    const trailing = TRAILING.exec(match)?.[0] ?? "";
    const candidate = match.slice(0, match.length - trailing.length);
    let url: URL;
    try {
      url = new URL(candidate);
    } catch {
      return `[URL hidden]${trailing}`;
    }
    const hasSecretPart =
      url.username !== "" || url.password !== "" || url.pathname.length > 1 || url.search !== "" || url.hash !== "";
    if (!hasSecretPart) return match;
    const rest =
      url.pathname.length > 1 || url.search !== "" || url.hash !== "" ? "/…" : candidate.endsWith("/") ? "/" : "";
    return `${url.protocol}//${url.host}${rest}${trailing}`;
  });
}

/**
 * `redactUrls` applied to every string in a JSON-like value (a problem's extension members, a
 * log line's fields, a serialised error), returning a copy; other values are kept as they are.
 */
export function redactUrlsDeep<T>(value: T, seen: WeakSet<object> = new WeakSet()): T {
  if (typeof value === "string") return redactUrls(value) as T;
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redactUrlsDeep(item, seen)) as T;
  // An error's message and stack are not enumerable: written out as a log serialiser would.
  if (value instanceof Error) {
    return redactUrlsDeep(
      { type: value.name, message: value.message, stack: value.stack, ...Object.fromEntries(Object.entries(value)) },
      seen,
    ) as T;
  }
  // Bytes, dates and collections carry no URL text and serialise themselves.
  if (ArrayBuffer.isView(value) || value instanceof Date || value instanceof Map || value instanceof Set) return value;
  // What serialises itself (a CID, a URL) is redacted as it will be written.
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return redactUrlsDeep(toJSON.call(value) as T, seen);
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, redactUrlsDeep(item, seen)]),
  ) as T;
}
