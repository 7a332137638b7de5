import { z } from "zod";

/**
 * The fields the worker's and the notifier's configurations share, declared once so that both
 * validate them alike and say the same thing when one is wrong.
 */

export const wholeNumber = (what: string) => z.number({ error: `must be ${what}` }).int({ error: `must be ${what}` });

export const rpcUrlField = () => z.url({ protocol: /^(https?|wss?)$/, error: "must be an http(s) or ws(s) URL" });

export const chainIdField = () =>
  wholeNumber("a positive whole number").positive({ error: "must be a positive whole number" });

/** Defaults to `deployments/<chainId>.json`, where the deploy script writes it. */
export const deploymentManifestField = () =>
  z.string({ error: "must be a file path" }).min(1, { error: "must not be empty" }).optional();

export const dataDirField = (defaultDir: string) =>
  z.string({ error: "must be a directory path" }).min(1, { error: "must not be empty" }).default(defaultDir);

export const httpHostField = () =>
  z.string({ error: "must be a host name or address" }).min(1, { error: "must not be empty" }).default("127.0.0.1");

export const httpPortField = (defaultPort: number) =>
  wholeNumber("a port number from 0 to 65535")
    .min(0, { error: "must be a port number from 0 to 65535" })
    .max(65535, { error: "must be a port number from 0 to 65535" })
    .default(defaultPort);

/** Blocks an event or approval waits before it counts, against reorgs; a local chain can use 0. */
export const confirmationsField = () =>
  wholeNumber("a whole number of blocks, 0 or more").min(0, { error: "must be 0 or more" }).default(2);
