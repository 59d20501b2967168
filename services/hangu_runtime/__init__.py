"""Generic runtime shared by every hangu service: configuration, logging,
databases, the gRPC server bootstrap and the one table of errors.

Nothing here knows about images, containers, networks or volumes."""
