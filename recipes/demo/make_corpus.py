"""Generate the bundled demo corpus (run once by a developer; the output is committed).

Needs espeak-ng (apt-get install espeak-ng). Each word is synthesised on its own, trimmed, and the
words are joined with pauses of known length, so the word boundaries in reference/ are exact.
Four espeak-ng voices stand in for four speakers; audio is 16 kHz FLAC.

    python recipes/demo/make_corpus.py recipes/demo
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

SENTENCES = [
    "The birch canoe slid on the smooth planks",
    "Glue the sheet to the dark blue background",
    "It is easy to tell the depth of a well",
    "These days a chicken leg is a rare dish",
    "Rice is often served in round bowls",
    "The juice of lemons makes fine punch",
    "The box was thrown beside the parked truck",
    "The hogs were fed chopped corn and garbage",
    "Four hours of steady work faced us",
    "A large size in stockings is hard to sell",
    "The boy was there when the sun rose",
    "A rod is used to catch pink salmon",
    "The source of the huge river is the clear spring",
    "Kick the ball straight and follow through",
    "Help the woman get back to her feet",
]
VOICES = {"us-m": "en-us", "gb-m": "en-gb", "us-f": "en-us+f3", "sc-m": "en-gb-scotland"}
SR = 16000


def synth(word: str, voice: str, speed: int) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", f.name, word], check=True)
        x, sr = sf.read(f.name, dtype="float32")
    from scipy.signal import resample_poly

    x = resample_poly(x, SR, sr).astype(np.float32) if sr != SR else x
    env = np.abs(x) > 0.01
    idx = np.flatnonzero(env)
    return x[max(0, idx[0] - 80): idx[-1] + 80] if len(idx) else x


def main(out: Path):
    from aligner.textgrid import render

    rng = np.random.default_rng(0)
    for spk, voice in VOICES.items():
        (out / "corpus" / spk).mkdir(parents=True, exist_ok=True)
        (out / "reference" / spk).mkdir(parents=True, exist_ok=True)
        for i, sent in enumerate(SENTENCES[:12] if spk != "us-m" else SENTENCES):
            speed = int(rng.integers(150, 190))
            parts, words = [np.zeros(int(rng.uniform(0.2, 0.4) * SR), np.float32)], []
            pos = len(parts[0])
            for j, w in enumerate(sent.split()):
                x = synth(w, voice, speed)
                words.append((pos / SR, (pos + len(x)) / SR, w.lower()))
                parts.append(x)
                pos += len(x)
                gap = int((rng.uniform(0.15, 0.35) if rng.uniform() < 0.25 else rng.uniform(0.0, 0.03)) * SR)
                if j == len(sent.split()) - 1:
                    gap = int(rng.uniform(0.2, 0.4) * SR)
                parts.append(np.zeros(gap, np.float32))
                pos += gap
            audio = np.concatenate(parts)
            audio += 0.0005 * rng.normal(size=len(audio)).astype(np.float32)
            name = f"s{i:02d}"
            sf.write(out / "corpus" / spk / f"{name}.flac", audio, SR)
            (out / "corpus" / spk / f"{name}.lab").write_text(sent + "\n")
            (out / "reference" / spk / f"{name}.TextGrid").write_text(render({"words": words}, len(audio) / SR))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent))
