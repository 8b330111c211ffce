"""The embedded platform's CI and registry: the pipeline runner, the image store, the Dockerfile
reader and the platform's own image."""
