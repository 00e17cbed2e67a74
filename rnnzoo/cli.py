"""The ``rnnzoo`` command: parsing and wiring only; the work happens in the public API."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from rnnzoo.errors import RnnzooError


def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """User errors become one line on stderr and exit code 2; --debug shows the traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RnnzooError as exc:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def _emit(rows: list[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) if rows else len(c) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        click.echo("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.version_option(package_name="rnnzoo")
def main(debug: bool) -> None:
    """rnnzoo: train, export and verify recurrent sequence models."""


@main.command("list")
@click.argument("pattern", default="*")
@click.option("--task", type=click.Choice(["classification", "regression"]), help="Only this task.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_friendly
def list_cmd(pattern: str, task: str | None, as_json: bool) -> None:
    """List registered models matching PATTERN (shell wildcards, e.g. 'lstm_*')."""
    from rnnzoo.plugins import catalog
    from rnnzoo.registry import list_models

    cat = catalog()
    rows = []
    for name in list_models(pattern, task=task):
        spec, owner = cat.models[name], cat.owner("model", name)
        rows.append({
            "name": name, "task": spec.task, "family": spec.family,
            "plugin": owner.distribution if owner else "?", "dataset": spec.default_dataset or "",
            "description": spec.description,
        })
    _emit(rows, as_json, ["name", "task", "family", "plugin", "dataset", "description"])


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_friendly
def plugins(as_json: bool) -> None:
    """List plugin distributions: version, status and what each registered."""
    from rnnzoo.plugins import list_plugins

    rows = list_plugins()
    if as_json:
        _emit(rows, True, [])
        return
    for r in rows:
        what = ", ".join(r["models"] + r["datasets"]) or "-"
        click.echo(f"{r['distribution']} {r['version']} [{r['name']}] {r['status']}: {what}")
        for err in r["errors"]:
            click.echo(f"    ! {err}")


@main.command()
@click.argument("pattern", default="*")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_friendly
def datasets(pattern: str, as_json: bool) -> None:
    """List registered datasets matching PATTERN."""
    from rnnzoo.registry import get_dataset_spec, list_datasets

    rows = []
    for name in list_datasets(pattern):
        spec = get_dataset_spec(name)
        rows.append({"name": name, "task": spec.task, "per_step": spec.per_step,
                     "description": spec.description})
    _emit(rows, as_json, ["name", "task", "per_step", "description"])
