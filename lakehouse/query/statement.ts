/**
 * What both query engines (DuckDB locally, Athena on AWS) share about the SQL they are given,
 * free of either engine: the read-only guard (one statement, starting as a SELECT does) and the
 * Athena time-travel rewrite of `--as-of`. A small lexer is enough for both: it only has to tell
 * strings, quoted identifiers and comments from the words and punctuation between them.
 */

export class QueryError extends Error {
  override readonly name = 'QueryError';
}

/** `--as-of`: a snapshot id, or an instant (epoch ms). */
export type AsOf = { snapshotId: number } | { timestampMs: number };

/**
 * `--as-of` for Athena: the snapshot id may be its decimal text, since Iceberg snapshot ids are
 * longs (those Firehose's writer picks often exceed 2^53, which a JS number would round).
 */
export type AthenaAsOf = { snapshotId: number | string } | { timestampMs: number };

type TokenKind = 'space' | 'comment' | 'string' | 'quoted' | 'word' | 'punct';
interface Token {
  kind: TokenKind;
  text: string;
}

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  const take = (kind: TokenKind, end: number) => {
    tokens.push({ kind, text: sql.slice(at, end) });
    at = end;
  };
  // The end of a quoted run starting at `at` (doubled quotes escape), or the end of the text.
  const closing = (quote: string) => {
    let index = at + 1;
    for (;;) {
      const next = sql.indexOf(quote, index);
      if (next === -1) return sql.length;
      if (sql[next + 1] !== quote) return next + 1;
      index = next + 2;
    }
  };
  while (at < sql.length) {
    const rest = sql.slice(at);
    const char = sql[at]!;
    if (/\s/.test(char)) take('space', at + /^\s+/.exec(rest)![0].length);
    else if (rest.startsWith('--')) take('comment', sql.includes('\n', at) ? sql.indexOf('\n', at) + 1 : sql.length);
    else if (rest.startsWith('/*')) take('comment', sql.includes('*/', at + 2) ? sql.indexOf('*/', at + 2) + 2 : sql.length);
    else if (char === "'") take('string', closing("'"));
    else if (char === '"') take('quoted', closing('"'));
    else if (/[A-Za-z_]/.test(char)) take('word', at + /^[A-Za-z_][A-Za-z0-9_$]*/.exec(rest)![0].length);
    else take('punct', at + 1);
  }
  return tokens;
}

const meaningful = (token: Token) => token.kind !== 'space' && token.kind !== 'comment';

/** How a read-only query may start (SELECT, WITH ... SELECT, DuckDB's FROM-first and VALUES forms). */
const READ_ONLY_KEYWORDS = new Set(['SELECT', 'WITH', 'FROM', 'VALUES', 'TABLE']);

/**
 * Throws QueryError unless `sql` is exactly one statement that starts as a read-only query.
 * Each engine then confirms with its own parser (DuckDB's statement type; Athena's DML type).
 */
export function assertSingleSelect(sql: string): void {
  const statements: Token[][] = [[]];
  for (const token of tokenize(sql)) {
    if (token.kind === 'punct' && token.text === ';') statements.push([]);
    else if (meaningful(token)) statements.at(-1)!.push(token);
  }
  const nonEmpty = statements.filter((tokens) => tokens.length > 0);
  if (nonEmpty.length !== 1) throw new QueryError(`give exactly one SQL statement; received ${nonEmpty.length}`);
  const first = nonEmpty[0]![0]!;
  if (first.text === '(' || (first.kind === 'word' && READ_ONLY_KEYWORDS.has(first.text.toUpperCase()))) return;
  throw new QueryError(`only SELECT queries are allowed: the lakehouse is read-only here (received a statement starting with ${first.text})`);
}

/** Table names the SQL mentions (as whole words), among `known`. */
export function referencedTables(sql: string, known: readonly string[]): string[] {
  return known.filter((name) => new RegExp(`(^|[^A-Za-z0-9_])${name}([^A-Za-z0-9_]|$)`, 'i').test(sql));
}

/** `2026-11-30T18:00:00.000Z` -> Athena's `TIMESTAMP '2026-11-30 18:00:00.000 UTC'`. */
export function athenaTimestamp(ms: number): string {
  return `TIMESTAMP '${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')} UTC'`;
}

/** The clause Athena's Iceberg time travel puts after a table reference. */
export function timeTravelClause(asOf: AthenaAsOf): string {
  return 'snapshotId' in asOf ? `FOR VERSION AS OF ${asOf.snapshotId}` : `FOR TIMESTAMP AS OF ${athenaTimestamp(asOf.timestampMs)}`;
}

/**
 * `--as-of` for Athena: adds `FOR VERSION AS OF <id>` or `FOR TIMESTAMP AS OF TIMESTAMP '<utc>'`
 * right after every reference to one of `tables` in a FROM list or JOIN (`FROM market_ticks t`,
 * `JOIN db.market_ticks`, `FROM a, "user_activity"`), where Trino's grammar puts the query period:
 * after the table name, before its alias. Names inside strings, comments, or used as column
 * qualifiers (`market_ticks.symbol`) are left alone. Returns the SQL and the tables it rewrote.
 */
export function withTimeTravel(sql: string, tables: readonly string[], asOf: AthenaAsOf): { sql: string; tables: string[] } {
  const tokens = tokenize(sql);
  const known = new Set(tables.map((name) => name.toLowerCase()));
  const nameOf = (token: Token) => (token.kind === 'quoted' ? token.text.slice(1, -1).replaceAll('""', '"') : token.kind === 'word' ? token.text : undefined);
  const indexes = tokens.map((token, index) => (meaningful(token) ? index : -1)).filter((index) => index !== -1);
  const rewritten = new Set<string>();
  const inserts = new Set<number>();
  indexes.forEach((tokenIndex, position) => {
    const name = nameOf(tokens[tokenIndex]!)?.toLowerCase();
    if (name === undefined || !known.has(name)) return;
    const next = tokens[indexes[position + 1] ?? -1];
    if (next !== undefined && next.kind === 'punct' && (next.text === '.' || next.text === '(')) return;
    // Step back over a qualifier (`catalog.db.`), then the reference must follow FROM, JOIN or a comma.
    let back = position - 1;
    while (back >= 1 && tokens[indexes[back]!]!.text === '.' && nameOf(tokens[indexes[back - 1]!]!) !== undefined) back -= 2;
    const before = tokens[indexes[back] ?? -1];
    if (before === undefined || !['FROM', 'JOIN', ','].includes(before.text.toUpperCase())) return;
    rewritten.add(name);
    inserts.add(tokenIndex);
  });
  const clause = timeTravelClause(asOf);
  return { sql: tokens.map((token, index) => (inserts.has(index) ? `${token.text} ${clause}` : token.text)).join(''), tables: [...rewritten] };
}
