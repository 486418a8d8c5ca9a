"""The ``anatomark`` command line (no Qt): ``main`` runs one subcommand.

One module per group of commands: ``commands`` (predict, evaluate, train, models and the dispatch),
``project`` (project new/add/import/recover, predict/train/models --project, adopt), ``exchange``
(export, project import --file), ``calibrate``, ``effort`` (simulate-review), ``experiment``,
``dicomweb`` (pacs search, project add --dicomweb, project store-sr); ``common`` what they share.
The engine (the rest of ``core``) never imports this package, and this package never imports
``app``: the ``anatomark`` program (``app.launch``) chooses between the two (import-linter
contracts in pyproject.toml hold both).
"""

from core.cli.commands import APP_FLAGS, COMMAND_SUMMARY, SUBCOMMANDS, build_parser, main, wants_cli

__all__ = ["APP_FLAGS", "COMMAND_SUMMARY", "SUBCOMMANDS", "build_parser", "main", "wants_cli"]
