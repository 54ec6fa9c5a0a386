import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { advertisedAddress, isValidHost, parseHostPort } from './advertise-address.js';

describe('advertisedAddress', () => {
  it('advertises the bound address when nothing is given', () => {
    expect(advertisedAddress({ host: '127.0.0.1', port: 26257 })).toBe('127.0.0.1:26257');
    expect(advertisedAddress({ host: '::1', port: 80 })).toBe('[::1]:80');
  });

  it('puts the hostname in place of a wildcard host', () => {
    expect(advertisedAddress({ host: '0.0.0.0', port: 26257 })).toBe(`${hostname()}:26257`);
    expect(advertisedAddress({ host: '::', port: 9 })).toBe(`${hostname()}:9`);
  });

  it('takes the advertised host, and its port when it names one', () => {
    expect(advertisedAddress({ host: '0.0.0.0', port: 26257 }, 'coord-1.cairn.svc')).toBe('coord-1.cairn.svc:26257');
    expect(advertisedAddress({ host: '0.0.0.0', port: 26257 }, 'lb.example.com:443')).toBe('lb.example.com:443');
    expect(advertisedAddress({ host: '0.0.0.0', port: 1 }, '[2001:db8::1]:5')).toBe('[2001:db8::1]:5');
    expect(advertisedAddress({ host: '0.0.0.0', port: 1 }, '2001:db8::1')).toBe('[2001:db8::1]:1');
  });
});

describe('parseHostPort', () => {
  it('refuses what no one can dial', () => {
    for (const bad of ['', 'http://x:1', 'a b:1', 'host:port', 'host:99999', '[::1', 'x/y', ':80']) {
      expect(() => parseHostPort(bad, '--advertise-addr'), bad).toThrow(/invalid --advertise-addr/);
    }
  });

  it('accepts hostnames and IP literals', () => {
    expect(parseHostPort('node-1')).toEqual({ host: 'node-1' });
    expect(parseHostPort('10.0.0.7:8080')).toEqual({ host: '10.0.0.7', port: 8080 });
    expect(isValidHost('cairn-node-0.cairn-node.default.svc.cluster.local')).toBe(true);
    expect(isValidHost('-bad')).toBe(false);
  });
});
