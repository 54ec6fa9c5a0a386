import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  ApiKeyServiceService,
  type ApiKey,
  type CreateApiKeyRequest,
  type DeleteApiKeyRequest,
  type ListApiKeysRequest,
} from '@cairn/proto';
import { ApiKeyStore, type ApiKeyRecord } from '../auth/api-keys.js';
import { sessionUser } from '../privileges/privilege-statements.js';
import { unaryCall, type ApiCallContext } from './api-call.js';
import type { LeaderCapabilities } from '../leader-capabilities.js';

/** API keys live in the metadata bucket; each change is logged. */
type ApiKeyAccess = Pick<LeaderCapabilities, 'meta' | 'log'>;

function toProto(r: ApiKeyRecord): ApiKey {
  return { id: r.id, name: r.name, role: r.role, createdAtMs: BigInt(r.createdAtMs), createdBy: r.createdBy };
}

/**
 * ApiKeyService: the keys of the HTTP API (`cairn api-key create|list|delete`). Runs on the
 * leader; admin only in secure mode (no entry in rpc-privileges.ts).
 */
export function apiKeyService(ctx: ApiCallContext): [typeof ApiKeyServiceService, UntypedServiceImplementation] {
  const impl = {
    createApiKey: unaryCall(ctx, 'ApiKeyService', 'createApiKey', async (leader: ApiKeyAccess, req: CreateApiKeyRequest) => {
      const { record, key } = await new ApiKeyStore(leader.meta).create(req.name, req.role, sessionUser(req.user));
      leader.log.info({ keyId: record.id, name: record.name, role: record.role, by: record.createdBy }, 'API key created');
      return { key: toProto(record), secret: key };
    }),
    listApiKeys: unaryCall(ctx, 'ApiKeyService', 'listApiKeys', async (leader: ApiKeyAccess, _req: ListApiKeysRequest) => ({
      keys: (await new ApiKeyStore(leader.meta).list()).map(toProto),
    })),
    deleteApiKey: unaryCall(ctx, 'ApiKeyService', 'deleteApiKey', async (leader: ApiKeyAccess, req: DeleteApiKeyRequest) => {
      await new ApiKeyStore(leader.meta).delete(req.key);
      leader.log.info({ key: req.key }, 'API key deleted');
      return {};
    }),
  };
  return [ApiKeyServiceService, impl as UntypedServiceImplementation];
}
