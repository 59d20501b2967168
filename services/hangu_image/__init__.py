"""hangu image service: content store, registry client, layer store and the
overlay root filesystems of containers.

Layout under <root>/image: image.db (SQLite), content/blobs/sha256/<hex>
(manifests, configs, layer blobs; content/ingest for partial writes),
layers/<chain-id hex>/diff (one unpacked layer each), l/<26 chars> (short
links to those diff dirs, used in overlay mount options), rootfs/<cid>/
{upper,work,merged} (a container's writable layer and its mount point),
tmp/ (unpacking and staging), pulls/ (journals of running pulls, undone at
start-up if the service died), certs.d/<host:port>/ (per-registry CAs and
client certificates, as Docker's /etc/docker/certs.d; HANGU_CERTS_D moves it).

Registries (distribution.py): Docker Hub pulls try HANGU_REGISTRY_MIRRORS
first; loopback and HANGU_INSECURE_REGISTRIES hosts get HTTPS without
verification or plain HTTP; a host with a certs.d folder gets verified
HTTPS; Basic and Bearer (token realm) auth from the X-Registry-Auth
credentials.

What other services and the gateway can rely on (see servicer.py):
- Get resolves like dockerd's GetImage: a full id (with or without sha256:),
  then name[:tag] / name@digest (no tag means :latest), then a unique id
  prefix (hex, optionally sha256:-prefixed). Not found: NOT_FOUND "No such
  image: <familiar ref, :latest added>". A bad reference: INVALID_ARGUMENT
  starting "invalid reference format".
- repo_tags / repo_digests are familiar strings ("busybox:latest",
  "127.0.0.1:5000/busybox@sha256:…"); config_json is the config blob as
  stored; layers are diff ids, base first.
- Pull/Push/Load/Import stream Progress in Docker's jsonmessage shape. An
  error before the first message is a gRPC status (a missing tag or repo is
  NOT_FOUND with dockerd's wording); later errors end the stream with one
  Progress whose `error` is set.
- Remove follows dockerd's image_delete rules; conflicts are ABORTED with
  dockerd's messages; `running_containers` makes a conflict even with force.
  A deleted image's parents follow while each is untagged, has no other
  child and no container root filesystem (not with no_prune); Prune removes
  that way too, children before parents.
- PrepareRootfs(container_id, image_id) accepts any reference Get accepts and
  is idempotent; MountRootfs is idempotent and returns the merged path;
  UnmountRootfs of an unmounted rootfs is fine; RemoveRootfs unmounts first.
  Mounts survive a restart of the service; HANGU_PURGE_ON_STOP=1 unmounts all.
"""
