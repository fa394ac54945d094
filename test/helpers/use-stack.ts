import { afterAll, beforeAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { AppConfig } from '../../infra/config';
import type { Logger } from '../../infra/logger';
import { bearer, buildTestApp } from './api';
import { connectTestDeps, startTestWorker, type TestDeps, type TestWorker } from './stack';

// One test file's stack, set up and torn down by hooks this helper registers itself (as
// fastify/demo's test/helper.ts does): call it at the top of a describe, read its getters in tests.

export interface StackOptions {
  /** Env overrides for the file's config (connectTestDeps). @default {} */
  env?: Record<string, string>;
  /** Logger for the clients. @default a silent logger */
  log?: Logger;
  /** Runs a worker on the file's task queue with these options (`true`: the defaults). @default no worker */
  worker?: Parameters<typeof startTestWorker>[1] | true;
  /** Builds one app with these config overrides and buildApp options (`true`: none). @default no app */
  app?: { config?: Partial<AppConfig>; extra?: Parameters<typeof buildTestApp>[2] } | true;
}

export interface Stack {
  /** The file's clients and config. */
  readonly deps: TestDeps;
  /** The worker asked for in `options.worker`. */
  readonly worker: TestWorker;
  /** The app asked for in `options.app`. */
  readonly app: FastifyInstance;
  /** Builds another app over the same clients; it is closed with the stack. */
  buildApp(overrides?: Partial<AppConfig>, extra?: Parameters<typeof buildTestApp>[2]): Promise<FastifyInstance>;
  /** Bearer headers signed with the file's secret. */
  bearer(scopes: string[], tenants?: string[] | '*', sub?: string): Promise<Record<string, string>>;
}

const missing = (what: string): never => {
  throw new Error(`useStack: no ${what} — ask for it in the options, and read it inside a test or hook`);
};

/**
 * Registers beforeAll (clients, then the worker, then the app) and afterAll (apps, worker,
 * clients). `options` may be a function, evaluated in beforeAll, for values made in earlier hooks.
 */
export function useStack(options: StackOptions | (() => StackOptions) = {}): Stack {
  let deps: TestDeps | undefined;
  let worker: TestWorker | undefined;
  let app: FastifyInstance | undefined;
  const apps: FastifyInstance[] = [];
  const buildApp: Stack['buildApp'] = async (overrides = {}, extra = {}) => {
    const a = await buildTestApp(deps ?? missing('clients'), overrides, extra);
    apps.push(a);
    return a;
  };

  beforeAll(async () => {
    const o = typeof options === 'function' ? options() : options;
    deps = await connectTestDeps(o.env, o.log);
    if (o.worker) worker = await startTestWorker(deps, o.worker === true ? {} : o.worker);
    if (o.app) app = o.app === true ? await buildApp() : await buildApp(o.app.config, o.app.extra);
  });
  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.close()));
    await worker?.stop();
    await deps?.close();
  });

  return {
    get deps() {
      return deps ?? missing('clients');
    },
    get worker() {
      return worker ?? missing('worker');
    },
    get app() {
      return app ?? missing('app');
    },
    buildApp,
    bearer: (scopes, tenants, sub) => bearer(deps ?? missing('clients'), scopes, tenants, sub),
  };
}
