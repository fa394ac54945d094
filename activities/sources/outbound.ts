import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { AppError } from '../../shared/errors';

// Where sources may connect, and how much one page may hold. Hosts are checked as written and
// again at connect time (every resolved address), so a DNS answer cannot reach a metadata server.

/** Outbound limits for source connectors; built from config by `outboundFromConfig`. */
export interface OutboundPolicy {
  /**
   * Hosts sources may call (`host` or `host:port`); empty = any host except link-local and
   * cloud-metadata addresses, which pass only when listed here.
   * @default []
   */
  allowedHosts: readonly string[];
  /** Largest response body of one page, in bytes. @default 16 MiB */
  maxPageBytes: number;
  /** Most records in one page. @default 10 000 */
  maxPageRecords: number;
  /** Most pages read for one collection by one connector. @default 100 000 */
  maxPages: number;
  /** Name resolution (tests inject one). @default node:dns lookup */
  resolve?: LookupFunction;
}

export const DEFAULT_OUTBOUND: OutboundPolicy = Object.freeze({
  allowedHosts: [],
  maxPageBytes: 16 * 1024 * 1024,
  maxPageRecords: 10_000,
  maxPages: 100_000,
});

/** Thrown when a connection, redirect or page breaks the policy; connectors map it to VALIDATION_ERROR. */
export class OutboundRefusal extends AppError {
  constructor(message: string) {
    super('outbound-refused', message);
  }
}

export const isOutboundRefusal = (e: unknown): e is OutboundRefusal => e instanceof OutboundRefusal;

/** Metadata endpoints by name (cloud instance metadata services). */
const METADATA_NAMES = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'metadata.azure.internal',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.tencentyun.com',
  'metadata.platformequinix.com',
] as const);

/** Link-local ranges and metadata addresses outside them (IPv4-mapped IPv6 forms match too). */
const BLOCKED = (() => {
  const b = new BlockList();
  b.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local; AWS/GCP/Azure/OCI metadata at .169.254
  b.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud metadata
  b.addSubnet('fe80::', 10, 'ipv6'); // link-local
  b.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6
  return b;
})();

const bare = (host: string) =>
  host
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();

/** A link-local or metadata address or name. */
export function isBlockedHost(host: string): boolean {
  const h = bare(host);
  const family = isIP(h);
  if (family === 4) return BLOCKED.check(h, 'ipv4');
  if (family === 6) return BLOCKED.check(h, 'ipv6');
  return METADATA_NAMES.has(h as never);
}

/** An allowlist entry: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address. */
function parseEntry(entry: string): { host: string; port?: string } {
  const e = entry.trim().toLowerCase();
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(e);
  if (v6) return { host: v6[1]!, ...(v6[2] && { port: v6[2] }) };
  const hp = /^([^:]+):(\d+)$/.exec(e);
  if (hp) return { host: bare(hp[1]!), port: hp[2]! };
  return { host: bare(e) };
}

function listed(policy: OutboundPolicy, host: string, port?: string): boolean {
  const h = bare(host);
  return policy.allowedHosts.some((entry) => {
    const e = parseEntry(entry);
    return e.host === h && (e.port === undefined || port === undefined || e.port === port);
  });
}

/** Why `host:port` (as written in a URL or URI) may not be called; undefined when it may. */
export function refusalFor(policy: OutboundPolicy, host: string, port: string): string | undefined {
  const isListed = listed(policy, host, port);
  if (policy.allowedHosts.length > 0 && !isListed) return `host ${bare(host)} is not in SOURCE_ALLOWED_HOSTS`;
  if (!isListed && isBlockedHost(host)) return `host ${bare(host)} is not allowed (link-local/metadata; list it in SOURCE_ALLOWED_HOSTS)`;
  return undefined;
}

/** Why a mongodb:// URI may not be used: the first host it names that the policy refuses. */
export function mongoUriRefusal(policy: OutboundPolicy, uri: string): string | undefined {
  const authority = /^mongodb(?:\+srv)?:\/\/([^/?]*)/i.exec(uri)?.[1] ?? '';
  for (const hp of authority.slice(authority.lastIndexOf('@') + 1).split(',')) {
    const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(hp);
    const why = m?.[1] ? refusalFor(policy, m[1], m[2] ?? '27017') : undefined;
    if (why) return why;
  }
  return undefined;
}

/** Why a source (as registered) may not be called, judged by the hosts it names; undefined when it may. */
export function sourceRefusal(policy: OutboundPolicy, source: { kind: string; settings: Record<string, unknown> }): string | undefined {
  const { baseUrl, uri } = source.settings;
  if (source.kind === 'mongodb' && typeof uri === 'string') return mongoUriRefusal(policy, uri);
  if (source.kind !== 'http' || typeof baseUrl !== 'string') return undefined;
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return 'baseUrl is not a valid URL';
  }
  // The base URL is stored and shown as it is: credentials belong in settings.token (sealed).
  if (url.username || url.password) return 'baseUrl must not carry credentials (user:password@): put the token in settings.token';
  if (url.search || url.hash) return 'baseUrl must not have a query or fragment (paths are appended to it; put a key in settings.token)';
  return refusalFor(policy, url.hostname, portOf(url));
}

/** The port a URL connects to (its default when it names none). */
export function portOf(url: URL): string {
  if (url.port) return url.port;
  return url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '';
}

/**
 * A `lookup` for net/http/the MongoDB driver that refuses any resolved link-local or metadata
 * address, unless the host as written is itself such an address or name and is listed.
 * `onRefusal` hears each refusal (drivers that swallow socket errors need it).
 */
export function vettingLookup(policy: OutboundPolicy, onRefusal?: (e: OutboundRefusal) => void): LookupFunction {
  const resolve = policy.resolve ?? (dnsLookup as unknown as LookupFunction);
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = (Array.isArray(addresses) ? addresses : [{ address: addresses, family: 4 }]) as LookupAddress[];
      const trusted = isBlockedHost(hostname) && listed(policy, hostname);
      if (!trusted && list.some((a) => isBlockedHost(a.address))) {
        const refusal = new OutboundRefusal(
          `host ${bare(hostname)} resolves to a link-local/metadata address (not allowed; list it in SOURCE_ALLOWED_HOSTS)`,
        );
        onRefusal?.(refusal);
        return callback(refusal as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      return callback(null, first.address, first.family);
    });
  };
}

/** The policy from validated config (the SOURCE_* variables). */
export function outboundFromConfig(config: {
  SOURCE_ALLOWED_HOSTS: readonly string[];
  SOURCE_MAX_PAGE_BYTES: number;
  SOURCE_MAX_PAGE_RECORDS: number;
  SOURCE_MAX_PAGES: number;
}): OutboundPolicy {
  return {
    allowedHosts: config.SOURCE_ALLOWED_HOSTS,
    maxPageBytes: config.SOURCE_MAX_PAGE_BYTES,
    maxPageRecords: config.SOURCE_MAX_PAGE_RECORDS,
    maxPages: config.SOURCE_MAX_PAGES,
  };
}
