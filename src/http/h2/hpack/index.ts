/** HPACK (RFC 7541): the decoder and encoder of one connection. */
export { createDecoder, Decoder } from "./decoder.ts";
export { createEncoder, Encoder, ENCODER_TABLE_SIZE } from "./encoder.ts";
