// Copies the SQL migrations next to the compiled code and marks the CLI executable.
import { chmodSync, cpSync, mkdirSync } from 'node:fs';

mkdirSync('dist/migrations', { recursive: true });
cpSync('migrations', 'dist/migrations', { recursive: true });
chmodSync('dist/services/cli/main.js', 0o755);
