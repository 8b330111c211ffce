"""The embedded platform's Git host: bare repositories, their hooks and the deploy repo's gate."""
