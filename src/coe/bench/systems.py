"""System names: ``coe-<mode>`` (``coe-collab`` = collaborate) runs a CoE mode with the automatic team; a
catalog model id runs that one model in direct mode."""

from __future__ import annotations

from dataclasses import dataclass

from coe.errors import CoeError, InputError
from coe.providers.pool import ModelPool
from coe.workflows.base import builtin_names, load_workflow

ALIASES = {"collab": "collaborate", "collab-5": "collaborate-5"}


@dataclass(frozen=True)
class System:
    name: str
    mode: str
    team: tuple[str, ...] | None = None  # None: CoE picks the team

    @property
    def is_model(self) -> bool:
        return self.team is not None


def parse_systems(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise InputError("--systems is empty", hint="e.g. --systems coe-collab,embedded/qwen2.5-coder-1.5b-instruct")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"system {dupes[0]} is named twice")
    return names


def resolve(name: str, pool: ModelPool) -> System:
    """A system by name; unknown modes, unknown models and models not callable here are one-line errors."""
    if name.startswith("coe-"):
        mode = ALIASES.get(name[4:], name[4:])
        if mode != "auto":
            try:
                load_workflow(mode, pool.settings.file.workflows_dir)
            except CoeError:
                modes = ", ".join(f"coe-{m}" for m in [*builtin_names(), "collab"])
                raise InputError(f"unknown system '{name}'", hint=f"CoE systems: {modes}; or a model id "
                                                                  "from `coe models`") from None
        pool.default_model()  # nothing callable at all → the clear "no model is available" error
        return System(name, mode)
    try:
        info = pool.catalog.model(name)
    except InputError:
        raise InputError(f"unknown system '{name}'", hint="use coe-<mode> (e.g. coe-collab, coe-auto) or a model "
                                                          "id from `coe models`") from None
    if not pool.is_available(info):
        vendor = pool.catalog.vendor_of(info)
        hint = "run `coe models pull`" if vendor.local else f"set {vendor.key_env or 'its API key'}"
        raise InputError(f"model '{name}' is not available here", hint=hint)
    return System(name, "direct", (info.id,))
