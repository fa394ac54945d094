// Strips connection details (addresses, host:port, URI authorities, credentials) from failure
// messages before they are stored or shown. Pure: the workflow bundle and the API share it.
//
// What stays: what the caller itself sent or names — collection names, tenant IDs, and a URL's
// scheme and path (`http://<host>/tenants/acme/collections/users/records`): paths of our own
// requests name resources, not servers. What goes: userinfo, host, port, query and fragment of
// every URL or URI (a query or fragment may carry a token), IPv4/IPv6 addresses, host:port pairs,
// and the host named by a DNS failure. Strings in `keep` are preserved verbatim.

export const REDACTED_HOST = '<host>';
const CREDENTIALS = '<credentials>';

/** scheme://[userinfo@]authority[/path][?query][#fragment] */
const URL_LIKE = /\b([a-z][a-z0-9+.-]{1,20}):\/\/([^\s/?#"'<>]*)([^\s?#"'<>]*)(\?[^\s#"'<>]*)?(#[^\s"'<>]*)?/gi;
/** user:password@ outside a URL. */
const USERINFO = /(?<![\w.-])[^\s/@:"'<>]+:[^\s/@"'<>]+@(?=[\w[])/g;
const IPV6_BRACKETED = /\[[0-9a-f:.]+(?:%[\w.-]+)?\](?::\d{1,5})?/gi;
/** Full 8-group or "::"-compressed IPv6, optionally with a zone and a trailing :port. */
const IPV6 =
  /(?<![\w:.])(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?(?:\d{1,3}(?:\.\d{1,3}){3})?)(?:%[\w.-]+)?(?![\w:])/gi;
const IPV4 = /(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])/g;
/** name:port — a dotted name, `localhost`, or a one-label name (a compose service) with a port. */
const HOST_PORT = /(?<![\w.:/@-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z](?:[a-z0-9-]*[a-z0-9])?:\d{2,5}(?![\w.:])/gi;
/** The host a resolver failure names: "getaddrinfo ENOTFOUND db.internal", "querySrv ENOTFOUND _mongodb._tcp.x". */
const DNS_FAILURE = /\b(ENOTFOUND|EAI_AGAIN|ESERVFAIL|ENODATA|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)\s+(?!<host>)[^\s,;)'"]+/g;

export interface RedactOptions {
  /** Substrings the caller itself sent (a collection name, a tenant ID): never altered. */
  keep?: readonly string[];
}

/** The message with every connection detail replaced by `<host>` (credentials by `<credentials>`). */
export function redactConnectionDetails(message: string, options: RedactOptions = {}): string {
  const kept: string[] = [];
  let text = message;
  for (const k of options.keep ?? []) {
    if (k.length < 2 || !text.includes(k)) continue;
    text = text.split(k).join(`\u0000${kept.length}\u0000`);
    kept.push(k);
  }
  text = text
    .replace(URL_LIKE, redactUrl)
    .replace(USERINFO, `${CREDENTIALS}@`)
    .replace(DNS_FAILURE, (_m, code: string) => `${code} ${REDACTED_HOST}`)
    .replace(IPV6_BRACKETED, REDACTED_HOST)
    .replace(IPV4, REDACTED_HOST)
    .replace(IPV6, (m) => (m === '::' ? m : REDACTED_HOST))
    .replace(HOST_PORT, REDACTED_HOST);
  return text.replace(/\u0000(\d+)\u0000/g, (_m, i: string) => kept[Number(i)] ?? '');
}

/** `scheme://<host>/path`, keeping punctuation that ended the sentence rather than the URL. */
function redactUrl(m: string, scheme: string, authority: string, path: string): string {
  if (authority === '') return m; // already redacted (or not a URL at all)
  const tail = /[:,;.)\]]+$/.exec(m)?.[0] ?? '';
  const cleanPath = tail && path.endsWith(tail) ? path.slice(0, -tail.length) : path;
  return `${scheme}://${REDACTED_HOST}${cleanPath}${tail}`;
}
