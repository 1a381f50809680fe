/**
 * HTTP/2 ⇄ HTTP/1.1 translation for the stream carrier (pure): a request's
 * h2 header list → one HTTP/1.1 head (request-head.ts), an HTTP/1.1
 * response head → h2 header list (response-fields.ts), and the chunked
 * framing of bodies between them (dechunk.ts).
 */
export { h1RequestFrom, type H1Request } from "./request-head.ts";
export { h2ResponseFields } from "./response-fields.ts";
export { chunkFrame, Dechunker, type DechunkResult, lastChunk } from "./dechunk.ts";
