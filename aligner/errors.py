"""Typed errors. The library raises these; the CLI turns them into one-line `Error: ...` messages."""


class AlignerError(Exception):
    """Base class: a problem that stops the run (bad arguments, unusable inputs)."""


class CorpusError(AlignerError):
    """The corpus directory is missing, empty or unusable."""


class DictionaryError(AlignerError):
    """The pronunciation dictionary cannot be read or has a malformed line."""


class ModelError(AlignerError):
    """A model directory is missing, unreadable or incompatible with the inputs."""


class UtteranceError(AlignerError):
    """One utterance cannot be processed; corpus runs report it and go on."""

    def __init__(self, utt_id: str, reason: str):
        super().__init__(f"{utt_id}: {reason}")
        self.utt_id = utt_id
        self.reason = reason


class InfeasibleAlignment(UtteranceError):
    """Fewer frames than the alignment graph needs."""

    def __init__(self, utt_id: str, num_frames: int, min_frames: int):
        super().__init__(
            utt_id,
            f"audio too short for its phones: {num_frames} frames, the transcript needs at least {min_frames}",
        )
        self.num_frames = num_frames
        self.min_frames = min_frames
