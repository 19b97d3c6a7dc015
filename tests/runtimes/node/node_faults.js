// SPDX-License-Identifier: MIT
// Node.js 20 + an N-API addon (lg_addon.c): native objects freed while work on them is
// pending. Run as `node --expose-gc node_faults.js ADDON CASE fault|clean`.
//
//   session-pending-work  fault: the session is closed while a checksum is queued; the work
//                         then reads it on a worker thread (session_checksum)
//                         clean: the session is closed in the checksum's callback
//   watch-completion      fault: the watch is cancelled (its registration freed) while its
//                         work is pending; the completion reads it (watch_complete)
//                         clean: the watch is cancelled in its own callback
//   codec-finalized       fault: a codec is collected and finalized, then the addon reads it
//                         through its last-used pointer (codec_last_name)
//                         clean: the script keeps the codec referenced until it has asked
//
// No timing: queued work waits for addon.release(), which the script calls after the close;
// the collector is driven by gc() until the addon says its finalizer ran.
'use strict';

const [addonPath, which, mode] = process.argv.slice(2);
const cases = ['session-pending-work', 'watch-completion', 'codec-finalized'];
if (!addonPath || !cases.includes(which) || !['fault', 'clean'].includes(mode)) {
  console.error(`usage: node --expose-gc node_faults.js ADDON ${cases.join('|')} fault|clean`);
  process.exit(2);
}
const addon = require(addonPath);
const fault = mode === 'fault';

function sessionPendingWork() {
  const s = addon.sessionOpen(200);
  addon.sessionChecksum(s, (sum) => {
    console.log(`checksum ${sum}`);
    if (!fault) addon.sessionClose(s);
  });
  if (fault) addon.sessionClose(s);
  addon.release();
}

function watchCompletion() {
  const w = addon.watchStart((label) => {
    console.log(`${label} fired`);
    if (!fault) addon.watchCancel(w);
  });
  if (fault) addon.watchCancel(w);
  addon.release();
}

async function collectUntilFinalized(count) {
  for (let round = 0; round < 1000 && addon.finalized() < count; round++) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (addon.finalized() < count) {
    console.error('the codec was never finalized');
    process.exit(3);
  }
}

async function codecFinalized() {
  let kept = null;
  (function useCodec() {
    const codec = new addon.Codec('utf-8 codec');
    console.log(codec.encode('hello'));
    if (!fault) kept = codec;
  })();
  if (fault) await collectUntilFinalized(1);
  console.log(`last codec: ${addon.lastCodecName()}`);
  kept = null;
  await collectUntilFinalized(1);
  console.log(`finalized ${addon.finalized()}`);
}

({ 'session-pending-work': sessionPendingWork, 'watch-completion': watchCompletion,
   'codec-finalized': codecFinalized })[which]();
