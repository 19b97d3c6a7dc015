// SPDX-License-Identifier: MIT
// Node.js 20: a real script (timers, fs promises, streams, crypto, a worker thread). It must
// run clean and unchanged under `lifeguard verify`, with the same output; the driver runs it
// as `node -e "$(cat node_real.js)" DIR`.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { Worker } = require('worker_threads');

const dir = process.argv[1];

function delay(ms, value) {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms));
}

function inWorker(n) {
  return new Promise((resolve, reject) => {
    const w = new Worker(
      'const { parentPort, workerData } = require("worker_threads");' +
      'let s = 0; for (let i = 0; i < workerData; i++) s += i * i;' +
      'parentPort.postMessage(s);',
      { eval: true, workerData: n });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

async function main() {
  const file = path.join(dir, 'node-real.txt');
  const lines = [];
  for (let i = 0; i < 500; i++) lines.push(`line ${i} ${'x'.repeat(i % 40)}`);
  await fs.promises.writeFile(file, lines.join('\n'));
  const text = await fs.promises.readFile(file, 'utf8');
  const digest = crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
  let streamed = 0;
  await new Promise((resolve, reject) => {
    fs.createReadStream(file, { highWaterMark: 1024 })
      .on('data', (chunk) => { streamed += chunk.length; })
      .on('end', resolve).on('error', reject);
  });
  await fs.promises.unlink(file);
  const order = await Promise.all([delay(5, 'a'), delay(1, 'b'), delay(3, 'c')]);
  const squares = await inWorker(100000);
  const json = JSON.parse(JSON.stringify({ list: Array.from({ length: 1000 }, (_, i) => i) }));
  console.log(`read ${text.length} chars, streamed ${streamed}, sha256 ${digest}`);
  console.log(`timers ${order.join('')}, worker ${squares}, json ${json.list.length}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
