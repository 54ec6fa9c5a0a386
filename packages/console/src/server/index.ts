export { assetPath, consoleRoutes, CONSOLE_ASSETS_PREFIX, type ConsoleRoute } from './console-files.js';
