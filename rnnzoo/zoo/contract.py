"""The conformance kit's cheap contract checks, run on every model before the zoo trains it.

Why before training: a model whose output changes with padding (it reads the
last padded step, or pools over padding) trains, exports and passes parity,
since parity compares the same wrong computation twice, and is then wrong
on every ragged batch of real data. The zoo used to certify such a model;
now its row fails and names the check. The checks take milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rnnzoo.testing import CONTRACT_CHECKS, check_model

MEANING = {  # what each check demands, for the row's error
    "builds_with_defaults": "build() with the default hyperparameters must return a module with parameters",
    "forward_shapes": "forward must return finite float32 [batch, outputs], with and without lengths",
    "padding_invariance": "a sample alone must give the same output as inside a padded, ragged batch",
}


@dataclass(frozen=True)
class ContractResult:
    """Each contract check's outcome: "passed", "xfail: reason" (declared by the spec) or "FAILED: message"."""

    outcomes: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [c for c, o in self.outcomes.items() if o.startswith("FAILED")]

    def error(self, model: str) -> str:
        """The row's one-line error, naming the first failed check and why ("" when none failed)."""
        if not self.failed:
            return ""
        check = self.failed[0]
        lines = [line.strip() for line in self.outcomes[check].removeprefix("FAILED:").splitlines() if line.strip()]
        # assert_close's first line says only "not close"; its "Greatest absolute difference" line says how far
        why = "; ".join([*lines[:1], *(line for line in lines[1:] if line.startswith("Greatest absolute"))])
        more = f"; also failed: {', '.join(self.failed[1:])}" if len(self.failed) > 1 else ""
        meaning = f" ({MEANING[check]})" if check in MEANING else ""
        return (f"contract check {check} failed{meaning}: {(why or 'no message')[:240]}{more}; not trained "
                f"(run rnnzoo.testing.check_model({model!r}) for the details)")

    def detail(self) -> str:
        """Every check's full outcome, for the model's error.txt."""
        return "\n\n".join(f"{check}: {outcome}" for check, outcome in self.outcomes.items()) + "\n"


def run_contract_checks(model: str) -> ContractResult:
    """Output shapes and padding invariance (``rnnzoo.testing.CONTRACT_CHECKS``) on small random batches."""
    return ContractResult(check_model(model, CONTRACT_CHECKS))
