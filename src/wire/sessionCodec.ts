// The Session stream's frames, one module per direction: ClientFrame encoding
// (clientFrames.ts) and ServerFrame decoding (serverFrames.ts), with the message shapes and the
// protocol version in sessionMessages.ts.
export * from './sessionMessages.js';
export * from './clientFrames.js';
export * from './serverFrames.js';
