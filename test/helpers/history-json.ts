import { createRequire } from 'node:module';
import type { History } from '@temporalio/common/lib/proto-utils';

// Workflow histories as proto3 JSON (the format `temporal workflow show --output json` writes).
// The SDK's historyToJSON/historyFromJSON throw "type must be a Type" in this install: npm put
// one protobufjs 8 copy under @temporalio/common and another under @temporalio/proto (the
// hoisted one is 7, for OpenTelemetry), and protojson checks `instanceof` across them. So the
// conversion here loads protojson from the very copy @temporalio/proto is built on.

const fromCommon = createRequire(createRequire(import.meta.url).resolve('@temporalio/common'));
const fromProto = createRequire(fromCommon.resolve('@temporalio/proto'));

interface ProtoType {
  fromObject(o: unknown): unknown;
}
const proto: unknown = fromProto('@temporalio/proto');
const { patchProtobufRoot } = fromProto('@temporalio/proto/lib/patch-protobuf-root') as {
  patchProtobufRoot<T>(root: T): T & { lookupType(name: string): ProtoType };
};
const { toJson, fromJson } = fromProto('protobufjs/ext/protojson') as {
  toJson(type: ProtoType, message: unknown): unknown;
  fromJson(type: ProtoType, json: unknown, options: { ignoreUnknownFields: boolean }): unknown;
};
const HistoryType = patchProtobufRoot(proto).lookupType('temporal.api.history.v1.History');

/** Pretty proto3 JSON of a fetched history (`handle.fetchHistory()`). */
export function historyToJson(history: History): string {
  return `${JSON.stringify(toJson(HistoryType, HistoryType.fromObject(history)), null, 1)}\n`;
}

/** A History message (event IDs as Longs, what the replayer takes as is) from proto3 JSON text. */
export function historyFromJson(text: string): History {
  const parsed = fromJson(HistoryType, JSON.parse(text), { ignoreUnknownFields: true }) as History | null;
  if (!parsed?.events?.length) throw new TypeError('not a workflow history: no events');
  return parsed;
}
