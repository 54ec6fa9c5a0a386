import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, ErrorCode } from '@cairn/errors';
import { tempDir } from '@cairn/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { LocalDirStorage, openStorage, type ExternalStorage, type StorageContext } from './index.js';

async function failure(p: Promise<unknown>): Promise<CairnError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error('expected a failure');
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('openStorage', () => {
  let base: string;
  let ctx: StorageContext;
  beforeEach(async () => {
    base = await tempDir('cairn-open');
    ctx = { nodeId: 2, nodelocalDir: join(base, 'node2') };
  });

  it('opens file:// URIs on that absolute dir', async () => {
    const s = await openStorage(`file://${base}/files`);
    expect(s).toBeInstanceOf(LocalDirStorage);
    expect(s.uri).toBe(`file://${base}/files`);
    await s.writeFile('a/b', text('x'));
    expect(await readFile(join(base, 'files/a/b'), 'utf8')).toBe('x');
  });

  it('opens nodelocal://self and nodelocal://<own id> under this node\'s extern dir', async () => {
    const self = await openStorage('nodelocal://self/backups', ctx);
    const own = await openStorage('nodelocal://2/backups', ctx);
    await self.writeFile('one', text('1'));
    expect(new TextDecoder().decode(await own.readAll('one'))).toBe('1');
    expect(await readFile(join(base, 'node2/backups/one'), 'utf8')).toBe('1');
    expect(self.uri).toBe('nodelocal://self/backups');
    const root = await openStorage('nodelocal://self', ctx);
    expect(await root.exists('backups/one')).toBe(true);
  });

  it('reaches other nodes through the injected resolver', async () => {
    const calls: Array<[number, string]> = [];
    const remote: StorageContext = {
      ...ctx,
      remoteNodelocal: (nodeId, basePath): ExternalStorage => {
        calls.push([nodeId, basePath]);
        // Stands in for the node service's NATS-backed storage: node 3's dir on this disk.
        return new LocalDirStorage(join(base, `node${String(nodeId)}`, basePath), { uri: `nodelocal://${String(nodeId)}/${basePath}` });
      },
    };
    const s = await openStorage('nodelocal://3/x/y', remote);
    await s.writeFile('f', text('remote'));
    expect(calls).toEqual([[3, 'x/y']]);
    expect(await readFile(join(base, 'node3/x/y/f'), 'utf8')).toBe('remote');
  });

  it('refuses another node\'s dir without a way to reach it, and nodelocal without a dir', async () => {
    const err = await failure(openStorage('nodelocal://3/x', ctx));
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toBe('nodelocal://3 is not reachable from here');
    const noDir = await failure(openStorage('nodelocal://self/x', {}));
    expect(noDir.message).toBe('nodelocal://self/x: this process has no nodelocal dir configured');
    // Without a node ID every numbered node is "another" node.
    expect((await failure(openStorage('nodelocal://1/x', { nodelocalDir: base }))).message).toBe(
      'nodelocal://1 is not reachable from here',
    );
  });

  it('never leaves the extern dir', async () => {
    for (const uri of ['nodelocal://self/../escape', 'nodelocal://2/%2e%2e/escape', 'nodelocal://self/a/%2E%2E/%2E%2E/x']) {
      const err = await failure(openStorage(uri, ctx));
      expect(err.code).toBe(ErrorCode.InvalidArgument);
      expect(err.message).toMatch(/must not contain "\.\." segments/);
    }
    const s = await openStorage('nodelocal://self/inner', ctx);
    expect((await failure(s.writeFile('../../outside', text('x')))).message).toMatch(/escapes the storage root/);
    expect((await failure(s.writeFile('../sibling', text('x')))).code).toBe(ErrorCode.InvalidArgument);
  });

  it('resolves external connections and appends the extra path', async () => {
    const resolved: string[] = [];
    const ext: StorageContext = {
      ...ctx,
      resolveExternalConnection: async (name) => {
        resolved.push(name);
        if (name === 'backup_local') return 'nodelocal://self/collections';
        if (name === 'loop') return 'external://backup_local';
        throw new CairnError(ErrorCode.UndefinedObject, `external connection "${name}" does not exist`);
      },
    };
    const s = await openStorage('external://backup_local/nightly/2024', ext);
    await s.writeFile('BACKUP_MANIFEST', text('m'));
    expect(await readFile(join(base, 'node2/collections/nightly/2024/BACKUP_MANIFEST'), 'utf8')).toBe('m');
    expect(s.uri).toBe('nodelocal://self/collections/nightly/2024');
    const root = await openStorage('external://backup_local', ext);
    expect(await root.exists('nightly/2024/BACKUP_MANIFEST')).toBe(true);
    expect(resolved).toEqual(['backup_local', 'backup_local']);

    const missing = await failure(openStorage('external://nope', ext));
    expect(missing.code).toBe(ErrorCode.UndefinedObject);
    const loop = await failure(openStorage('external://loop', ext));
    expect(loop.message).toBe('external connection "loop" resolves to another external connection (external://backup_local)');
    const noResolver = await failure(openStorage('external://backup_local', ctx));
    expect(noResolver.message).toBe('external://backup_local: external connections cannot be resolved here');
  });

  it('passes parse errors through', async () => {
    const err = await failure(openStorage('ftp://bucket/x', ctx));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toMatch(/^unsupported storage scheme "ftp"/);
  });
});
