import { describe, expect, it } from "vitest";
import { redactUrls, redactUrlsDeep } from "../../src/internal/redactUrls.ts";

describe("redactUrls", () => {
  it("drops a URL's credentials and keeps its origin", () => {
    expect(redactUrls("The Kubo node at http://user:secret@127.0.0.1:5001 failed.")).toBe(
      "The Kubo node at http://127.0.0.1:5001 failed.",
    );
    expect(redactUrls("at https://apikey@ipfs.example/")).toBe("at https://ipfs.example/");
  });

  it("replaces a URL's path, query and fragment, where API keys live, by /…", () => {
    expect(redactUrls("URL: http://127.0.0.1:8545/v3/SECRETKEY\nRequest body: {}")).toBe(
      "URL: http://127.0.0.1:8545/…\nRequest body: {}",
    );
    expect(redactUrls("wss://node.example/ws?apikey=SECRETKEY, then")).toBe("wss://node.example/…, then");
    expect(redactUrls('{"url":"https://u:p@rpc.example/k/SECRETKEY#x"}')).toBe('{"url":"https://rpc.example/…"}');
  });

  it("leaves text without URLs, and URLs without secrets, as they are", () => {
    for (const text of [
      "PUT the spec document to /v1/runs/0x01/spec first.",
      "Set it to the chain's JSON-RPC endpoint, e.g. http://127.0.0.1:8545.",
      "http://[::1]:8545/",
      "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    ]) {
      expect(redactUrls(text)).toBe(text);
    }
  });

  it("redacts every string of a value, and what serialises itself as it will be written", () => {
    const value = {
      endpoint: new URL("http://user:hunter2@127.0.0.1:5001/api"),
      nested: [{ url: "https://rpc.example/v3/SECRETKEY" }],
      count: 3n,
      bytes: Uint8Array.of(1, 2),
    };
    expect(redactUrlsDeep(value)).toEqual({
      endpoint: "http://127.0.0.1:5001/…",
      nested: [{ url: "https://rpc.example/…" }],
      count: 3n,
      bytes: Uint8Array.of(1, 2),
    });
  });
});
