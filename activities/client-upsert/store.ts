import type { Collection, Db } from 'mongodb';
import { Collections } from '../../infra/mongo';
import type { Page, PageRequest } from '../../shared/paging';
import { pageById } from '../records/paging';
import { ClientSteps, type ClientUpsertResult, type ClientUpsertStatus, type SectionHashes } from '../../shared/client-upsert';
import type { ComponentSpec, MenuSpec, RouteSpec } from './config';

// Where client configs land. Shaped by FerretDB (DESIGN.md): only `_id` look-ups are index
// reads, inserts are cheap, and every update scans its whole collection — at a cost that grows
// with the number of documents *and fields* in it (100 small docs ≈ 2 ms, 100 clients' route
// sets in one collection ≈ 300 ms per replace, measured). So:
// - each client's routes live in their own collection, one document per route: a route update
//   scans ~150 routes, not 15,000; unchanged routes are never written and keep their updatedAt;
// - shared collections hold small documents keyed by `_id`, inserted once and replaced only
//   when their content changed — a no-op run writes nothing;
// - per-run results are inserted (history, `_id` = key:runId); the per-client state document
//   the planner scans for hashes is a handful of flat fields.

export interface ClientDoc {
  _id: string;
  name: string;
  settings: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
  /** CLIENT_SCHEMA_VERSION when written; absent on clients from before versions (migration 20261202000100). */
  _schemaVersion?: number;
}

/** Shape version of the clients and client_upsert_state documents this code writes. */
export const CLIENT_SCHEMA_VERSION = 1;

export type StoredMenu = MenuSpec & { updatedAt: Date };
export interface ClientMenusDoc {
  _id: string;
  menus: StoredMenu[];
  updatedAt: Date;
}

/** The shared component registry, by fqn. */
export type ComponentDoc = ComponentSpec & { _id: string; createdAt: Date; updatedAt: Date };
export interface ComponentSetDoc {
  _id: string;
  fqns: string[];
  updatedAt: Date;
}

export type UserCredential = { kind: 'password'; hash: string } | { kind: 'invite'; tokenHash: string; expiresAt: Date };
export interface ClientUserDoc {
  /** Lower-cased e-mail. */
  _id: string;
  email: string;
  firstName: string;
  lastName: string;
  status: 'active' | 'invited';
  /** Legacy (before issue 12): imported into client_memberships the next time a client touches the user. */
  memberships?: Array<{ clientKey: string; roles: string[] }>;
  credential: UserCredential;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * One user's membership of one client, `_id` = membershipId: created by an insert, so two clients
 * adding the same user never overwrite each other (FerretDB updates are read-modify-write, and
 * concurrent updates of one document lose writes there); each client writes only its own.
 */
export interface ClientMembershipDoc {
  _id: string;
  clientKey: string;
  /** The user's `_id` (lower-cased e-mail). */
  email: string;
  roles: string[];
  createdAt: Date;
  updatedAt: Date;
}

export type RouteDoc = RouteSpec & { _id: string; createdAt: Date; updatedAt: Date };

/** Written before a route write begins; its presence means "roll back before anything else". */
export interface RouteBackupDoc {
  _id: string;
  runId: string;
  /** Routes as they were, for every route the write updates or removes. */
  previous: RouteDoc[];
  /** Keys of the routes the write inserts. */
  added: string[];
  createdAt: Date;
}

export interface ClientUpsertStateDoc {
  _id: string;
  /** Hash of the last config every step applied: equal hash → the client is skipped. */
  configHash?: string;
  /** Hash and status of the last attempt (an unchanged invalid config is not re-recorded). */
  lastHash: string;
  lastStatus: ClientUpsertStatus;
  lastResultId: string;
  lastFinishedAt: Date;
  runs: number;
  /** Section hashes applied without errors, per step (steps that failed or reported errors are absent). */
  stepHashes?: Partial<SectionHashes>;
  /** Memberships the last clean users step confirmed: fewer found when planning → the users step runs again. */
  members?: number;
  _schemaVersion?: number;
}

export type ClientUpsertResultDoc = ClientUpsertResult & { _id: string };

export const DUPLICATE_KEY = 11000;

/** One collection per client for its routes (client keys are [a-z0-9_-], safe in a name). */
export const routesCollectionName = (clientKey: string) => `client_routes__${clientKey}`;
export const resultId = (clientKey: string, runId: string) => `${clientKey}:${runId}`;
/** Client keys hold no ':', so the first one separates: injective. */
export const membershipId = (clientKey: string, email: string) => `${clientKey}:${email}`;

export function createClientStore(db: Db) {
  const clients = db.collection<ClientDoc>(Collections.clients);
  const state = db.collection<ClientUpsertStateDoc>(Collections.clientUpsertState);
  const results = db.collection<ClientUpsertResultDoc>(Collections.clientUpsertResults);
  const memberships = db.collection<ClientMembershipDoc>(Collections.clientMemberships);
  return {
    clients,
    menus: db.collection<ClientMenusDoc>(Collections.clientMenus),
    components: db.collection<ComponentDoc>(Collections.clientComponents),
    componentSets: db.collection<ComponentSetDoc>(Collections.clientComponentSets),
    users: db.collection<ClientUserDoc>(Collections.clientUsers),
    memberships,
    backups: db.collection<RouteBackupDoc>(Collections.clientRouteBackups),
    state,
    results,
    routes: (clientKey: string): Collection<RouteDoc> => db.collection<RouteDoc>(routesCollectionName(clientKey)),

    /** Every client's stored hashes in one scan of small documents (the planner's only read). */
    async statesOf(keys?: readonly string[]): Promise<Map<string, ClientUpsertStateDoc>> {
      const filter = keys ? { _id: { $in: [...keys] } } : {};
      const docs = await state
        .find(filter, { projection: { configHash: 1, lastHash: 1, lastStatus: 1, stepHashes: 1, members: 1 } })
        .toArray();
      return new Map(docs.map((d) => [d._id, d]));
    },

    /** Memberships per client, from one `_id`-only scan (the check that a skip loses none). */
    async memberCounts(): Promise<Map<string, number>> {
      const counts = new Map<string, number>();
      for await (const d of memberships.find({}, { projection: { _id: 1 } }).batchSize(10_000)) {
        const key = d._id.slice(0, d._id.indexOf(':'));
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      return counts;
    },

    /** Inserts the run's result and moves the client's state; the hash advances only when `applied`. */
    async recordResult(result: ClientUpsertResult, applied: boolean): Promise<void> {
      const _id = resultId(result.clientKey, result.runId);
      // History is insert-only (an update would scan it all); a retried record finds its result there.
      await results.insertOne({ ...result, _id }).catch((err: unknown) => {
        if ((err as { code?: number }).code !== DUPLICATE_KEY) throw err;
      });
      const current = await state.findOne({ _id: result.clientKey });
      if (current?.lastResultId === _id) return;
      // A step's section counts as applied when it ran without any error, or did not need to run.
      const stepHashes: Partial<SectionHashes> = {};
      for (const step of ClientSteps) {
        const st = result.steps[step];
        const clean =
          st.status === 'unchanged' ||
          (st.status === 'ok' && result.errorsTruncated === 0 && !result.errors.some((e) => e.operation === step));
        if (clean && st.hash) stepHashes[step] = st.hash;
      }
      const users = result.steps.users;
      const members =
        stepHashes.users && users.status === 'ok' ? users.counts.added + users.counts.updated + users.counts.unchanged : undefined;
      const set = {
        lastHash: result.configHash,
        lastStatus: result.status,
        lastResultId: _id,
        lastFinishedAt: new Date(result.finishedAt ?? Date.now()),
        stepHashes,
        _schemaVersion: CLIENT_SCHEMA_VERSION,
        ...(applied ? { configHash: result.configHash } : {}),
        ...(members !== undefined ? { members } : {}),
      };
      if (current) await state.updateOne({ _id: result.clientKey }, { $set: set, $inc: { runs: 1 } });
      else await state.insertOne({ _id: result.clientKey, ...set, runs: 1 });
    },

    /**
     * One page of the clients upserted so far (their state documents, in key order) with their
     * client documents — one `_id` read per page. Counted: there is one small state per client.
     */
    async list(req: PageRequest): Promise<Page<{ state: ClientUpsertStateDoc; client: ClientDoc | null }>> {
      const page = await pageById(state, {}, req, { total: true, projection: { stepHashes: 0 } });
      const docs = page.items.length ? await clients.find({ _id: { $in: page.items.map((s) => s._id) } }).toArray() : [];
      const byKey = new Map(docs.map((d) => [d._id, d]));
      return { items: page.items.map((s) => ({ state: s, client: byKey.get(s._id) ?? null })), page: page.page };
    },

    /** The API's read: state, client document and last result — three `_id` look-ups. */
    async view(clientKey: string) {
      const st = await state.findOne({ _id: clientKey });
      if (!st) return undefined;
      const [client, result] = await Promise.all([clients.findOne({ _id: clientKey }), results.findOne({ _id: st.lastResultId })]);
      return { state: st, client, result };
    },
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;
