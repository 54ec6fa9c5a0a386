export { startLocalCluster, localLocality, type LocalCluster } from './commands/start-local.js';
export { initBank, runBank, bankTotal } from './workload/bank.js';
export * from './output/index.js';
