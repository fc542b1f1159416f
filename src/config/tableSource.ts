/**
 * --from-table, --from-database and --map parsed into a TableSourceConfig. Everything here is
 * syntax: whether the columns exist and have usable types is checked against the catalog when the
 * table is opened (sink/tableSourceCatalog.ts), before anything is written.
 */
import { MigrateError } from '../errors.js';
import { Secret } from '../secret.js';
import { isSanitizedUserId } from '../source/discover.js';
import { sanitizeName } from '../source/layout.js';
import type { MappedValue, TableMapping, TableSourceConfig } from '../source/tableTypes.js';

export interface TableSourceFlags {
  fromTable?: string;
  fromDatabase?: string;
  map?: string;
  /** --user: the owner when --map has no user_id. */
  owner?: string;
}

const KEYS = ['id', 'user_id', 'collection', 'text', 'metadata', 'vector'] as const;
type MapKey = (typeof KEYS)[number];
/** What quoteIdent accepts: lower-case names, as PostgreSQL folds unquoted ones. */
const COLUMN = /^[a-z_][a-z0-9_]*$/;
const TABLE = /^(?:[a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$/;

/** Splits `a=b,c='x,y'` on the commas outside single quotes; `''` inside quotes is one quote. */
function splitPairs(raw: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] as string;
    if (ch === "'") {
      if (quoted && raw[i + 1] === "'") {
        current += "''";
        i++;
        continue;
      }
      quoted = !quoted;
    }
    if (ch === ',' && !quoted) {
      parts.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  if (quoted) throw new MigrateError('E_USAGE', `--map ${JSON.stringify(raw)}: a single-quoted constant is not closed`);
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function parseValue(key: MapKey, raw: string): MappedValue {
  if (raw.startsWith("'")) {
    if (raw.length < 2 || !raw.endsWith("'")) throw new MigrateError('E_USAGE', `--map ${key}=${raw}: a constant is one single-quoted literal, e.g. ${key}='acme'`);
    return { kind: 'constant', value: raw.slice(1, -1).replace(/''/g, "'") };
  }
  if (!COLUMN.test(raw)) {
    throw new MigrateError('E_USAGE', `--map ${key}=${raw}: not a column name (lower-case letters, digits and _, as PostgreSQL folds unquoted names) nor a single-quoted constant`);
  }
  return { kind: 'column', name: raw };
}

function columnOnly(key: MapKey, value: MappedValue | undefined): string | null {
  if (value === undefined) return null;
  if (value.kind === 'constant') throw new MigrateError('E_USAGE', `--map ${key} must name a column; only user_id and collection may be constants`);
  return value.name;
}

function checkConstant(key: 'user_id' | 'collection', value: MappedValue | undefined): void {
  if (value?.kind !== 'constant') return;
  if (key === 'user_id' && !isSanitizedUserId(value.value)) throw new MigrateError('E_USAGE', `--map user_id='${value.value}' is not a sanitized user id (only letters, digits, "-" and single "_" between them)`);
  if (key === 'collection' && sanitizeName(value.value) !== value.value) throw new MigrateError('E_USAGE', `--map collection='${value.value}' is not a collection name (letters, digits, ".", "-" and "_", not starting or ending with "." or "_")`);
}

function shown(value: MappedValue): string {
  return value.kind === 'column' ? value.name : `'${value.value.replace(/'/g, "''")}'`;
}

/** --map as a TableMapping; `owner` is --user, the constant owner when user_id is not mapped. */
export function parseTableMapping(raw: string, owner: string | null): { mapping: TableMapping; text: string } {
  const values = new Map<MapKey, MappedValue>();
  for (const pair of splitPairs(raw)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new MigrateError('E_USAGE', `--map: ${JSON.stringify(pair)} is not KEY=VALUE (keys: ${KEYS.join(', ')})`);
    const key = pair.slice(0, eq).trim();
    if (!(KEYS as readonly string[]).includes(key)) throw new MigrateError('E_USAGE', `--map: unknown key ${JSON.stringify(key)} (keys: ${KEYS.join(', ')})`);
    const k = key as MapKey;
    if (values.has(k)) throw new MigrateError('E_USAGE', `--map: ${k} is given twice`);
    values.set(k, parseValue(k, pair.slice(eq + 1).trim()));
  }
  const text = columnOnly('text', values.get('text'));
  if (text === null) throw new MigrateError('E_USAGE', '--map needs text=COLUMN: the column holding the text of each row');
  const userId = values.get('user_id') ?? null;
  if (userId !== null && owner !== null) throw new MigrateError('E_USAGE', '--user and --map user_id=... both name the owner; pass one of them');
  checkConstant('user_id', userId ?? undefined);
  const collection = values.get('collection') ?? { kind: 'constant', value: 'default' };
  checkConstant('collection', collection);
  const mapping: TableMapping = {
    id: columnOnly('id', values.get('id')),
    userId: userId ?? (owner === null ? null : { kind: 'constant', value: owner }),
    collection,
    text,
    metadata: columnOnly('metadata', values.get('metadata')),
    vector: columnOnly('vector', values.get('vector')),
  };
  if (mapping.userId === null) throw new MigrateError('E_USAGE', "a table source needs an owner: --map user_id=COLUMN, --map user_id='acme', or --user U");
  const normalized = [
    ['id', mapping.id],
    ['user_id', shown(mapping.userId)],
    ['collection', shown(mapping.collection)],
    ['text', mapping.text],
    ['metadata', mapping.metadata],
    ['vector', mapping.vector],
  ]
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return { mapping, text: normalized };
}

/**
 * The table source of a command, or null without --from-table. `targetUrl`: the target's database
 * URL (null for PGlite), which is also the source when --from-database is not given.
 */
export function tableSourceConfig(flags: TableSourceFlags, targetUrl: Secret | null): TableSourceConfig | null {
  if (flags.fromTable === undefined) {
    if (flags.fromDatabase !== undefined || flags.map !== undefined) throw new MigrateError('E_USAGE', '--from-database and --map go with --from-table TABLE');
    return null;
  }
  const table = flags.fromTable.trim();
  if (!TABLE.test(table)) throw new MigrateError('E_USAGE', `--from-table ${JSON.stringify(table)}: expected table or schema.table in lower-case letters, digits and _`);
  if (flags.map === undefined) throw new MigrateError('E_USAGE', '--from-table needs --map (at least text=COLUMN and user_id=COLUMN or a constant), e.g. --map user_id=owner,text=content,vector=embedding');
  const fromDatabase = flags.fromDatabase?.trim();
  if (fromDatabase !== undefined && !/^postgres(ql)?:\/\//.test(fromDatabase)) throw new MigrateError('E_USAGE', '--from-database must be a postgres:// or postgresql:// URL');
  const database = fromDatabase === undefined || fromDatabase === '' ? targetUrl : new Secret(fromDatabase);
  if (database === null) throw new MigrateError('E_USAGE', '--from-table without --from-database reads the target database, but the target is the embedded PGlite database; pass --from-database postgres://... (the database holding the table)');
  const { mapping, text } = parseTableMapping(flags.map, flags.owner ?? null);
  return { table, database, inTarget: fromDatabase === undefined || fromDatabase === '', mapping, mappingText: text };
}
