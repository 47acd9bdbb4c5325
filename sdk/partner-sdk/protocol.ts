// Loads the Partner SDK v2 protocol (./proto) with @grpc/proto-loader for both the server and test clients.
// Loader options: field names as in the .proto (snake_case), int64 as strings (exact), enums as their names,
// defaults for absent scalar fields, and a virtual property naming the set member of each oneof (also the
// proto3 `optional` fields, which are one-member oneofs: `_state_json` tells absent from empty).
import {fileURLToPath} from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type {ProtoGrpcType} from './generated/connector_sdk.js';

export const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/** 128 MiB, inbound and outbound, as the Partner SDK development guide requires. */
export const MAX_MESSAGE_BYTES = 134_217_728;

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
};

let cached: {definition: protoLoader.PackageDefinition; proto: ProtoGrpcType} | undefined;

/** The package definition and the loaded `fivetran_sdk.v2` namespace (service constructor, message types). */
export function loadPartnerSdk(): {definition: protoLoader.PackageDefinition; proto: ProtoGrpcType} {
  // Descriptors only (no connection data), so caching them across calls is safe.
  if (!cached) {
    const definition = protoLoader.loadSync(['connector_sdk.proto', 'common.proto'], LOADER_OPTIONS);
    cached = {definition, proto: grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType};
  }
  return cached;
}

