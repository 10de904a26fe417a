// fastbus/wire: the D-Bus wire format. Pure (bytes in, values out, no I/O):
// signatures, values, whole messages, header-only decoding and re-emitting
// with a new SENDER, and frameLength for transports. See docs/wire.md.
export { frameLength, FIXED_HEADER_LENGTH } from './frame-length.js';
export * from './limits.js';
export { ProtocolError } from '../errors.js';
export { parseSignature, parseSingleType, isValidSignature, ALIGNMENT, Signature, checkSignature, type SignatureType } from './signature.js';
export { Variant } from './variant.js';
export { EncodeError } from './encode-error.js';
export { MessageType, MessageFlags, HeaderField, type Message, type MessageHeader, type DecodedMessage, type UnknownHeaderField } from './message.js';
export { encodeMessage, encodeMessageParts, joinParts, forEachPart, MessageEncoder, type EncodeOptions, type EncodedParts } from './encode-message.js';
export { decodeMessage, decodeHeader, checkMessage, type DecodeMessageOptions } from './decode-message.js';
export { HeaderMemo } from './header-memo.js';
export { withSender, type WithSenderOptions } from './with-sender.js';
export { encodeValues } from './encode-values.js';
export { decodeValues, type DecodeOptions } from './decoder.js';
