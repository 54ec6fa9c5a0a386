/** Users, roles and privileges: CREATE / ALTER / DROP USER, GRANT, REVOKE, SHOW GRANTS. */
import type { PrivilegeTarget, Statement } from '../ast.js';
import { RESERVED_KEYWORDS } from '../keywords.js';
import type { Parser } from './parser-base.js';
import { connectionName } from './backup-restore.js';

/** After `CREATE USER`: `[IF NOT EXISTS] name [[WITH] PASSWORD 'pw' | PASSWORD NULL]`. */
export function createUser(p: Parser, pos: number): Statement {
  const ifNotExists = p.ifNotExists();
  const stmt: Statement = { kind: 'createUser', pos, name: p.roleName(), ifNotExists };
  const withTok = p.acceptKw('WITH');
  if (p.acceptKw('PASSWORD')) {
    stmt.password = p.acceptKw('NULL') ? null : p.string('a password string or NULL');
  } else if (withTok) {
    p.expected('PASSWORD (the only user option cairn takes)');
  }
  return stmt;
}

/** `ALTER USER [IF EXISTS] name [WITH] PASSWORD 'pw' | PASSWORD NULL`. */
export function alterUser(p: Parser): Statement {
  const pos = p.expectKw('ALTER').pos;
  p.expectKw('USER');
  const ifExists = p.ifExists();
  const name = p.roleName();
  p.acceptKw('WITH');
  p.expectKw('PASSWORD', 'PASSWORD (the only user option cairn takes)');
  const password = p.acceptKw('NULL') ? null : p.string('a password string or NULL');
  return { kind: 'alterUser', pos, name, ifExists, password };
}

/** After `DROP USER`: `[IF EXISTS] name, ...`. */
export function dropUser(p: Parser, pos: number): Statement {
  const ifExists = p.ifExists();
  return { kind: 'dropUser', pos, names: p.commaList(() => p.roleName()), ifExists };
}

/**
 * `GRANT privs ON ... TO roles`, `GRANT SYSTEM privs TO roles`, and role membership
 * `GRANT role, ... TO members` (no ON); REVOKE likewise with FROM.
 */
export function grant(p: Parser): Statement {
  const t = p.next();
  const granting = t.upper === 'GRANT';
  const toWord = granting ? 'TO' : 'FROM';
  const system = p.peek();
  const isSystem = p.isKw('SYSTEM') && p.peek(1).kind === 'word' && !p.isKw(toWord, 1);
  if (isSystem) p.next();
  const names = p.commaList(() => {
    const n = p.peek();
    if (n.kind !== 'word' && n.kind !== 'ident') p.expected('a privilege or role name');
    p.next();
    return n;
  });
  if (!isSystem && p.isKw(toWord)) {
    // No ON: the names are roles whose membership is granted.
    const roles = names.map((n) => {
      if (n.kind === 'word' && RESERVED_KEYWORDS.has(n.upper)) p.fail(n, 'expected a role name or ON');
      return n.value;
    });
    p.next();
    return { kind: granting ? 'grantRole' : 'revokeRole', pos: t.pos, roles, members: p.commaList(() => p.roleName()) };
  }
  const privileges = names.map((n) => {
    if (n.kind !== 'word') p.fail(n, 'expected a privilege');
    return n.upper;
  });
  if (privileges[0] === 'ALL') p.acceptKw('PRIVILEGES');
  let on: PrivilegeTarget;
  if (isSystem) {
    on = { kind: 'system', pos: system.pos };
  } else {
    p.expectKw('ON', `ON or ${toWord}`);
    const pos = p.peek().pos;
    if (p.acceptKw('DATABASE')) on = { kind: 'databases', pos, names: p.commaList(() => p.ident('database name')) };
    else if (p.isKw('EXTERNAL') && p.isKw('CONNECTION', 1)) on = externalConnections(p);
    else {
      p.acceptKw('TABLE');
      on = { kind: 'tables', pos, tables: p.commaList(() => p.tablePattern()) };
    }
  }
  p.expectKw(toWord);
  const roles = p.commaList(() => p.roleName());
  return { kind: granting ? 'grant' : 'revoke', pos: t.pos, privileges, on, roles };
}

/** `EXTERNAL CONNECTION name, ...` after ON. */
function externalConnections(p: Parser): PrivilegeTarget {
  const pos = p.expectKw('EXTERNAL').pos;
  p.expectKw('CONNECTION');
  return { kind: 'externalConnections', pos, names: p.commaList(() => connectionName(p)) };
}

/** After `SHOW GRANTS` / `SHOW SYSTEM GRANTS`: `[ON ...] [FOR roles]`. */
export function showGrants(p: Parser, pos: number, system: boolean, systemPos: number): Statement {
  const on: PrivilegeTarget | undefined = system ? { kind: 'system', pos: systemPos } : grantsTarget(p);
  const stmt: Statement = { kind: 'showGrants', pos };
  if (on !== undefined) stmt.on = on;
  if (p.acceptKw('FOR')) stmt.grantees = p.commaList(() => p.roleName());
  return stmt;
}

/** The optional `ON DATABASE d, ... | ON [TABLE] t, ...` of SHOW GRANTS. */
function grantsTarget(p: Parser): PrivilegeTarget | undefined {
  if (!p.acceptKw('ON')) return undefined;
  const t = p.peek();
  if (p.acceptKw('DATABASE')) return { kind: 'databases', pos: t.pos, names: p.commaList(() => p.ident('database name')) };
  if (p.isKw('EXTERNAL') && p.isKw('CONNECTION', 1)) return externalConnections(p);
  if (!p.acceptKw('TABLE') && p.isKw('ROLE')) p.fail(t, 'SHOW GRANTS ON ROLE is not supported: SHOW USERS lists role membership');
  return { kind: 'tables', pos: t.pos, tables: p.commaList(() => p.tablePattern()) };
}
