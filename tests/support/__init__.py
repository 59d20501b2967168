"""Shared test helpers: images built from Debian's busybox-static and a
local Debian `docker-registry` to pull them from."""
