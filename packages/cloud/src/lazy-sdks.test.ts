import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@cairn/testing';
import { describe, expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Runs `body` in a fresh node process that imports this package as a node does (its built
 * entry point), with `sdks()` listing which cloud SDKs the process has loaded so far.
 */
function inFreshProcess(body: string): Record<string, string[]> {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    const sdks = () => [...new Set(Object.keys(require.cache).map((k) => /node_modules\\/(@aws-sdk|@azure|@google-cloud)\\//.exec(k)?.[1]).filter(Boolean))].sort();
    const out = {};
    const cloud = await import('@cairn/cloud');
    out.atImport = sdks();
    ${body}
    console.log(JSON.stringify(out));
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: packageDir, encoding: 'utf8' });
  // stderr is not asserted empty: the AWS SDK warns there about Node versions.
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Record<string, string[]>;
}

describe('cloud SDKs load on first use', () => {
  it('importing @cairn/cloud and using local storage loads no SDK; s3:// and aws-kms load only AWS\'s', async () => {
    const dir = await tempDir('cairn-lazy-sdks');
    const out = inFreshProcess(`
      const files = await cloud.openStorage('file://${dir}');
      await files.writeFile('a', new Uint8Array([1]));
      await files.close();
      out.afterFile = sdks();
      const kms = cloud.openKms('aws-kms:///alias/k?REGION=us-east-1&AUTH=implicit');
      out.afterKmsOpen = sdks();
      kms.close();
      const s3 = await cloud.openStorage('s3://bucket/path?AUTH=implicit&AWS_REGION=us-east-1');
      await s3.close();
      out.afterS3 = sdks();
      const azure = await cloud.openStorage('azure://container/path?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=${Buffer.from('k').toString('base64')}');
      await azure.close();
      out.afterAzure = sdks();
    `);
    expect(out).toEqual({
      atImport: [],
      afterFile: [],
      // Opening a key checks its URI; the SDK waits for the first encrypt or decrypt.
      afterKmsOpen: [],
      afterS3: ['@aws-sdk'],
      afterAzure: ['@aws-sdk', '@azure'],
    });
  });
});
