export { startMetricsServer, type MetricsServer, type MetricsServerOptions, type Readiness, type HttpRoute } from './metrics-server.js';
export { createLogger, type Logger } from './logger.js';
export { parseListenAddress } from './listen-address.js';
export { collectProcessMetrics } from './process-metrics.js';
