//! pg_hba matching (filled in by the PostgreSQL work).
