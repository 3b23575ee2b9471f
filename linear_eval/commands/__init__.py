"""Sub-commands of ``simclr`` for evaluation: eval, finetune, index, retrieve, serve, embed, plot.

One module per command translates its flags once: it checks the paths the command reads and
writes, builds the typed :class:`linear_eval.config.EvalConfig` (a flag's value is assigned,
never turned back into ``key=value`` text) and calls the typed function that does the work
(``eval``: :func:`linear_eval.protocols.report.report_evaluation`, ``finetune``:
:func:`linear_eval.finetune.command.finetune_and_report`, ``index``:
:func:`linear_eval.retrieval.indexing.index_gallery`, ``retrieve``:
:func:`linear_eval.retrieval.answer.answer_queries`, ``serve``:
:func:`linear_eval.retrieval.serve.serve`, ``embed``:
:func:`linear_eval.features.embed.embed_gallery`, ``plot``:
:func:`linear_eval.protocols.plot.plot_gallery`). No function below these modules takes an
``argparse.Namespace``. The ``simclr`` command root finds :func:`register` through the
``simclr.commands`` entry point; the command modules import only argparse at the top (each
handler imports its work when it runs), so ``simclr --help`` stays light.
"""

from __future__ import annotations

import argparse

from linear_eval.commands import embed, evaluate, finetune, index, plot, retrieve, serve


class IntermixedParser(argparse.ArgumentParser):
    """Options and positionals in any order: ``eval knn --checkpoint RUN knn.k=[20]``."""

    _parsing = False

    def parse_known_args(self, args=None, namespace=None):
        if self._parsing:  # the intermixed parse calls back here for its two passes
            return super().parse_known_args(args, namespace)
        self._parsing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._parsing = False


def register(commands: argparse._SubParsersAction) -> None:
    """Add eval, finetune, index, retrieve, serve, embed and plot to the ``simclr`` parser."""
    parser_class = commands._parser_class
    commands._parser_class = IntermixedParser
    try:
        for command in (evaluate, finetune, index, retrieve, serve, embed, plot):
            command.register(commands)
    finally:
        commands._parser_class = parser_class
