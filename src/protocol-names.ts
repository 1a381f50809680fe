/**
 * The protocols plb speaks, by config name (`protocol = "tcp"`): the one
 * list. The config checks names against it, events type their protocol
 * with it, and protocols.ts must give a module for each; neither the config
 * nor the core imports a protocol module to know them.
 */
export const PROTOCOL_NAMES = ["tcp", "http", "smtp"] as const;

export type ProtocolName = (typeof PROTOCOL_NAMES)[number];
