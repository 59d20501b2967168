"""Docker's build messages (the classic builder's stream): "Step 2/6 : ...",
" ---> 1a2b3c4d5e6f", RUN output as it comes (stderr in red, as dockerd
marks it), "Successfully built ...". In quiet mode everything is held back:
a build that succeeds says only its image id, one that fails says all."""

from __future__ import annotations

import codecs
from collections.abc import Callable

from ..progress import ProgressEvent

Emit = Callable[[ProgressEvent], None]
_RED, _RESET = "\x1b[91m", "\x1b[0m"


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


class BuildOutput:
    def __init__(self, emit: Emit, quiet: bool = False) -> None:
        self._emit = emit
        self.quiet = quiet
        self._held: list[ProgressEvent] = []
        self.started = False  # a message went out (so errors go in the stream)

    def send(self, event: ProgressEvent) -> None:
        if self.quiet:
            self._held.append(event)
            return
        self.started = True
        self._emit(event)

    def text(self, text: str) -> None:
        self.send(ProgressEvent(stream=text))

    def step(self, number: int, total: int, original: str) -> None:
        # dockerd writes the step and its newline as two messages.
        self.text(f"Step {number}/{total} : {original}")
        self.text("\n")

    def arrow(self, text: str) -> None:
        self.text(f" ---> {text}\n")

    def image(self, image_id: str) -> None:
        self.arrow(short_id(image_id))

    def result(self, image_id: str) -> None:
        """The aux message with an image id (a stage's or the build's)."""
        self.send(ProgressEvent(built_id=image_id))

    def done(self, image_id: str, tags: list[str]) -> None:
        if self.quiet:
            self.started = True
            self._emit(ProgressEvent(stream=f"{image_id}\n"))
            return
        self.result(image_id)
        self.text(f"Successfully built {short_id(image_id)}\n")
        for tag in tags:
            self.text(f"Successfully tagged {tag}\n")

    def fail(self, message: str, code: int = 0) -> None:
        """The last message of a failed build; quiet mode lets out what it held."""
        held, self._held = self._held, []
        self.started = True
        for event in held:
            self._emit(event)
        self._emit(ProgressEvent(error=message, error_code=code))


class ProcessOutput:
    """One RUN step's output: bytes as they come on either stream, decoded
    across chunk boundaries."""

    def __init__(self, out: BuildOutput) -> None:
        self.out = out
        self._decoders = {
            1: codecs.getincrementaldecoder("utf-8")("replace"),
            2: codecs.getincrementaldecoder("utf-8")("replace"),
        }

    def write(self, stream: int, data: bytes, final: bool = False) -> None:
        text = self._decoders[stream].decode(data, final)
        if not text:
            return
        self.out.text(f"{_RED}{text}{_RESET}" if stream == 2 else text)

    def close(self) -> None:
        for stream in (1, 2):
            self.write(stream, b"", final=True)
