import { ConnectionString } from 'mongodb-connection-string-url';

// RECONCILE_ALLOWED_URIS, the operator's allowlist of external MongoDB servers. A URI named by
// a reconcile passes when one entry has its scheme and every host it lists (credentials and
// the default database may differ). Options that send the driver elsewhere (proxies, SRV
// names, cloud credential endpoints) or make it read local files pass only with the value the
// entry itself carries. URIs are secrets: nothing here logs or returns them.

/** Options a caller may set freely: none makes the driver contact a new host or read a file. */
const FREE_OPTIONS: ReadonlySet<string> = new Set(
  [
    'appName',
    'authSource',
    'replicaSet',
    'tls',
    'ssl',
    'retryWrites',
    'retryReads',
    'readPreference',
    'readPreferenceTags',
    'readConcernLevel',
    'maxStalenessSeconds',
    'w',
    'journal',
    'wtimeoutMS',
    'directConnection',
    'connectTimeoutMS',
    'socketTimeoutMS',
    'serverSelectionTimeoutMS',
    'heartbeatFrequencyMS',
    'localThresholdMS',
    'timeoutMS',
    'maxPoolSize',
    'minPoolSize',
    'maxIdleTimeMS',
    'maxConnecting',
    'waitQueueTimeoutMS',
    'compressors',
    'zlibCompressionLevel',
  ].map((k) => k.toLowerCase()),
);

interface ParsedUri {
  srv: boolean;
  hosts: ReadonlySet<string>;
  /** Lower-cased option name → its values, in order. */
  options: ReadonlyMap<string, string>;
}

const DEFAULT_PORT = 27017;

/** Lower-cased host:port; a plain host gets the default port (SRV names have none). */
function normalizeHost(host: string, srv: boolean): string {
  const h = host.toLowerCase();
  return srv || /:\d+$/.test(h) ? h : `${h}:${DEFAULT_PORT}`;
}

/** Undefined when the string is not a MongoDB connection string (the parser's message is dropped: it may quote the URI). */
export function parseMongoUri(uri: string): ParsedUri | undefined {
  try {
    const cs = new ConnectionString(uri);
    const options = new Map<string, string>();
    for (const [k, v] of cs.searchParams) {
      const key = k.toLowerCase();
      options.set(key, options.has(key) ? `${options.get(key)}\u0000${v}` : v);
    }
    return { srv: cs.isSRV, hosts: new Set(cs.hosts.map((h) => normalizeHost(h, cs.isSRV))), options };
  } catch {
    return undefined;
  }
}

function covers(entry: ParsedUri, uri: ParsedUri): boolean {
  if (entry.srv !== uri.srv || uri.hosts.size === 0) return false;
  for (const h of uri.hosts) if (!entry.hosts.has(h)) return false;
  for (const [k, v] of uri.options) if (!FREE_OPTIONS.has(k) && entry.options.get(k) !== v) return false;
  return true;
}

/** The allowlist, parsed once; entries that do not parse allow nothing. */
export function createUriAllowlist(entries: readonly string[]) {
  const parsed = entries.map(parseMongoUri).filter((e): e is ParsedUri => e !== undefined);
  return {
    /** True when some entry covers every host and every non-free option of `uri`. */
    allows(uri: string): boolean {
      const p = parseMongoUri(uri);
      return p !== undefined && parsed.some((e) => covers(e, p));
    },
  };
}

export type UriAllowlist = ReturnType<typeof createUriAllowlist>;
