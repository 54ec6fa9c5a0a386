export { startMetricsServer, type MetricsServer, type MetricsServerOptions, type Readiness, type HttpRoute } from './metrics-server.js';
export { createLogger, type Logger } from './logger.js';
export { parseListenAddress } from './listen-address.js';
export { advertisedAddress, isValidHost, isWildcardHost, joinHostPort, parseHostPort, splitHostPort } from './advertise-address.js';
export { collectProcessMetrics } from './process-metrics.js';
export { cachedFor, checkWithin, evaluateReadiness, respondsWithin, type ReadinessCheck } from './readiness-checks.js';
export { HEAP_LIMIT_MIB, MIN_OLD_SPACE_MIB, MIN_SEMI_SPACE_MIB, heapLimitMiB, heapLimitWarning, nodeCommandLineFlags, nodeOptionsWithHeapLimit, newSpaceMiB, type ProcessRole } from './heap-limit.js';
