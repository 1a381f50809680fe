/** The strict HTTP/1.x parsing layer: heads, chunked bodies, head serialization (pure, no I/O). */
export {
  BODY_CHUNKED, BODY_CLOSE, BODY_NONE, DEFAULT_LIMITS,
  type BodyChunked, type BodyClose, type BodyLength, type BodyNone, type ChunkResult, type HeadBase, type HeadDone,
  type HeaderField, type HeadLimits, type HeadResult, type NeedMore, type ParseError, type RequestBody, type RequestHead,
  type ResponseBody, type ResponseHead, type TargetForm,
} from "./types.ts";
export { parseRequestHead, parseResponseHead } from "./head.ts";
export { ChunkedScanner, type ChunkedOptions } from "./chunked.ts";
export {
  hopByHop, serializeRequestHead, serializeResponseHead,
  type RequestSerializeOptions, type ResponseSerializeOptions, type SerializeOptions,
} from "./serialize.ts";
