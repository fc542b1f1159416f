export { MigrateError, type ErrorCode } from './errors.js';
