import protocolKitModule from "@safe-global/protocol-kit";

// protocol-kit's types describe its CommonJS build (a module whose `default` is the Safe class),
// while Node loads its ES build (whose default export is the class itself). This takes the class
// from either, so the types and the running code agree.
const loaded = protocolKitModule as unknown as { default?: unknown };

/** protocol-kit's `Safe` class: `await ProtocolKit.init({ provider, signer, safeAddress, contractNetworks })`. */
export const ProtocolKit = (loaded.default ?? protocolKitModule) as typeof protocolKitModule.default;

export type ProtocolKit = InstanceType<typeof ProtocolKit>;
