"""hangu volume service: local named and anonymous volumes, their host
folders (or driver-option mounts) and the containers that use them."""
