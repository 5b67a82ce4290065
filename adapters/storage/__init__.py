"""SQLAlchemy (async) storage: SQLite through aiosqlite, PostgreSQL through asyncpg."""
