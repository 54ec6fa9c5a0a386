export { startNode, type NodeOptions, type RunningNode } from './node-process.js';
