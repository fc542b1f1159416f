/** Recorded in the ledger with every run; a test keeps it equal to package.json's version. */
export const TOOL_VERSION = '0.1.0';
