"""hangu image service: content store, registry client, layer store and the
overlay root filesystems of containers."""
