"""`docker build` as dockerd's classic builder does it: the build context,
the Dockerfile's stages and steps, the layer cache, RUN steps as real
containers of the container service, COPY and ADD into a mounted root
filesystem, and Docker's stream of build messages."""
