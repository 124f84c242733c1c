"""Workflows: collaboration recipes as data (YAML + prompt files), run by the engine."""

from coe.workflows.base import Workflow, builtin_names, load_workflow, parse_workflow
from coe.workflows.engine import Engine

__all__ = ["Engine", "Workflow", "builtin_names", "load_workflow", "parse_workflow"]
