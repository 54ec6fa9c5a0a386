export { CairnClient, type ClientOptions, type QueryResult } from './cairn-client.js';
