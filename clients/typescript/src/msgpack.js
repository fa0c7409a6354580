// @ts-check
// `viva.v1.msgpack`: one MessagePack map per binary frame; audio travels as `bin` (Uint8Array)
// instead of base64. A separate module, so that what does not use it (the web console, which
// speaks JSON) never loads `@msgpack/msgpack`:
//
//   import { msgpack } from 'viva-client/msgpack';
//   viva.interview(sessionId, { codec: msgpack });

import { decode, encode } from '@msgpack/msgpack';

/** @type {import('./connection.js').Codec} */
export const msgpack = {
  protocol: 'viva.v1.msgpack',
  encode: (message) => encode(message),
  decode: (data) => {
    if (typeof data === 'string') return null; // a text frame has no place on this socket
    return decode(/** @type {ArrayBuffer} */ (data));
  },
};
