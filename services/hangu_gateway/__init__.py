"""The gateway: Docker Engine REST API on a unix socket, translated to the
four services' gRPC APIs."""
