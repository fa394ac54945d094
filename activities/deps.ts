import type { Logger } from '../infra/logger';
import type { Mongo } from '../infra/mongo';
import type { Redis } from '../infra/redis';

/** What every activity factory receives; the API's direct path passes the same objects. */
export interface ActivityDeps {
  mongo: Mongo;
  redis: Redis;
  log: Logger;
}
