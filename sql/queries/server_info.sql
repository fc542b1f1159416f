-- Server version and pgvector's state: installed in this database, or only available to install.
SELECT current_setting('server_version') AS server_version,
       (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS installed_version,
       (SELECT default_version FROM pg_available_extensions WHERE name = 'vector') AS available_version;
