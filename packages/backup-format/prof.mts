import { DataFileWriter } from './src/index.ts';
import { DataFileReader, bytesSource } from './src/index.ts';
import { compress } from 'zstd-napi';
const enc = new TextEncoder();
const n = 400_000;
const revs: any[] = [];
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];
for (let i = 0; i < n; i++) {
  const key = new Uint8Array(12); const dv = new DataView(key.buffer); dv.setUint32(0, 0x88000068); dv.setUint32(8, i);
  let s = `{"id":${i},"balance":${Math.floor(Math.random() * 1e6)},"payload":"`;
  while (s.length < 110) s += `${words[Math.floor(Math.random() * words.length)]}${Math.floor(Math.random() * 100)} `;
  revs.push({ key, ts: 1_700_000_000_000_000_000n + BigInt(i), value: enc.encode(s + '"}') });
}
for (const compression of ['none', 'zstd'] as const) {
  for (let rep = 0; rep < 3; rep++) {
    const chunks: Uint8Array[] = [];
    const t0 = performance.now();
    const w = new DataFileWriter({ sink: (c) => void chunks.push(c), compression });
    for (const r of revs) await w.add(r);
    const s = await w.finish();
    const dt = (performance.now() - t0) / 1000;
    console.log(compression, 'write', (s.logicalBytes / 1e6 / dt).toFixed(0), 'MB/s');
    const buf = Buffer.concat(chunks);
    const t1 = performance.now();
    let c = 0;
    for await (const r of new DataFileReader('x', bytesSource(buf)).iterate()) c++;
    console.log(compression, 'read', (s.logicalBytes / 1e6 / ((performance.now() - t1) / 1000)).toFixed(0), 'MB/s', c);
    if (compression === 'none' && rep === 0) {
      const t2 = performance.now();
      for (let o = 0; o < buf.length; o += 65536) compress(buf.subarray(o, o + 65536), { compressionLevel: 1 });
      console.log('zstd-napi alone on 64K chunks', (buf.length / 1e6 / ((performance.now() - t2) / 1000)).toFixed(0), 'MB/s');
    }
  }
}
