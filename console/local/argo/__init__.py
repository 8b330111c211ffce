"""The embedded platform's Argo CD: the API server, the application controller, the repo server,
the sync rules and health assessment, and the read model they share."""
