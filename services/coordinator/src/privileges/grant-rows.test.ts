import { describe, expect, it } from 'vitest';
import { allGrantRows, databaseGrantRows, systemGrantRows, tableGrantRows, userRows, type NamedObject } from './grant-rows.js';
import { EMPTY_PRIVILEGE_STATE, createUser, grant, setAdminMembership } from './privilege-model.js';

const BANK: NamedObject = { kind: 'database', id: 104, database: 'bank' };
const CUSTOMERS: NamedObject = { kind: 'table', id: 105, database: 'bank', table: 'customers', objectType: 'table' };
const SEQ: NamedObject = { kind: 'table', id: 106, database: 'bank', table: 's', objectType: 'sequence' };

let state = createUser(createUser(EMPTY_PRIVILEGE_STATE, 'maxroach', 0), 'boss', 0);
state = grant(state, [{ kind: 'database', id: 104 }], ['RESTORE', 'BACKUP'], ['maxroach']);
state = grant(state, [{ kind: 'table', id: 105 }], ['SELECT'], ['boss']);
state = grant(state, [{ kind: 'system' }], ['RESTORE'], ['maxroach']);

describe('SHOW GRANTS rows', () => {
  it('ON DATABASE: root and admin hold ALL, then the stored grants, sorted', () => {
    expect(databaseGrantRows(state, [BANK])).toEqual([
      ['bank', 'admin', 'ALL', 'true'],
      ['bank', 'maxroach', 'BACKUP', 'false'],
      ['bank', 'maxroach', 'RESTORE', 'false'],
      ['bank', 'root', 'ALL', 'true'],
    ]);
    expect(databaseGrantRows(state, [BANK], ['maxroach'])).toEqual([
      ['bank', 'maxroach', 'BACKUP', 'false'],
      ['bank', 'maxroach', 'RESTORE', 'false'],
    ]);
  });

  it('FOR a member of admin includes what it holds through admin', () => {
    const boss = setAdminMembership(state, ['admin'], ['boss'], true);
    expect(databaseGrantRows(boss, [BANK], ['boss'])).toEqual([['bank', 'admin', 'ALL', 'true']]);
  });

  it('ON TABLE and without a target, with CockroachDB\'s columns', () => {
    expect(tableGrantRows(state, [CUSTOMERS], ['boss'])).toEqual([['bank', 'public', 'customers', 'boss', 'SELECT', 'false']]);
    expect(allGrantRows(state, [BANK, CUSTOMERS, SEQ], ['boss', 'maxroach'])).toEqual([
      ['bank', null, null, 'database', 'maxroach', 'BACKUP', 'false'],
      ['bank', null, null, 'database', 'maxroach', 'RESTORE', 'false'],
      ['bank', 'public', 'customers', 'table', 'boss', 'SELECT', 'false'],
    ]);
    expect(allGrantRows(state, [SEQ]).map((r) => r.slice(2, 5))).toEqual([
      ['s', 'sequence', 'admin'],
      ['s', 'sequence', 'root'],
    ]);
  });

  it('SHOW SYSTEM GRANTS lists the stored system privileges', () => {
    expect(systemGrantRows(state)).toEqual([['maxroach', 'RESTORE', 'false']]);
    expect(systemGrantRows(state, ['boss'])).toEqual([]);
  });

  it('SHOW USERS lists admin, root and the created users with their membership', () => {
    expect(userRows(setAdminMembership(state, ['admin'], ['boss'], true))).toEqual([
      ['admin', '{}', '{}'],
      ['boss', '{}', '{admin}'],
      ['maxroach', '{}', '{}'],
      ['root', '{}', '{admin}'],
    ]);
  });
});
