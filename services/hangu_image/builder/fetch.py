"""ADD <url>: the download as dockerd does it (moby builder/dockerfile
copy.go `download`, remotecontext.GetWithStatusError): the file is named from
the URL path, else from Content-Disposition; mode 0600; its mtime is the
Last-Modified header's, or the epoch. Errors keep Go's wording."""

from __future__ import annotations

import contextlib
import email.message
import os
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from email.utils import parsedate_to_datetime
from pathlib import Path

from ..unpack import CHUNK

UNNAMED = "__unnamed__"  # dockerd's name when neither URL nor header gives one
TIMEOUT = 60.0  # per connect or read; Go's client has none, a hung build helps nobody


class FetchError(Exception):
    pass


def is_url(source: str) -> bool:
    """moby's urlutil.IsURL."""
    return source.startswith(("http://", "https://"))


def filename_for(url_path: str, headers: email.message.Message) -> str:
    """moby's getFilenameForDownload."""
    if url_path and not url_path.endswith("/"):
        return os.path.basename(url_path)
    disposition = headers.get("Content-Disposition")
    if disposition:
        message = email.message.Message()
        message["Content-Disposition"] = disposition
        name = message.get_param("filename", header="Content-Disposition")
        if isinstance(name, str) and name and not name.endswith("/"):
            return os.path.basename(name)
    return ""


def download(url: str, into: Path, timeout: float = TIMEOUT) -> str:
    """Fetch `url` into the folder `into`, as the file `filename_for` names
    (UNNAMED when it names none); returns that name, "" for none."""
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as err:
        body = err.read().strip().decode("utf-8", "replace")
        raise FetchError(
            f"failed to GET {url} with status {err.code} {err.reason}: {body}"
        ) from None
    except (urllib.error.URLError, OSError) as err:
        raise FetchError(f'Get "{url}": {_dial_error(url, err)}') from None
    with response:
        name = filename_for(urllib.parse.urlsplit(url).path, response.headers)
        path = into / (name or UNNAMED)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            try:
                shutil.copyfileobj(response, out, CHUNK)
            except OSError as err:
                raise FetchError(f'Get "{url}": {err}') from None
        mtime = 0
        last_modified = response.headers.get("Last-Modified")
        if last_modified:
            # dockerd too lets an unparsable date go
            with contextlib.suppress(TypeError, ValueError):
                mtime = int(parsedate_to_datetime(last_modified).timestamp())
        os.utime(path, (mtime, mtime))
    return name


def _dial_error(url: str, err: Exception) -> str:
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(reason, ConnectionRefusedError):
        return f"dial tcp {address}: connect: connection refused"
    if isinstance(reason, socket.gaierror):
        return f"dial tcp: lookup {host}: no such host"
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"dial tcp {address}: i/o timeout"
    return str(reason)
