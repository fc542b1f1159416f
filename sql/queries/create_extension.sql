-- Loads pgvector. Used alone only by the read-only PGlite probe (an in-memory database standing
-- in for a directory that does not exist yet); schema/001_documents.sql creates it for real.
CREATE EXTENSION IF NOT EXISTS vector;
