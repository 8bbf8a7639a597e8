"""Which effect-size arms a run has: config ``effect_sizes.afcn`` and ``.interaction``.

``auto`` turns an arm on where the entry point gives it what it reads, and off elsewhere;
``true`` asks for it, and an entry point that cannot give it stops the run with one line at
parse time, before any job (never a run that ends without a table the config asked for).

- aFC-n reads DESeq2 counts, which need salmon's transcript quantifications: reads only.
- The interaction test needs each individual's continental group, which a phenotype BED's
  cohort lacks (its individuals are the BED's columns, kgpex.matrix_input.bed).
"""

from __future__ import annotations

from dataclasses import dataclass

from kgpex.common.errors import KgpexError


@dataclass(frozen=True)
class EffectSizeArms:
    afcn: bool
    interaction: bool


def effect_size_arms(config: dict) -> EffectSizeArms:
    """The arms of a validated config (schema defaults filled)."""
    cfg = config["effect_sizes"]
    entry = config["expression"]["input"]
    afcn = _arm(
        cfg["afcn"], entry == "reads", "effect_sizes.afcn",
        f"aFC-n reads DESeq2 counts of salmon quantifications; expression.input {entry} has none",
    )
    interaction = _arm(
        cfg["interaction"], entry != "bed", "effect_sizes.interaction",
        "the test needs each individual's continental group; a phenotype BED's cohort has none",
    )
    return EffectSizeArms(afcn=afcn, interaction=interaction)


def _arm(value, possible: bool, field: str, why: str) -> bool:
    if value == "auto":
        return possible
    if value and not possible:
        raise KgpexError(f"config: field '{field}': {why} (set it to auto or false)")
    return bool(value)
