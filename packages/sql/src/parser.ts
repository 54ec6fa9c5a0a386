import { CairnError, ErrorCode } from '@cairn/errors';
import type {
  CaseExpr,
  ValueExpr,
  AlterScheduleCommand,
  AsOf,
  Assignment,
  BackupOptions,
  BackupStatement,
  ColumnDef,
  ColumnReference,
  ColumnType,
  ColumnTypeName,
  Comparison,
  ComparisonOp,
  ForeignKeyDef,
  FullBackup,
  JobQuery,
  JobSelector,
  JobsForSchedules,
  Literal,
  Location,
  NextvalDefault,
  OrderItem,
  Predicate,
  PrivilegeTarget,
  Recurrence,
  RestoreOptions,
  ScheduleOptions,
  ScheduleQuery,
  ScheduleSelector,
  SelectItem,
  ShowBackupOptions,
  Statement,
  TableName,
  TablePattern,
  Targets,
} from './ast.js';
import { Source, tokenize } from './lexer.js';
import type { Token } from './lexer.js';
import { RESERVED_KEYWORDS } from './keywords.js';

/**
 * Parses a string of semicolon-separated statements. Empty statements (an empty input, a
 * trailing `;`) yield nothing. Throws a `CairnError` with code `SYNTAX_ERROR` and `position`
 * (1-based offset of the offending token) on the first error.
 */
export function parse(sql: string): Statement[] {
  return new Parser(new Source(sql)).parseAll();
}

/** Parses exactly one statement (a trailing `;` is allowed). */
export function parseOne(sql: string): Statement {
  const src = new Source(sql);
  const stmts = new Parser(src).parseAll();
  const first = stmts[0];
  if (first === undefined) throw src.error(sql.length + 1, 'EOF', 'expected a statement');
  const second = stmts[1];
  if (second !== undefined) {
    const tok = tokenize(src).find((t) => t.pos === second.pos);
    throw src.error(second.pos, tok === undefined ? '' : src.near(tok), 'expected exactly one statement');
  }
  return first;
}

const AGGREGATES = ['count', 'sum', 'min', 'max', 'avg'] as const;
const JOB_QUERY_COLUMNS = ['job_id', 'job_type', 'status'];
const SCHEDULE_QUERY_COLUMNS = ['label', 'id', 'schedule_status'];

class Parser {
  private readonly toks: Token[];
  private i = 0;

  constructor(private readonly src: Source) {
    this.toks = tokenize(src);
  }
  /** A syntax error with a message of its own, ending with the token's line and column. */
  private positioned(tok: Token, message: string): CairnError {
    const { line, column } = this.src.lineColumn(tok.pos);
    return new CairnError(ErrorCode.Syntax, `${message} (line ${line}, column ${column})`, { position: tok.pos });
  }


  // -------------------------------------------------------------------------------------------
  // Token helpers

  private peek(k = 0): Token {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)] as Token;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  private isKw(word: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === 'word' && t.upper === word;
  }

  private acceptKw(word: string): Token | undefined {
    return this.isKw(word) ? this.next() : undefined;
  }

  private expectKw(word: string, expected: string = word): Token {
    if (!this.isKw(word)) this.expected(expected);
    return this.next();
  }

  private isOp(op: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === 'op' && t.value === op;
  }

  private acceptOp(op: string): Token | undefined {
    return this.isOp(op) ? this.next() : undefined;
  }

  private expectOp(op: string): Token {
    if (!this.isOp(op)) this.expected(`"${op}"`);
    return this.next();
  }

  private fail(tok: Token, detail: string): never {
    throw this.src.error(tok.pos, this.src.near(tok), detail);
  }

  private expected(what: string): never {
    this.fail(this.peek(), `expected ${what}`);
  }

  private commaList<T>(item: () => T): T[] {
    const out = [item()];
    while (this.acceptOp(',')) out.push(item());
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Statements

  parseAll(): Statement[] {
    const out: Statement[] = [];
    for (;;) {
      while (this.acceptOp(';'));
      if (this.peek().kind === 'eof') return out;
      out.push(this.statement());
      if (!this.isOp(';') && this.peek().kind !== 'eof') this.expected('end of statement');
    }
  }

  private statement(): Statement {
    const t = this.peek();
    if (t.kind === 'word') {
      switch (t.upper) {
        case 'CREATE':
          return this.create();
        case 'DROP':
          return this.drop();
        case 'USE': {
          this.next();
          return { kind: 'useDatabase', pos: t.pos, name: this.ident('database name') };
        }
        case 'SET':
          return this.set();
        case 'INSERT':
        case 'UPSERT':
          return this.insert();
        case 'DELETE':
          return this.delete();
        case 'UPDATE':
          return this.update();
        case 'SELECT':
          return this.select();
        case 'SHOW':
          return this.show();
        case 'BACKUP':
          return this.backup();
        case 'RESTORE':
          return this.restore();
        case 'PAUSE':
        case 'RESUME':
        case 'CANCEL':
          return this.control();
        case 'CHECK':
          this.next();
          this.expectKw('EXTERNAL');
          this.expectKw('CONNECTION');
          return this.connectionCheck(t.pos, 'check');
        case 'ALTER':
          if (this.isKw('USER', 1)) return this.alterUser();
          return this.isKw('SCHEDULE', 2) ? this.alterBackupSchedule() : this.alterBackupKms();
        case 'GRANT':
        case 'REVOKE':
          return this.grant();
      }
    }
    this.fail(t, 'expected a statement (BACKUP, RESTORE, SHOW, CREATE, ...)');
  }

  private create(): Statement {
    const pos = this.expectKw('CREATE').pos;
    if (this.acceptKw('DATABASE')) {
      const ifNotExists = this.ifNotExists();
      return { kind: 'createDatabase', pos, name: this.ident('database name'), ifNotExists };
    }
    if (this.acceptKw('TABLE')) return this.createTable(pos);
    if (this.acceptKw('VIEW')) {
      const ifNotExists = this.ifNotExists();
      const view = this.tableName();
      this.expectKw('AS');
      return { kind: 'createView', pos, view, ifNotExists, query: this.rawQuery() };
    }
    if (this.acceptKw('SEQUENCE')) {
      const ifNotExists = this.ifNotExists();
      return { kind: 'createSequence', pos, sequence: this.tableName(), ifNotExists };
    }
    if (this.acceptKw('SCHEDULE')) return this.createSchedule(pos);
    if (this.acceptKw('EXTERNAL')) {
      this.expectKw('CONNECTION');
      const name = this.ident('connection name');
      this.expectKw('AS');
      return { kind: 'createExternalConnection', pos, name, uri: this.string('connection URI') };
    }
    if (this.acceptKw('USER')) return this.createUser(pos);
    this.expected('DATABASE, TABLE, VIEW, SEQUENCE, SCHEDULE, EXTERNAL CONNECTION or USER');
  }

  /** `CREATE USER [IF NOT EXISTS] name [[WITH] PASSWORD 'pw' | PASSWORD NULL]`. */
  private createUser(pos: number): Statement {
    const ifNotExists = this.ifNotExists();
    const stmt: Statement = { kind: 'createUser', pos, name: this.roleName(), ifNotExists };
    const withTok = this.acceptKw('WITH');
    if (this.acceptKw('PASSWORD')) {
      stmt.password = this.acceptKw('NULL') ? null : this.string('a password string or NULL');
    } else if (withTok) {
      this.expected('PASSWORD (the only user option cairn takes)');
    }
    return stmt;
  }

  /** `ALTER USER [IF EXISTS] name [WITH] PASSWORD 'pw' | PASSWORD NULL`. */
  private alterUser(): Statement {
    const pos = this.expectKw('ALTER').pos;
    this.expectKw('USER');
    const ifExists = this.ifExists();
    const name = this.roleName();
    this.acceptKw('WITH');
    this.expectKw('PASSWORD', 'PASSWORD (the only user option cairn takes)');
    const password = this.acceptKw('NULL') ? null : this.string('a password string or NULL');
    return { kind: 'alterUser', pos, name, ifExists, password };
  }

  /** The rest of `CHECK EXTERNAL CONNECTION` / `SHOW BACKUP CONNECTION`: `'uri' [WITH TRANSFER = .., EXECUTION LOCALITY = ..]`. */
  private connectionCheck(pos: number, form: 'check' | 'showBackup'): Statement {
    const stmtName = form === 'check' ? 'CHECK EXTERNAL CONNECTION' : 'SHOW BACKUP CONNECTION';
    const stmt: Statement = { kind: 'checkExternalConnection', pos, form, uri: this.string('URI') };
    this.optionList(stmtName, (name, tok) => {
      if (name === 'transfer') stmt.transfer = this.stringValue();
      else if (name === 'execution locality') stmt.executionLocality = this.stringValue();
      else this.unknownOption(tok, name, stmtName);
    });
    return stmt;
  }

  /** `ALTER BACKUP <location> ADD NEW_KMS = <uris> WITH OLD_KMS = <uris>`. */
  private alterBackupKms(): Statement {
    const pos = this.expectKw('ALTER').pos;
    this.expectKw('BACKUP');
    const location = this.location();
    this.expectKw('ADD', 'ADD NEW_KMS');
    this.expectKw('NEW_KMS');
    const newKms = this.uriListValue();
    this.expectKw('WITH', 'WITH OLD_KMS');
    this.expectKw('OLD_KMS');
    return { kind: 'alterBackupKms', pos, location, newKms, oldKms: this.uriListValue() };
  }

  private drop(): Statement {
    const pos = this.expectKw('DROP').pos;
    if (this.acceptKw('DATABASE')) {
      const ifExists = this.ifExists();
      const name = this.ident('database name');
      return { kind: 'dropDatabase', pos, name, ifExists, cascade: this.cascade() };
    }
    for (const [word, kind] of [
      ['TABLE', 'dropTable'],
      ['VIEW', 'dropView'],
      ['SEQUENCE', 'dropSequence'],
    ] as const) {
      if (this.acceptKw(word)) {
        const ifExists = this.ifExists();
        const name = this.tableName();
        return { kind, pos, name, ifExists, cascade: this.cascade() };
      }
    }
    if (this.acceptKw('SCHEDULE')) {
      return { kind: 'controlSchedules', pos, action: 'drop', schedules: this.scheduleId() };
    }
    if (this.acceptKw('SCHEDULES')) {
      return { kind: 'controlSchedules', pos, action: 'drop', schedules: this.scheduleQuery() };
    }
    if (this.acceptKw('EXTERNAL')) {
      this.expectKw('CONNECTION');
      return { kind: 'dropExternalConnection', pos, name: this.ident('connection name') };
    }
    if (this.acceptKw('USER')) {
      const ifExists = this.ifExists();
      return { kind: 'dropUser', pos, names: this.commaList(() => this.roleName()), ifExists };
    }
    this.expected('DATABASE, TABLE, VIEW, SEQUENCE, SCHEDULE, SCHEDULES, EXTERNAL CONNECTION or USER');
  }

  private ifNotExists(): boolean {
    if (!this.isKw('IF')) return false;
    this.next();
    this.expectKw('NOT');
    this.expectKw('EXISTS');
    return true;
  }

  private ifExists(): boolean {
    if (!this.acceptKw('IF')) return false;
    this.expectKw('EXISTS');
    return true;
  }

  private cascade(): boolean {
    if (this.acceptKw('CASCADE')) return true;
    this.acceptKw('RESTRICT');
    return false;
  }

  private set(): Statement {
    const pos = this.expectKw('SET').pos;
    if (this.acceptKw('CLUSTER')) {
      this.expectKw('SETTING');
      const name = this.settingName();
      if (!this.acceptOp('=')) this.expectKw('TO', '"=" or TO');
      if (this.acceptKw('DEFAULT')) return { kind: 'setClusterSetting', pos, name };
      return { kind: 'setClusterSetting', pos, name, value: this.literal() };
    }
    if (this.acceptKw('DATABASE')) {
      if (!this.acceptOp('=')) this.expectKw('TO', '"=" or TO');
      return { kind: 'useDatabase', pos, name: this.ident('database name') };
    }
    this.expected('CLUSTER SETTING or DATABASE');
  }

  // --- data plane ------------------------------------------------------------------------------

  private createTable(pos: number): Statement {
    const ifNotExists = this.ifNotExists();
    const table = this.tableName();
    this.expectOp('(');
    const columns: ColumnDef[] = [];
    const foreignKeys: ForeignKeyDef[] = [];
    let primaryKey: string[] | undefined;
    do {
      const t = this.peek();
      let constraintName: string | undefined;
      if (this.acceptKw('CONSTRAINT')) constraintName = this.ident('constraint name');
      if (this.isKw('PRIMARY')) {
        this.next();
        this.expectKw('KEY');
        if (primaryKey !== undefined || columns.some((c) => c.primaryKey)) this.fail(t, 'multiple primary keys');
        primaryKey = this.identList();
      } else if (this.isKw('FOREIGN')) {
        const fkPos = this.next().pos;
        this.expectKw('KEY');
        const cols = this.identList();
        this.expectKw('REFERENCES');
        const refTable = this.tableName();
        const refColumns = this.isOp('(') ? this.identList() : [];
        const fk: ForeignKeyDef = { pos: constraintName === undefined ? fkPos : t.pos, columns: cols, table: refTable, refColumns };
        if (constraintName !== undefined) fk.name = constraintName;
        foreignKeys.push(fk);
      } else if (constraintName !== undefined) {
        this.expected('PRIMARY KEY or FOREIGN KEY');
      } else {
        const col = this.columnDef();
        if (col.primaryKey && (primaryKey !== undefined || columns.some((c) => c.primaryKey))) {
          this.fail(t, 'multiple primary keys');
        }
        columns.push(col);
      }
    } while (this.acceptOp(','));
    this.expectOp(')');
    if (columns.length === 0) this.fail(this.peek(), 'a table needs at least one column');
    const stmt: Statement = { kind: 'createTable', pos, table, ifNotExists, columns, foreignKeys };
    if (primaryKey !== undefined) stmt.primaryKey = primaryKey;
    return stmt;
  }

  private identList(): string[] {
    this.expectOp('(');
    const out = this.commaList(() => this.ident('column name'));
    this.expectOp(')');
    return out;
  }

  private columnDef(): ColumnDef {
    const pos = this.peek().pos;
    const name = this.ident('column name');
    const type = this.columnType();
    const col: ColumnDef = { pos, name, type, notNull: false, primaryKey: false };
    for (;;) {
      if (this.acceptKw('NOT')) {
        this.expectKw('NULL');
        col.notNull = true;
      } else if (this.acceptKw('NULL')) {
        col.notNull = false;
      } else if (this.acceptKw('PRIMARY')) {
        this.expectKw('KEY');
        col.primaryKey = true;
      } else if (this.isKw('REFERENCES')) {
        const refPos = this.next().pos;
        const ref: ColumnReference = { pos: refPos, table: this.tableName() };
        if (this.acceptOp('(')) {
          ref.column = this.ident('column name');
          this.expectOp(')');
        }
        col.references = ref;
      } else if (this.acceptKw('DEFAULT')) {
        col.default = this.columnDefault();
      } else {
        return col;
      }
    }
  }

  private columnDefault(): Literal | NextvalDefault {
    if (this.isKw('NEXTVAL') && this.isOp('(', 1)) {
      const pos = this.next().pos;
      this.next();
      const sequence = this.string('sequence name');
      this.expectOp(')');
      return { kind: 'nextval', pos, sequence };
    }
    return this.literal();
  }

  private columnType(): ColumnType {
    const t = this.peek();
    if (t.kind !== 'word') this.expected('column type');
    this.next();
    const pos = t.pos;
    const simple = (name: ColumnTypeName): ColumnType => ({ pos, name });
    switch (t.upper) {
      case 'INT':
      case 'INT2':
      case 'INT4':
      case 'INT8':
      case 'INTEGER':
      case 'BIGINT':
      case 'SMALLINT':
        return simple('INT');
      case 'FLOAT':
      case 'FLOAT4':
      case 'FLOAT8':
      case 'REAL':
        return simple('FLOAT');
      case 'DOUBLE':
        this.expectKw('PRECISION');
        return simple('FLOAT');
      case 'STRING':
      case 'TEXT':
      case 'VARCHAR':
      case 'CHAR':
      case 'CHARACTER': {
        if (t.upper === 'CHARACTER') this.acceptKw('VARYING');
        const type = simple('STRING');
        if (this.acceptOp('(')) {
          type.length = this.smallInt('length');
          this.expectOp(')');
        }
        return type;
      }
      case 'BOOL':
      case 'BOOLEAN':
        return simple('BOOL');
      case 'BYTES':
      case 'BYTEA':
        return simple('BYTES');
      case 'TIMESTAMPTZ':
        return simple('TIMESTAMPTZ');
      case 'TIMESTAMP':
        if (this.isKw('WITH') || this.isKw('WITHOUT')) {
          const withTz = this.next().upper === 'WITH';
          this.expectKw('TIME');
          this.expectKw('ZONE');
          return simple(withTz ? 'TIMESTAMPTZ' : 'TIMESTAMP');
        }
        return simple('TIMESTAMP');
      case 'DECIMAL':
      case 'NUMERIC':
      case 'DEC': {
        const type = simple('DECIMAL');
        if (this.acceptOp('(')) {
          type.precision = this.smallInt('precision');
          if (this.acceptOp(',')) type.scale = this.smallInt('scale');
          this.expectOp(')');
        }
        return type;
      }
    }
    this.fail(t, 'expected a column type (INT, FLOAT, STRING, BOOL, BYTES, TIMESTAMP, TIMESTAMPTZ, DECIMAL)');
  }

  private smallInt(what: string): number {
    const t = this.peek();
    if (t.kind !== 'number' || !/^\d+$/.test(t.value)) this.expected(what);
    this.next();
    return Number(t.value);
  }

  /** The raw text of a view's query: from SELECT to the end of the statement. */
  private rawQuery(): string {
    const first = this.peek();
    if (!this.isKw('SELECT')) this.expected('SELECT');
    let depth = 0;
    let last = first;
    while (this.peek().kind !== 'eof' && !(depth === 0 && this.isOp(';'))) {
      const t = this.next();
      if (t.kind === 'op' && (t.value === '(' || t.value === '[')) depth++;
      if (t.kind === 'op' && (t.value === ')' || t.value === ']')) depth--;
      last = t;
    }
    return this.src.text.slice(first.pos - 1, last.end);
  }

  private insert(): Statement {
    const t = this.next();
    const upsert = t.upper === 'UPSERT';
    this.expectKw('INTO');
    const table = this.tableName();
    let columns: string[] | undefined;
    if (this.isOp('(')) columns = this.identList();
    this.expectKw('VALUES');
    const rows = this.commaList(() => {
      const open = this.expectOp('(');
      const row = this.commaList(() => this.literal());
      this.expectOp(')');
      if (columns !== undefined && row.length !== columns.length) {
        this.fail(open, `VALUES lists must have ${columns.length} values to match the column list`);
      }
      return row;
    });
    const stmt: Statement = { kind: 'insert', pos: t.pos, upsert, table, rows };
    if (columns !== undefined) stmt.columns = columns;
    return stmt;
  }

  private delete(): Statement {
    const pos = this.expectKw('DELETE').pos;
    this.expectKw('FROM');
    const table = this.tableName();
    return { kind: 'delete', pos, table, where: this.optWhere() };
  }

  private update(): Statement {
    const pos = this.expectKw('UPDATE').pos;
    const table = this.tableName();
    this.expectKw('SET');
    const assignments = this.commaList((): Assignment => {
      const aPos = this.peek().pos;
      const column = this.ident('column name');
      this.expectOp('=');
      return { pos: aPos, column, value: this.valueExpr() };
    });
    return { kind: 'update', pos, table, assignments, where: this.optWhere() };
  }

  private select(): Statement {
    const pos = this.expectKw('SELECT').pos;
    const items = this.commaList((): SelectItem => {
      const t = this.peek();
      if (this.acceptOp('*')) return { kind: 'star', pos: t.pos };
      const fn = AGGREGATES.find((a) => t.kind === 'word' && t.value === a);
      if (fn !== undefined && this.isOp('(', 1)) {
        this.next();
        this.next();
        const item: SelectItem = { kind: 'aggregate', pos: t.pos, fn };
        if (!this.acceptOp('*')) item.arg = this.ident('column name');
        this.expectOp(')');
        return item;
      }
      return { kind: 'column', pos: t.pos, name: this.ident('column name or *') };
    });
    this.expectKw('FROM');
    const from = this.tableName();
    const stmt: Statement = { kind: 'select', pos, items, from, where: [], orderBy: [] };
    const asOf = this.optAsOf();
    if (asOf !== undefined) stmt.asOf = asOf;
    stmt.where = this.optWhere();
    if (this.acceptKw('ORDER')) {
      this.expectKw('BY');
      stmt.orderBy = this.commaList((): OrderItem => {
        const oPos = this.peek().pos;
        const column = this.ident('column name');
        let desc = false;
        if (this.acceptKw('DESC')) desc = true;
        else this.acceptKw('ASC');
        return { pos: oPos, column, desc };
      });
    }
    if (this.acceptKw('LIMIT')) stmt.limit = this.smallInt('LIMIT count');
    return stmt;
  }

  private optWhere(allowed?: readonly string[]): Predicate[] {
    if (!this.acceptKw('WHERE')) return [];
    const out: Predicate[] = [];
    do {
      const colTok = this.peek();
      const column = this.ident('column name');
      if (allowed !== undefined && !allowed.includes(column)) {
        this.fail(colTok, `expected column ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1] ?? ''}`);
      }
      const pos = colTok.pos;
      if (this.acceptKw('IN')) {
        this.expectOp('(');
        const values = this.commaList(() => this.literal());
        this.expectOp(')');
        out.push({ kind: 'in', pos, column, values });
      } else if (this.acceptKw('BETWEEN')) {
        const lo = this.literal();
        this.expectKw('AND');
        const hi = this.literal();
        out.push({ kind: 'compare', pos, column, op: '>=', value: lo }, { kind: 'compare', pos, column, op: '<=', value: hi });
      } else {
        const opTok = this.peek();
        const ops: readonly string[] = ['=', '!=', '<', '<=', '>', '>='];
        if (opTok.kind !== 'op' || !ops.includes(opTok.value)) this.expected('comparison operator (=, !=, <, <=, >, >=), IN or BETWEEN');
        this.next();
        const cmp: Comparison = { kind: 'compare', pos, column, op: opTok.value as ComparisonOp, value: this.literal() };
        out.push(cmp);
      }
    } while (this.acceptKw('AND'));
    return out;
  }

  // --- SHOW ------------------------------------------------------------------------------------

  private show(): Statement {
    const pos = this.expectKw('SHOW').pos;
    const t = this.peek();
    const word = t.kind === 'word' ? t.upper : '';
    switch (word) {
      case 'DATABASES':
        this.next();
        return { kind: 'showDatabases', pos };
      case 'TABLES': {
        this.next();
        if (this.acceptKw('FROM')) return { kind: 'showTables', pos, database: this.ident('database name') };
        return { kind: 'showTables', pos };
      }
      case 'RANGES': {
        this.next();
        this.expectKw('FROM');
        if (this.acceptKw('TABLE')) return { kind: 'showRanges', pos, table: this.tableName() };
        if (this.acceptKw('DATABASE')) return { kind: 'showRanges', pos, database: this.ident('database name') };
        this.expected('TABLE or DATABASE');
        break;
      }
      case 'NODES':
        this.next();
        return { kind: 'showNodes', pos };
      case 'FINGERPRINTS': {
        this.next();
        this.expectKw('FROM');
        let stmt: Statement;
        if (this.acceptKw('TABLE')) stmt = { kind: 'showFingerprints', pos, table: this.tableName() };
        else if (this.acceptKw('DATABASE')) stmt = { kind: 'showFingerprints', pos, database: this.ident('database name') };
        else this.expected('TABLE or DATABASE');
        const asOf = this.optAsOf();
        if (asOf !== undefined) stmt.asOf = asOf;
        return stmt;
      }
      case 'CREATE':
        this.next();
        this.expectKw('TABLE');
        return { kind: 'showCreateTable', pos, table: this.tableName() };
      case 'CLUSTER':
        this.next();
        if (this.acceptKw('SETTINGS')) return { kind: 'showClusterSettings', pos, all: false };
        this.expectKw('SETTING', 'SETTING or SETTINGS');
        return { kind: 'showClusterSetting', pos, name: this.settingName() };
      case 'ALL':
        this.next();
        this.expectKw('CLUSTER');
        this.expectKw('SETTINGS');
        return { kind: 'showClusterSettings', pos, all: true };
      case 'PROTECTED':
        this.next();
        this.expectKw('TIMESTAMPS');
        return { kind: 'showProtectedTimestamps', pos };
      case 'BACKUPS':
        this.next();
        this.expectKw('IN');
        return { kind: 'showBackups', pos, collection: this.uriList() };
      case 'BACKUP':
        this.next();
        return this.acceptKw('CONNECTION') ? this.connectionCheck(pos, 'showBackup') : this.showBackup(pos);
      case 'EXTERNAL':
        this.next();
        if (this.acceptKw('CONNECTIONS')) return { kind: 'showExternalConnections', pos };
        this.expectKw('CONNECTION', 'CONNECTIONS or CONNECTION');
        return { kind: 'showExternalConnections', pos, name: this.ident('connection name') };
      case 'JOBS':
        return this.showJobs(pos);
      case 'JOB': {
        this.next();
        let whenComplete = false;
        if (this.acceptKw('WHEN')) {
          this.expectKw('COMPLETE');
          whenComplete = true;
        }
        return { kind: 'showJob', pos, id: this.id('job id'), whenComplete };
      }
      case 'SCHEDULES':
      case 'RUNNING':
      case 'PAUSED': {
        this.next();
        let status: 'running' | 'paused' | undefined;
        if (word !== 'SCHEDULES') {
          status = word === 'RUNNING' ? 'running' : 'paused';
          this.expectKw('SCHEDULES');
        }
        let backupOnly = false;
        if (this.acceptKw('FOR')) {
          this.expectKw('BACKUP');
          backupOnly = true;
        }
        const stmt: Statement = { kind: 'showSchedules', pos, backupOnly };
        if (status !== undefined) stmt.status = status;
        return stmt;
      }
      case 'SCHEDULE':
        this.next();
        return { kind: 'showSchedule', pos, id: this.id('schedule id') };
      case 'USERS':
      case 'ROLES':
        this.next();
        return { kind: 'showUsers', pos };
      case 'GRANTS':
        this.next();
        return this.showGrants(pos, this.grantsTarget());
      case 'SYSTEM':
        this.next();
        this.expectKw('GRANTS');
        return this.showGrants(pos, { kind: 'system', pos: t.pos });
    }
    this.fail(t, 'expected what to show (JOBS, SCHEDULES, BACKUP, BACKUPS, DATABASES, TABLES, GRANTS, USERS, ...)');
  }

  /** The optional `ON DATABASE d, ... | ON [TABLE] t, ...` of SHOW GRANTS. */
  private grantsTarget(): PrivilegeTarget | undefined {
    if (!this.acceptKw('ON')) return undefined;
    const t = this.peek();
    if (this.acceptKw('DATABASE')) return { kind: 'databases', pos: t.pos, names: this.commaList(() => this.ident('database name')) };
    if (!this.acceptKw('TABLE') && this.isKw('ROLE')) this.fail(t, 'SHOW GRANTS ON ROLE is not supported: SHOW USERS lists role membership');
    return { kind: 'tables', pos: t.pos, tables: this.commaList(() => this.tablePattern()) };
  }

  private showGrants(pos: number, on: PrivilegeTarget | undefined): Statement {
    const stmt: Statement = { kind: 'showGrants', pos };
    if (on !== undefined) stmt.on = on;
    if (this.acceptKw('FOR')) stmt.grantees = this.commaList(() => this.roleName());
    return stmt;
  }

  private showBackup(pos: number): Statement {
    let details: 'default' | 'schemas' | 'files' | 'ranges' = 'default';
    for (const d of ['SCHEMAS', 'FILES', 'RANGES'] as const) {
      if (this.acceptKw(d)) {
        details = d.toLowerCase() as typeof details;
        break;
      }
    }
    let source: Location;
    if (this.acceptKw('FROM')) {
      source = this.location();
      if (source.subdir === undefined) this.expected('IN');
    } else if (this.peek().kind === 'string' || this.isOp('(')) {
      source = this.uriList();
    } else {
      this.expected('FROM or a backup URI');
    }
    const options: ShowBackupOptions = {};
    this.optionList('SHOW BACKUP', (name, tok) => {
      switch (name) {
        case 'check_files':
          options.checkFiles = this.flagValue();
          break;
        case 'as_json':
          options.asJson = this.flagValue();
          break;
        case 'privileges':
          options.privileges = this.flagValue();
          break;
        case 'encryption_passphrase':
          options.encryptionPassphrase = this.stringValue();
          break;
        case 'kms':
          options.kms = this.uriListValue();
          break;
        case 'incremental_location':
          options.incrementalLocation = this.uriListValue();
          break;
        default:
          this.unknownOption(tok, name, 'SHOW BACKUP');
      }
    });
    return { kind: 'showBackup', pos, details, source, options };
  }

  private showJobs(pos: number): Statement {
    this.expectKw('JOBS');
    if (this.isKw('SELECT') || (this.isOp('(') && this.isKw('SELECT', 1))) {
      return { kind: 'showJobs', pos, filter: this.jobQuery() };
    }
    if (this.isKw('FOR')) return { kind: 'showJobs', pos, filter: this.jobsForSchedules() };
    return { kind: 'showJobs', pos };
  }

  // --- jobs and schedule selectors -----------------------------------------------------------

  /** `SELECT * | job_id FROM [SHOW JOBS] [WHERE ...]`, optionally parenthesised. */
  private jobQuery(): JobQuery {
    const pos = this.peek().pos;
    const paren = this.acceptOp('(') !== undefined;
    this.expectKw('SELECT');
    if (!this.acceptOp('*')) this.expectWord('job_id', '* or job_id');
    this.expectKw('FROM');
    this.expectOp('[');
    this.expectKw('SHOW');
    this.expectKw('JOBS');
    this.expectOp(']');
    const where = this.optWhere(JOB_QUERY_COLUMNS);
    if (paren) this.expectOp(')');
    return { kind: 'jobQuery', pos, where };
  }

  /** `FOR SCHEDULE id` / `FOR SCHEDULES <schedule query>`. */
  private jobsForSchedules(): JobsForSchedules {
    const pos = this.expectKw('FOR').pos;
    if (this.acceptKw('SCHEDULE')) return { kind: 'forSchedules', pos, schedules: this.scheduleId() };
    this.expectKw('SCHEDULES', 'SCHEDULE or SCHEDULES');
    return { kind: 'forSchedules', pos, schedules: this.scheduleQuery() };
  }

  private scheduleId(): ScheduleSelector {
    const pos = this.peek().pos;
    return { kind: 'scheduleId', pos, id: this.id('schedule id') };
  }

  /**
   * `WITH x AS (SHOW SCHEDULES) SELECT id FROM x [WHERE ...]` or
   * `SELECT id FROM [SHOW SCHEDULES] [WHERE ...]`, optionally parenthesised.
   */
  private scheduleQuery(): ScheduleQuery {
    const pos = this.peek().pos;
    const paren = this.acceptOp('(') !== undefined;
    if (this.acceptKw('WITH')) {
      const name = this.ident('name');
      this.expectKw('AS');
      this.expectOp('(');
      this.expectKw('SHOW');
      this.expectKw('SCHEDULES');
      this.expectOp(')');
      this.expectKw('SELECT');
      this.expectWord('id', 'id');
      this.expectKw('FROM');
      const fromTok = this.peek();
      if (this.ident(name) !== name) this.fail(fromTok, `expected ${name}`);
    } else {
      if (!this.isKw('SELECT')) this.expected('WITH or SELECT');
      this.next();
      this.expectWord('id', 'id');
      this.expectKw('FROM');
      this.expectOp('[');
      this.expectKw('SHOW');
      this.expectKw('SCHEDULES');
      this.expectOp(']');
    }
    const where = this.optWhere(SCHEDULE_QUERY_COLUMNS);
    if (paren) this.expectOp(')');
    return { kind: 'scheduleQuery', pos, where };
  }

  private expectWord(lower: string, expected: string): Token {
    const t = this.peek();
    if (!((t.kind === 'word' || t.kind === 'ident') && t.value === lower)) this.expected(expected);
    return this.next();
  }

  private control(): Statement {
    const t = this.next();
    const action = t.value as 'pause' | 'resume' | 'cancel';
    const pos = t.pos;
    if (this.acceptKw('JOB')) {
      const idPos = this.peek().pos;
      return { kind: 'controlJobs', pos, action, jobs: { kind: 'jobId', pos: idPos, id: this.id('job id') } };
    }
    if (this.acceptKw('JOBS')) {
      const jobs: JobSelector = this.isKw('FOR') ? this.jobsForSchedules() : this.jobQuery();
      return { kind: 'controlJobs', pos, action, jobs };
    }
    if (action !== 'cancel') {
      if (this.acceptKw('SCHEDULE')) return { kind: 'controlSchedules', pos, action, schedules: this.scheduleId() };
      if (this.acceptKw('SCHEDULES')) return { kind: 'controlSchedules', pos, action, schedules: this.scheduleQuery() };
      this.expected('JOB, JOBS, SCHEDULE or SCHEDULES');
    }
    this.expected('JOB or JOBS');
  }

  // --- BACKUP / RESTORE ------------------------------------------------------------------------

  private backup(): BackupStatement {
    const pos = this.expectKw('BACKUP').pos;
    const targets = this.targets(['INTO', 'TO']);
    let mode: 'into' | 'to';
    let destination: Location;
    if (this.acceptKw('INTO')) {
      mode = 'into';
      destination = this.location();
    } else if (this.acceptKw('TO')) {
      mode = 'to';
      destination = this.uriList();
    } else {
      this.expected('INTO or TO');
    }
    const stmt: BackupStatement = { kind: 'backup', pos, targets, mode, destination, incrementalFrom: [], options: {} };
    const asOf = this.optAsOf();
    if (asOf !== undefined) stmt.asOf = asOf;
    if (this.acceptKw('INCREMENTAL')) {
      this.expectKw('FROM');
      stmt.incrementalFrom = this.commaList(() => this.string('backup URI'));
    }
    stmt.options = this.backupOptions();
    return stmt;
  }

  private backupOptions(): BackupOptions {
    const options: BackupOptions = {};
    this.optionList('BACKUP', (name, tok) => this.backupOption(options, name, tok));
    return options;
  }

  private backupOption(options: BackupOptions, name: string, tok: Token): void {
    if (name === 'revision_history') options.revisionHistory = this.flagValue();
    else if (!this.jobOption(options, name)) this.unknownOption(tok, name, 'BACKUP');
  }

  /** The options BACKUP and RESTORE share; false when `name` is not one of them. */
  private jobOption(options: BackupOptions & RestoreOptions, name: string): boolean {
    switch (name) {
      case 'detached':
        options.detached = this.flagValue();
        return true;
      case 'encryption_passphrase':
        options.encryptionPassphrase = this.stringValue();
        return true;
      case 'kms':
        options.kms = this.uriListValue();
        return true;
      case 'incremental_location':
        options.incrementalLocation = this.uriListValue();
        return true;
      case 'execution locality':
        options.executionLocality = this.stringValue();
        return true;
      default:
        return false;
    }
  }

  private restore(): Statement {
    const pos = this.expectKw('RESTORE').pos;
    const targets = this.targets(['FROM']);
    this.expectKw('FROM');
    const source = this.location();
    const incrementalSources: Location[] = [];
    // `FROM 'full', 'inc1'`: only the old form (no subdir) names one location per layer.
    if (source.subdir === undefined) while (this.acceptOp(',')) incrementalSources.push(this.uriList());
    const asOf = this.optAsOf();
    const options: RestoreOptions = {};
    this.optionList('RESTORE', (name, tok) => {
      switch (name) {
        case 'new_db_name':
          options.newDbName = this.stringValue();
          break;
        case 'into_db':
          options.intoDb = this.stringValue();
          break;
        case 'skip_missing_foreign_keys':
          options.skipMissingForeignKeys = this.flagValue();
          break;
        case 'skip_missing_sequences':
          options.skipMissingSequences = this.flagValue();
          break;
        case 'skip_missing_views':
          options.skipMissingViews = this.flagValue();
          break;
        case 'skip_localities_check':
          options.skipLocalitiesCheck = this.flagValue();
          break;
        case 'schema_only':
          options.schemaOnly = this.flagValue();
          break;
        case 'verify_backup_table_data':
          options.verifyBackupTableData = this.flagValue();
          break;
        default:
          if (!this.jobOption(options, name)) this.unknownOption(tok, name, 'RESTORE');
      }
    });
    const stmt: Statement = { kind: 'restore', pos, targets, source, options };
    if (incrementalSources.length > 0) stmt.incrementalSources = incrementalSources;
    if (asOf !== undefined) stmt.asOf = asOf;
    return stmt;
  }

  /** Targets of BACKUP / RESTORE; nothing before one of `stop` means the whole cluster. */
  private targets(stop: string[]): Targets {
    const pos = this.peek().pos;
    if (this.acceptKw('DATABASE')) return { kind: 'databases', pos, names: this.commaList(() => this.ident('database name')) };
    if (this.acceptKw('TABLE')) return { kind: 'tables', pos, tables: this.commaList(() => this.tablePattern()) };
    if (stop.some((w) => this.isKw(w))) return { kind: 'cluster', pos };
    const t = this.peek();
    if (t.kind !== 'ident' && !(t.kind === 'word' && !RESERVED_KEYWORDS.has(t.upper)) && !this.isOp('*')) {
      this.expected(`DATABASE, TABLE, a table name or ${stop.join(' or ')}`);
    }
    const tables = this.commaList(() => this.tablePattern());
    const only = tables[0];
    if (tables.length === 1 && only?.kind === 'table' && only.table.database === undefined && t.kind === 'word' && !stop.some((w) => this.isKw(w))) {
      // `RESTORE FORM LATEST ...`: a lone bare word not followed by the clause keyword is far
      // more likely a misspelt keyword than a table name, so point at it.
      this.fail(t, `expected ${stop.join(' or ')}`);
    }
    return { kind: 'tables', pos, tables };
  }

  /** `'uri'`, `('uri', ...)`, `LATEST IN <uris>` or `'subdir' IN <uris>`. */
  private location(): Location {
    const t = this.peek();
    if (this.acceptKw('LATEST')) {
      this.expectKw('IN');
      const loc = this.uriList();
      return { pos: t.pos, subdir: { kind: 'latest', pos: t.pos }, uris: loc.uris };
    }
    if (t.kind === 'string' && this.isKw('IN', 1)) {
      this.next();
      this.next();
      const loc = this.uriList();
      return { pos: t.pos, subdir: { kind: 'path', pos: t.pos, path: t.value }, uris: loc.uris };
    }
    return this.uriList();
  }

  /** `'uri'` or `('uri', ...)`. */
  private uriList(): Location {
    const pos = this.peek().pos;
    if (this.acceptOp('(')) {
      const uris = this.commaList(() => this.string('URI'));
      this.expectOp(')');
      return { pos, uris };
    }
    return { pos, uris: [this.string('URI')] };
  }

  private optAsOf(): AsOf | undefined {
    if (!this.isKw('AS') || !this.isKw('OF', 1)) return undefined;
    const pos = this.next().pos;
    this.next();
    this.expectKw('SYSTEM');
    this.expectKw('TIME');
    const t = this.peek();
    if (t.kind === 'string') {
      this.next();
      const text = t.value;
      if (text.trim() === '') this.fail(t, 'expected a timestamp, a negative interval or a decimal');
      if (/^\d+(\.\d+)?$/.test(text)) return { kind: 'decimal', pos, text };
      if (text.startsWith('-')) return { kind: 'interval', pos, text };
      return { kind: 'timestamp', pos, text };
    }
    if (t.kind === 'number') {
      if (!/^\d+(\.\d+)?$/.test(t.value)) this.fail(t, 'expected a decimal HLC timestamp');
      this.next();
      return { kind: 'decimal', pos, text: t.value };
    }
    if (this.isKw('FOLLOWER_READ_TIMESTAMP')) {
      this.next();
      this.expectOp('(');
      this.expectOp(')');
      return { kind: 'follower', pos, text: 'follower_read_timestamp()' };
    }
    this.expected('a string, a decimal or follower_read_timestamp()');
  }

  // --- options -------------------------------------------------------------------------------

  /**
   * `WITH opt [= value], ...` or `WITH OPTIONS (opt [= value], ...)`; calls `each` with the
   * option's name (lower case; `EXECUTION LOCALITY` as `execution locality`) positioned on
   * the `=` or the next option.
   */
  private optionList(stmtName: string, each: (name: string, tok: Token) => void): void {
    if (!this.isKw('WITH')) return;
    this.next();
    let paren = false;
    if (this.isKw('OPTIONS') && this.isOp('(', 1)) {
      this.next();
      this.next();
      paren = true;
    }
    this.options(stmtName, each);
    if (paren) this.expectOp(')');
  }

  private options(stmtName: string, each: (name: string, tok: Token) => void): void {
    const seen = new Set<string>();
    do {
      const tok = this.peek();
      const name = this.optionName();
      if (seen.has(name)) {
        throw this.positioned(tok, `option "${name}" specified more than once for ${stmtName}`);
      }
      seen.add(name);
      each(name, tok);
    } while (this.acceptOp(','));
  }

  private optionName(): string {
    const tok = this.peek();
    if (tok.kind === 'word' && tok.upper === 'EXECUTION' && this.isKw('LOCALITY', 1)) {
      this.next();
      this.next();
      return 'execution locality';
    }
    if (tok.kind !== 'word' && tok.kind !== 'ident') this.expected('option name');
    this.next();
    return tok.value.toLowerCase();
  }

  private unknownOption(tok: Token, name: string, stmtName: string): never {
    throw this.positioned(tok, `unknown option "${name}" for ${stmtName}`);
  }

  /** A flag: absent value means true; `= true|false` (keywords or strings) sets it. */
  private flagValue(): boolean {
    if (!this.acceptOp('=')) return true;
    const t = this.peek();
    if (t.kind === 'word' && (t.upper === 'TRUE' || t.upper === 'FALSE')) {
      this.next();
      return t.upper === 'TRUE';
    }
    if (t.kind === 'string' && (t.value.toLowerCase() === 'true' || t.value.toLowerCase() === 'false')) {
      this.next();
      return t.value.toLowerCase() === 'true';
    }
    this.expected('TRUE or FALSE');
  }

  private stringValue(): string {
    this.expectOp('=');
    return this.string('string literal');
  }

  private uriListValue(): string[] {
    this.expectOp('=');
    return this.uriList().uris;
  }

  /** `= 'value'` (or a bare word) that must be one of `allowed`. */
  private enumValue<T extends string>(allowed: readonly T[]): T {
    this.expectOp('=');
    const t = this.peek();
    const v = t.kind === 'string' || t.kind === 'word' ? t.value.toLowerCase() : undefined;
    const found = allowed.find((a) => a === v);
    if (found === undefined) this.fail(t, `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
    this.next();
    return found;
  }

  // --- schedules -------------------------------------------------------------------------------

  private createSchedule(pos: number): Statement {
    const ifNotExists = this.ifNotExists();
    let label: string | undefined;
    if (!this.isKw('FOR')) {
      const t = this.peek();
      label = t.kind === 'string' ? this.next().value : this.ident('schedule label or FOR');
    }
    this.expectKw('FOR');
    const backupPos = this.expectKw('BACKUP').pos;
    const targets = this.targets(['INTO']);
    this.expectKw('INTO');
    const destination = this.uriList();
    const backup: BackupStatement = {
      kind: 'backup',
      pos: backupPos,
      targets,
      mode: 'into',
      destination,
      incrementalFrom: [],
      options: this.backupOptions(),
    };
    this.expectKw('RECURRING');
    const recurrence = this.recurrence();
    const stmt: Statement = { kind: 'createSchedule', pos, ifNotExists, backup, recurrence, scheduleOptions: {} };
    if (label !== undefined) stmt.label = label;
    if (this.isKw('FULL')) {
      this.next();
      this.expectKw('BACKUP');
      stmt.fullBackup = this.fullBackup();
    }
    if (this.acceptKw('WITH')) {
      this.expectKw('SCHEDULE');
      this.expectKw('OPTIONS');
      const paren = this.acceptOp('(') !== undefined;
      const options: ScheduleOptions = {};
      this.options('SCHEDULE OPTIONS', (name, tok) => this.scheduleOption(options, name, tok));
      if (paren) this.expectOp(')');
      stmt.scheduleOptions = options;
    }
    return stmt;
  }

  private recurrence(): Recurrence {
    const t = this.peek();
    if (this.acceptKw('NEVER')) return { kind: 'never', pos: t.pos };
    return { kind: 'cron', pos: t.pos, expr: this.string("a cron expression or NEVER") };
  }

  private fullBackup(): FullBackup {
    const t = this.peek();
    if (this.acceptKw('ALWAYS')) return { kind: 'always', pos: t.pos };
    return { kind: 'cron', pos: t.pos, expr: this.string('a cron expression or ALWAYS') };
  }

  private scheduleOption(options: ScheduleOptions, name: string, tok: Token): void {
    switch (name) {
      case 'first_run':
        options.firstRun = this.stringValue();
        break;
      case 'on_execution_failure':
        options.onExecutionFailure = this.enumValue(['retry', 'reschedule', 'pause'] as const);
        break;
      case 'on_previous_running':
        options.onPreviousRunning = this.enumValue(['start', 'skip', 'wait'] as const);
        break;
      case 'ignore_existing_backups':
        options.ignoreExistingBackups = this.flagValue();
        break;
      case 'updates_cluster_last_backup_time_metric':
        options.updatesClusterLastBackupTimeMetric = this.flagValue();
        break;
      case 'retention':
        options.retention = this.stringValue();
        break;
      default:
        this.unknownOption(tok, name, 'SCHEDULE OPTIONS');
    }
  }

  private alterBackupSchedule(): Statement {
    const pos = this.expectKw('ALTER').pos;
    this.expectKw('BACKUP');
    this.expectKw('SCHEDULE');
    const id = this.id('schedule id');
    const commands = this.commaList((): AlterScheduleCommand => {
      const t = this.peek();
      if (this.acceptKw('EXECUTE')) {
        const full = this.acceptKw('FULL') !== undefined;
        this.expectKw('IMMEDIATELY');
        return { kind: 'executeImmediately', pos: t.pos, full };
      }
      this.expectKw('SET', 'SET or EXECUTE');
      if (this.acceptKw('LABEL')) {
        const lt = this.peek();
        const label = lt.kind === 'string' ? this.next().value : this.ident('label');
        return { kind: 'setLabel', pos: t.pos, label };
      }
      if (this.acceptKw('INTO')) return { kind: 'setInto', pos: t.pos, uris: this.uriList().uris };
      if (this.acceptKw('WITH')) {
        const options: BackupOptions = {};
        const nameTok = this.peek();
        this.backupOption(options, this.optionName(), nameTok);
        return { kind: 'setWith', pos: t.pos, options };
      }
      if (this.acceptKw('RECURRING')) return { kind: 'setRecurring', pos: t.pos, recurrence: this.recurrence() };
      if (this.acceptKw('FULL')) {
        this.expectKw('BACKUP');
        return { kind: 'setFullBackup', pos: t.pos, fullBackup: this.fullBackup() };
      }
      if (this.acceptKw('SCHEDULE')) {
        this.expectKw('OPTION');
        const options: ScheduleOptions = {};
        const nameTok = this.peek();
        this.scheduleOption(options, this.optionName(), nameTok);
        return { kind: 'setScheduleOption', pos: t.pos, options };
      }
      this.expected('LABEL, INTO, WITH, RECURRING, FULL BACKUP or SCHEDULE OPTION');
    });
    return { kind: 'alterBackupSchedule', pos, id, commands };
  }

  // --- GRANT / REVOKE ----------------------------------------------------------------------------

  /**
   * `GRANT privs ON ... TO roles`, `GRANT SYSTEM privs TO roles`, and role membership
   * `GRANT role, ... TO members` (no ON); REVOKE likewise with FROM.
   */
  private grant(): Statement {
    const t = this.next();
    const granting = t.upper === 'GRANT';
    const toWord = granting ? 'TO' : 'FROM';
    const system = this.peek();
    const isSystem = this.isKw('SYSTEM') && this.peek(1).kind === 'word' && !this.isKw(toWord, 1);
    if (isSystem) this.next();
    const names = this.commaList(() => {
      const p = this.peek();
      if (p.kind !== 'word' && p.kind !== 'ident') this.expected('a privilege or role name');
      this.next();
      return p;
    });
    if (!isSystem && this.isKw(toWord)) {
      // No ON: the names are roles whose membership is granted.
      const roles = names.map((n) => {
        if (n.kind === 'word' && RESERVED_KEYWORDS.has(n.upper)) this.fail(n, 'expected a role name or ON');
        return n.value;
      });
      this.next();
      return { kind: granting ? 'grantRole' : 'revokeRole', pos: t.pos, roles, members: this.commaList(() => this.roleName()) };
    }
    const privileges = names.map((n) => {
      if (n.kind !== 'word') this.fail(n, 'expected a privilege');
      return n.upper;
    });
    if (privileges[0] === 'ALL') this.acceptKw('PRIVILEGES');
    let on: PrivilegeTarget;
    if (isSystem) {
      on = { kind: 'system', pos: system.pos };
    } else {
      this.expectKw('ON', `ON or ${toWord}`);
      const pos = this.peek().pos;
      if (this.acceptKw('DATABASE')) on = { kind: 'databases', pos, names: this.commaList(() => this.ident('database name')) };
      else {
        this.acceptKw('TABLE');
        on = { kind: 'tables', pos, tables: this.commaList(() => this.tablePattern()) };
      }
    }
    this.expectKw(toWord);
    const roles = this.commaList(() => this.roleName());
    return { kind: granting ? 'grant' : 'revoke', pos: t.pos, privileges, on, roles };
  }

  /**
   * A user or role name (CockroachDB's role_spec): an identifier. Reserved keywords such as
   * USER are refused unquoted, as CockroachDB does.
   */
  private roleName(): string {
    const t = this.peek();
    if (t.kind === 'word' && RESERVED_KEYWORDS.has(t.upper)) {
      this.fail(t, `expected a user or role name ("${t.value}" is a reserved keyword: quote it as "${t.value}" or choose another name)`);
    }
    return this.ident('a user or role name');
  }

  // -------------------------------------------------------------------------------------------
  // Names and literals

  /** An identifier: a non-reserved word (folded to lower case) or a quoted identifier. */
  private ident(what: string): string {
    const t = this.peek();
    if (t.kind === 'ident' || (t.kind === 'word' && !RESERVED_KEYWORDS.has(t.upper))) {
      this.next();
      return t.value;
    }
    this.expected(what);
  }

  private tableName(): TableName {
    const pos = this.peek().pos;
    const parts = [this.ident('table name')];
    while (parts.length < 3 && this.acceptOp('.')) parts.push(this.ident('name'));
    return namesToTable(pos, parts);
  }

  private tablePattern(): TablePattern {
    const pos = this.peek().pos;
    if (this.acceptOp('*')) return { kind: 'allTables', pos };
    const parts = [this.ident('table name')];
    while (parts.length < 3 && this.acceptOp('.')) {
      if (this.acceptOp('*')) {
        const all: TablePattern = { kind: 'allTables', pos };
        if (parts.length === 2) {
          all.database = parts[0] as string;
          all.schema = parts[1] as string;
        } else {
          all.database = parts[0] as string;
        }
        return all;
      }
      parts.push(this.ident('name'));
    }
    return { kind: 'table', pos, table: namesToTable(pos, parts) };
  }

  /** A dotted cluster setting name such as `bulkio.backup.file_size`. */
  private settingName(): string {
    const part = (): string => {
      const t = this.peek();
      if (t.kind !== 'word' && t.kind !== 'ident') this.expected('setting name');
      this.next();
      return t.value;
    };
    const parts = [part()];
    while (this.acceptOp('.')) parts.push(part());
    return parts.join('.');
  }

  private string(what: string): string {
    const t = this.peek();
    if (t.kind !== 'string') this.expected(what);
    this.next();
    return t.value;
  }

  /** An unsigned integer id (job or schedule), as decimal text. */
  private id(what: string): string {
    const t = this.peek();
    if (t.kind !== 'number' || !/^\d+$/.test(t.value)) this.expected(what);
    this.next();
    return t.value;
  }

  /** `term (('+' | '-') term)*`, left-associative. */
  private valueExpr(): ValueExpr {
    let left = this.valueTerm();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || (t.value !== '+' && t.value !== '-')) return left;
      this.next();
      left = { kind: 'arith', pos: left.pos, op: t.value, left, right: this.valueTerm() };
    }
  }

  private valueTerm(): ValueExpr {
    const t = this.peek();
    if (this.acceptOp('(')) {
      const e = this.valueExpr();
      this.expectOp(')');
      return e;
    }
    if (this.acceptKw('CASE')) {
      const operand = this.ident('column name');
      const whens: CaseExpr['whens'] = [];
      while (this.isKw('WHEN')) {
        const wPos = this.next().pos;
        const match = this.literal();
        this.expectKw('THEN');
        whens.push({ pos: wPos, match, result: this.valueExpr() });
      }
      if (whens.length === 0) this.expected('WHEN');
      const c: CaseExpr = { kind: 'case', pos: t.pos, operand, whens };
      if (this.acceptKw('ELSE')) c.else = this.valueExpr();
      this.expectKw('END');
      return c;
    }
    if ((t.kind === 'word' && !['TRUE', 'FALSE', 'NULL'].includes(t.upper)) || t.kind === 'ident') {
      return { kind: 'columnRef', pos: t.pos, column: this.ident('column name') };
    }
    return this.literal();
  }

  private literal(): Literal {
    const t = this.peek();
    if (t.kind === 'string') {
      this.next();
      return { kind: 'string', pos: t.pos, value: t.value };
    }
    let sign = '';
    if (t.kind === 'op' && t.value === '-' && this.peek(1).kind === 'number') {
      this.next();
      sign = '-';
    }
    const n = this.peek();
    if (n.kind === 'number') {
      this.next();
      const value = sign + n.value;
      return /^\d+$/.test(n.value) ? { kind: 'int', pos: t.pos, value } : { kind: 'decimal', pos: t.pos, value };
    }
    if (t.kind === 'word') {
      if (t.upper === 'TRUE' || t.upper === 'FALSE') {
        this.next();
        return { kind: 'bool', pos: t.pos, value: t.upper === 'TRUE' };
      }
      if (t.upper === 'NULL') {
        this.next();
        return { kind: 'null', pos: t.pos };
      }
    }
    this.expected('a literal (number, string, TRUE, FALSE or NULL)');
  }
}

function namesToTable(pos: number, parts: string[]): TableName {
  if (parts.length === 1) return { pos, name: parts[0] as string };
  if (parts.length === 2) return { pos, database: parts[0] as string, name: parts[1] as string };
  return { pos, database: parts[0] as string, schema: parts[1] as string, name: parts[2] as string };
}
