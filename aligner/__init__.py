"""aligner: forced alignment of speech to transcripts, trained on your own corpus."""

__version__ = "0.1.0"
