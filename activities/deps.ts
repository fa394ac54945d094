import type { AppCache } from '../infra/cache/cache';
import type { Client } from '@temporalio/client';
import type { Logger } from '../infra/logger';
import type { Mongo } from '../infra/mongo';
import type { Redis } from '../infra/redis';
import type { Keyring } from '../infra/secrets';
import type { OutboundPolicy } from './sources/outbound';

/** What every activity factory receives; the API's direct path passes the same objects. */
export interface ActivityDeps {
  mongo: Mongo;
  redis: Redis;
  log: Logger;
  /** Decrypts stored source tokens and URIs where a connection is opened (SECRETS_KEY). */
  secrets: Keyring;
  /** Where sources may connect and how much they may send (SOURCE_*); absent = DEFAULT_OUTBOUND. */
  outbound?: OutboundPolicy;
  /** The process's read cache (infra/cache): a tenant sync reads its tenant through it. Absent: every read goes to MongoDB. */
  cache?: AppCache;
  /** Temporal client for activities that act on other workflows (the stuck-sync sweep); the worker makes it from its connection. */
  temporalClient?: Client;
}
