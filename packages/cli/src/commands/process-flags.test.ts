import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { advertiseFlag, durationFlag, listenAddrFlag, localityFlag, natsAuthFlags, natsUrlsFlag, replicasFlag, securityModeFlag } from './process-flags.js';

/** The CairnError `fn` throws (failing the test when it throws nothing or something else). */
function refusal(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('cairn start flag values', () => {
  it('listen addresses: host:port only', () => {
    expect(listenAddrFlag('--listen-addr', '0.0.0.0:26257')).toBe('0.0.0.0:26257');
    expect(listenAddrFlag('--http-addr', '[::]:8080')).toBe('[::]:8080');
    expect(listenAddrFlag('--http-addr', '127.0.0.1:0')).toBe('127.0.0.1:0');
    for (const bad of ['nope', '8080', 'host:port', 'a b:1', 'x:70000', 'http://h:1']) {
      const e = refusal(() => listenAddrFlag('--listen-addr', bad));
      expect(e.code).toBe(ErrorCode.InvalidArgument);
      expect(e.message).toBe(`invalid --listen-addr "${bad}": expected host:port, e.g. 0.0.0.0:26257`);
    }
  });

  it('advertised addresses: a node advertises a host only', () => {
    expect(advertiseFlag('--advertise-addr', 'coord-1.example:443')).toBe('coord-1.example:443');
    expect(advertiseFlag('--advertise-addr', 'node-1', false)).toBe('node-1');
    expect(refusal(() => advertiseFlag('--advertise-addr', 'node-1:9000', false)).message).toMatch(/nodes listen on no RPC port/);
    expect(refusal(() => advertiseFlag('--advertise-http-addr', 'http://x')).message).toMatch(/^invalid --advertise-http-addr "http:\/\/x"/);
  });

  it('replicas: 1 to 5, or auto (the NATS cluster decides)', () => {
    expect(replicasFlag(undefined)).toBeUndefined();
    expect(replicasFlag('auto')).toBeUndefined();
    expect(replicasFlag('3')).toBe(3);
    for (const bad of ['-1', '0', '6', '2.5', 'three', '']) {
      expect(refusal(() => replicasFlag(bad)).message).toBe(`invalid --nats-replicas "${bad}": expected an integer from 1 to 5, or auto`);
    }
  });

  it('durations, NATS URLs and localities', () => {
    expect(durationFlag('--drain-timeout', '0ms')).toBe(0);
    expect(durationFlag('--drain-timeout', '30s')).toBe(30_000);
    expect(refusal(() => durationFlag('--drain-timeout', '-1s')).code).toBe(ErrorCode.InvalidArgument);
    expect(natsUrlsFlag('nats://a:4222, nats://b:4222,c:4222')).toBe('nats://a:4222,nats://b:4222,c:4222');
    expect(refusal(() => natsUrlsFlag('nats://a:4222,,')).message).toMatch(/^invalid --nats/);
    expect(localityFlag('region=us-east1,zone=us-east1-b')).toBe('region=us-east1,zone=us-east1-b');
    expect(refusal(() => localityFlag('')).message).toMatch(/^invalid --locality ""/);
    expect(refusal(() => localityFlag('us-east1')).message).toMatch(/invalid locality tier "us-east1"/);
  });
});

describe('security flags', () => {
  it('needs exactly one of --certs-dir and --insecure', () => {
    expect(securityModeFlag('node', { certsDir: '/c' })).toBe('/c');
    expect(securityModeFlag('node', { insecure: true })).toBeUndefined();
    expect(() => securityModeFlag('node', {})).toThrow(/cairn start node needs --certs-dir <dir> .* or --insecure/);
    expect(() => securityModeFlag('coordinator', { certsDir: '/c', insecure: true })).toThrow(/not both/);
  });

  it('makes the certs dir the NATS TLS identity only for tls:// URLs without explicit TLS flags', () => {
    expect(natsAuthFlags({ certsDir: '/c', natsUser: 'cairn', natsPassword: 'pw' }, 'nats://n:4222')).toEqual({ user: 'cairn', password: 'pw' });
    expect(natsAuthFlags({ certsDir: '/c' }, 'tls://n1:4222,tls://n2:4222')).toEqual({ tlsCaFile: '/c/ca.crt', tlsCertFile: '/c/node.crt', tlsKeyFile: '/c/node.key' });
    expect(natsAuthFlags({ certsDir: '/c', natsTlsCa: '/n/ca.pem' }, 'tls://n1:4222')).toEqual({ tlsCaFile: '/n/ca.pem' });
  });
});
