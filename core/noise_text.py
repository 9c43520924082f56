"""A noise spec's text, as a manifest keeps it, split into its steps.

Chains joined by "|" (a mixture), each of steps joined by "+", each step its name, then ":" and
its values: "gaussian:5-50+jpeg:60|camera:dim". train/noise_spec.py gives the steps their
meaning; this floor only splits the text, so that a manifest can say which noise a model
learned without the training code.
"""

from __future__ import annotations

MIXTURE, CHAIN, VALUES = "|", "+", ":"


def split_noise(spec: str) -> list[list[tuple[str, str]]]:
    """The spec's chains, each a list of (step name, the text of its values)."""
    return [[_name_and_values(step) for step in chain.strip().split(CHAIN)]
            for chain in spec.split(MIXTURE)]


def _name_and_values(step: str) -> tuple[str, str]:
    """("camera", "dim,85") of "camera:dim,85"; ("clip", "") of "clip"."""
    name, _, values = step.strip().partition(VALUES)
    return name, values
