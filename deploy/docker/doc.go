// Package docker holds no code: its tests check the container files beside them (the
// Dockerfile at the repository's root, .dockerignore, the image's default config
// accessbot.yaml, and compose.yaml with accessbot-postgres.yaml) and, where podman is installed,
// build the image's final stage from a locally built binary and run it.
package docker
