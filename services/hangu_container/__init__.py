"""Container service: container metadata, OCI runtime specs, runc through
conmon, attach and logs, and each container's lifecycle."""
