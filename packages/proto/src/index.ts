/** Messages and gRPC service definitions generated from proto/cairn/v1 by ts-proto. */
export * from './gen/index.js';
