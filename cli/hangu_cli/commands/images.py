"""`hangu images` and `hangu pull` (also used by `hangu run` for an image
that is not there yet)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from hangu_runtime.units import human_size

from ..client import APIClient, APIError
from ..output import Progress, ago, short_id, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    images = sub.add_parser("images", help="list images")
    images.add_argument("-a", "--all", action="store_true", help="show all images")
    images.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    images.set_defaults(func=cmd_images)
    pull = sub.add_parser("pull", help="pull an image from a registry")
    pull.add_argument("image")
    pull.set_defaults(func=cmd_pull)


def split_reference(reference: str) -> tuple[str, str]:
    """ "repo[:tag|@digest]" → (repo, tag or digest); the tag defaults to latest."""
    if "@" in reference:
        name, digest = reference.split("@", 1)
        return name, digest
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, "latest"


def pull(client: APIClient, reference: str, out: TextIO | None = None) -> None:
    """Pull, printing progress; raises APIError with the stream's error."""
    name, tag = split_reference(reference)
    progress = Progress(out)
    for message in client.stream_json("POST", "/images/create", {"fromImage": name, "tag": tag}):
        if "error" in message:
            raise APIError(500, str(message["error"]))
        progress.show(message)


def cmd_pull(client: APIClient, args: argparse.Namespace) -> int:
    try:
        pull(client, args.image)
    except APIError as err:
        print(f"Error response from daemon: {err.message}", file=sys.stderr)
        return 1
    return 0


def cmd_images(client: APIClient, args: argparse.Namespace) -> int:
    images = client.get("/images/json", {"all": args.all}) or []
    images.sort(key=lambda image: image.get("Created", 0), reverse=True)
    if args.quiet:
        seen = []
        for image in images:
            ident = short_id(image["Id"])
            if ident not in seen:
                seen.append(ident)
        for ident in seen:
            print(ident)
        return 0
    rows = []
    for image in images:
        tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"] or ["<none>:<none>"]
        for tag in tags:
            repo, _, name = tag.rpartition(":")
            rows.append(
                [
                    repo,
                    name,
                    short_id(image["Id"]),
                    ago(image.get("Created", 0)),
                    human_size(float(image.get("Size", 0))),
                ]
            )
    table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], rows)
    return 0
