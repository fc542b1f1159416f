/**
 * Keeps database passwords out of every message the sink produces. Driver errors rarely contain
 * the password, but a malformed URL or a library's message might echo it; everything the sink
 * throws goes through `redactSecrets` with the password of the URL it was given.
 */

const MASK = '***';
const EMPTY_HOST = 'empty-host.pgvector-migrate.invalid';

/**
 * Parses a connection URL as node-postgres (pg-connection-string) does: the WHATWG parser refuses
 * an empty host after user info (`postgres://user@/db?host=/var/run/postgresql`, the form of a
 * Unix-socket URL), so such a URL is parsed with a placeholder host, which `hostname` hides.
 */
export function parseConnectionUrl(url: string): URL {
  try {
    return new URL(url);
  } catch (error) {
    if (!/^[a-z][a-z0-9+.-]*:\/\/[^/@]*@\//i.test(url)) throw error;
    return new URL(url.replace('@/', `@${EMPTY_HOST}/`));
  }
}

function hostOf(parsed: URL): string {
  return parsed.hostname === EMPTY_HOST ? '' : parsed.hostname;
}

function printUrl(parsed: URL): string {
  return parsed.toString().replace(`@${EMPTY_HOST}/`, '@/');
}

/** The URL with its password (userinfo or `?password=`) replaced by `***`; never throws. */
export function redactUrl(url: string): string {
  try {
    const parsed = parseConnectionUrl(url);
    if (parsed.password !== '') parsed.password = MASK;
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', MASK);
    return printUrl(parsed);
  } catch {
    // Unparseable: mask whatever sits between '//' and '@', and any password= parameter.
    return url.replace(/\/\/[^@/]*@/, `//${MASK}@`).replace(/(password=)[^&\s]*/gi, `$1${MASK}`);
  }
}

/** The password(s) a URL carries, raw and percent-decoded, for `redactSecrets`. */
export function urlSecrets(url: string): string[] {
  const found: string[] = [];
  try {
    const parsed = parseConnectionUrl(url);
    if (parsed.password !== '') found.push(parsed.password, safeDecode(parsed.password));
    const param = parsed.searchParams.get('password');
    if (param !== null && param !== '') found.push(param, encodeURIComponent(param));
  } catch {
    const match = /\/\/[^:/@]*:([^@/]*)@/.exec(url);
    if (match?.[1]) found.push(match[1], safeDecode(match[1]));
  }
  // Longest first, so a password that contains another secret is masked whole.
  return [...new Set(found.filter((s) => s.length > 0))].sort((a, b) => b.length - a.length);
}

/** `text` with every occurrence of each secret replaced by `***`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join(MASK);
  return out;
}

/** `host:port/database` of a connection URL: what messages and reports show. */
export function describeUrl(url: string): string {
  try {
    const parsed = parseConnectionUrl(url);
    const host = hostOf(parsed) || parsed.searchParams.get('host') || 'localhost';
    const port = parsed.port || parsed.searchParams.get('port') || '5432';
    const database = safeDecode(parsed.pathname.replace(/^\//, '')) || '(default database)';
    return `${host}:${port}/${database}`;
  } catch {
    return redactUrl(url);
  }
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
