"""Command line: `interviewer` opens the TUI; subcommands are for scripting."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from interviewer.bank.loader import BankError, check_bank, load_bank

app = typer.Typer(
    help="Mock-interview coach for LLM / NLP algorithm-engineer interviews.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
bank_app = typer.Typer(help="The question bank and its rubrics.", no_args_is_help=True, add_completion=False)
app.add_typer(bank_app, name="bank")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

BankDir = typer.Option(None, "--bank-dir", help="Question bank folder (default: the shipped bank).", envvar="INTERVIEWER_BANK_DIR")
RubricDir = typer.Option(None, "--rubric-dir", help="Rubrics folder (default: the shipped rubrics).", envvar="INTERVIEWER_RUBRIC_DIR")


def _bank(bank_dir: Optional[Path], rubric_dir: Optional[Path]):
    try:
        return load_bank(bank_dir, rubric_dir)
    except BankError as exc:
        err.print(str(exc), markup=False)
        err.print("Run `interviewer bank validate` for the full list.", markup=False)
        raise typer.Exit(2) from None
    except FileNotFoundError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help(), markup=False)


@bank_app.command("validate")
def bank_validate(bank_dir: Optional[Path] = BankDir, rubric_dir: Optional[Path] = RubricDir) -> None:
    """Check every bank and rubric file; exit 1 naming file, line, id and fix for each problem."""
    bank, problems = check_bank(bank_dir, rubric_dir)
    for problem in problems:
        err.print(str(problem), markup=False)
    if problems:
        err.print(f"\n{len(problems)} problem(s) found.", markup=False)
        raise typer.Exit(1)
    assert bank is not None
    covered = sum(1 for qid in bank.questions if qid in bank.rubrics)
    out.print(
        f"OK: {len(bank.questions)} questions in {len(set(bank.question_files.values()))} files, "
        f"{covered} with a rubric ({100 * covered / max(1, len(bank.questions)):.0f}% coverage).",
        markup=False,
    )


@bank_app.command("list")
def bank_list(
    topic: Optional[str] = typer.Option(None, "--topic", help="Only this topic id."),
    company: Optional[str] = typer.Option(None, "--company", help="Only questions tagged with this company."),
    bank_dir: Optional[Path] = BankDir,
    rubric_dir: Optional[Path] = RubricDir,
) -> None:
    """List questions, optionally filtered by topic and company."""
    bank = _bank(bank_dir, rubric_dir)
    if topic and topic not in bank.taxonomy.topics:
        err.print(f"error: unknown topic '{topic}'. Topics: {', '.join(bank.taxonomy.topics)}", markup=False)
        raise typer.Exit(2)
    if company and company not in bank.taxonomy.companies:
        err.print(f"error: unknown company '{company}'. Companies: {', '.join(bank.taxonomy.companies)}", markup=False)
        raise typer.Exit(2)
    rows = bank.filter(topic=topic, company=company)
    table = Table(show_edge=False, pad_edge=False)
    for column in ("id", "question", "kind", "diff", "companies", "rubric"):
        table.add_column(column, overflow="fold")
    for q in rows:
        table.add_row(q.id, q.text, q.kind.value, str(q.difficulty), ",".join(q.companies), "yes" if q.id in bank.rubrics else "-")
    out.print(table)
    out.print(f"{len(rows)} question(s)", markup=False)


@bank_app.command("show")
def bank_show(qid: str = typer.Argument(..., help="Question id."), bank_dir: Optional[Path] = BankDir, rubric_dir: Optional[Path] = RubricDir) -> None:
    """Show one question with its rubric."""
    from interviewer.bank.render import question_markdown  # noqa: PLC0415

    bank = _bank(bank_dir, rubric_dir)
    if qid not in bank.questions:
        from rapidfuzz import fuzz, process  # noqa: PLC0415

        hints = ", ".join(match for match, _, _ in process.extract(qid, list(bank.questions), scorer=fuzz.ratio, limit=3, score_cutoff=70))
        err.print(f"error: unknown question id '{qid}'." + (f" Did you mean: {hints}?" if hints else ""), markup=False)
        raise typer.Exit(2)
    out.print(question_markdown(bank, qid), markup=False)


@bank_app.command("search")
def bank_search(
    text: str = typer.Argument(..., help="Words to look for, Chinese or English."),
    limit: int = typer.Option(10, "--limit", min=1),
    bank_dir: Optional[Path] = BankDir,
    rubric_dir: Optional[Path] = RubricDir,
) -> None:
    """Fuzzy search over question texts, ids and rubric terms."""
    from interviewer.bank.search import search  # noqa: PLC0415

    bank = _bank(bank_dir, rubric_dir)
    hits = search(bank, text, limit=limit)
    if not hits:
        err.print(f"no question matches '{text}'", markup=False)
        raise typer.Exit(1)
    for q, score in hits:
        out.print(f"{score:5.1f}  {q.id:<40} {q.text}", markup=False)


@bank_app.command("export")
def bank_export(
    fmt: str = typer.Option("jsonl", "--format", help="Only 'jsonl' for now."),
    bank_dir: Optional[Path] = BankDir,
    rubric_dir: Optional[Path] = RubricDir,
) -> None:
    """One JSON object per question: id, text, topic, subtopic, companies, difficulty, kind, sources, has_rubric."""
    if fmt != "jsonl":
        err.print(f"error: unknown format '{fmt}'; use --format jsonl", markup=False)
        raise typer.Exit(2)
    bank = _bank(bank_dir, rubric_dir)
    for q in bank.questions.values():
        record = {
            "id": q.id,
            "text": q.text,
            "topic": q.topic,
            "subtopic": q.subtopic,
            "companies": list(q.companies),
            "difficulty": q.difficulty,
            "kind": q.kind.value,
            "sources": [s.model_dump() for s in q.sources],
            "has_rubric": q.id in bank.rubrics,
        }
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


@bank_app.command("stats")
def bank_stats_cmd(bank_dir: Optional[Path] = BankDir, rubric_dir: Optional[Path] = RubricDir) -> None:
    """Counts by topic, company, kind and difficulty, and rubric coverage."""
    from interviewer.bank.stats import bank_stats  # noqa: PLC0415

    bank = _bank(bank_dir, rubric_dir)
    stats = bank_stats(bank)
    out.print(f"questions: {stats.questions}   rubrics: {stats.rubrics}   coverage: {100 * stats.coverage:.1f}%", markup=False)
    for title, rows, names in (
        ("topic", stats.by_topic, bank.topic_name),
        ("company", stats.by_company, bank.company_name),
    ):
        table = Table(title=f"by {title}", show_edge=False, title_justify="left")
        for column in (title, "name", "questions", "rubrics", "coverage"):
            table.add_column(column, justify="right" if column in ("questions", "rubrics", "coverage") else "left")
        for key, (n, r) in rows.items():
            table.add_row(key, names(key), str(n), str(r), f"{100 * r / n:.0f}%" if n else "-")
        out.print(table)
    out.print("by kind: " + ", ".join(f"{k} {n}" for k, n in stats.by_kind.items()), markup=False)
    out.print("by difficulty: " + ", ".join(f"{k}: {n}" for k, n in stats.by_difficulty.items()), markup=False)


@app.command("eval")
def eval_cmd(
    file: Path = typer.Argument(..., help="Graded answers, JSON lines: question, answer, gold_score, kind."),
    judge: str = typer.Option("offline", "--judge", help="Judge backend: offline, openai or local."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (default: settings)."),
    model: Optional[str] = typer.Option(None, "--model", help="Model name for openai (default: settings)."),
    model_path: Optional[str] = typer.Option(None, "--model-path", help="Local judge: a model folder or a .gguf file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object for scripts."),
    bank_dir: Optional[Path] = BankDir,
    rubric_dir: Optional[Path] = RubricDir,
) -> None:
    """Grade a file of graded answers and compare with the gold scores."""
    from interviewer.config import SettingsError, load_settings  # noqa: PLC0415
    from interviewer.evaluation import EvalInputError, read_items, run_eval  # noqa: PLC0415
    from interviewer.judges import JudgeUnavailable, make_judge  # noqa: PLC0415

    bank = _bank(bank_dir, rubric_dir)
    try:
        items = read_items(file)
        overrides: dict = {"backend": judge, "fallback_offline": False}  # measure the judge itself, never a fallback
        if base_url:
            overrides["base_url"] = base_url
        if model:
            overrides["model"] = model
        if model_path:
            overrides["local_gguf_file" if model_path.endswith(".gguf") else "local_model_path"] = model_path
        settings = load_settings().judge.model_copy(update=overrides)
        the_judge = make_judge(settings)
        result = run_eval(bank, the_judge, items, file)
    except (EvalInputError, ValueError, SettingsError, JudgeUnavailable) as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    summary = result.summary()
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        return
    out.print(f"judge: {summary['judge']}   answers: {summary['n']}   ungraded: {summary['ungraded']}", markup=False)
    out.print(f"spearman {summary['spearman']:.3f}   qwk {summary['qwk']:.3f}   mae {summary['mae']:.2f}", markup=False)
    out.print(f"adversarial answers scored > 1: {summary['adversarial_over_1']} of {summary['adversarial_n']}   (injection flagged in {summary['injection_flagged']} answers)", markup=False)
    out.print(f"latency per answer: p50 {summary['latency_ms_p50']} ms, p95 {summary['latency_ms_p95']} ms", markup=False)
    table = Table(title="mean score per kind", show_edge=False, title_justify="left")
    for column in ("kind", "judge", "gold"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, mean in summary["per_kind"].items():
        table.add_row(kind, f"{mean:.2f}", f"{summary['gold_per_kind'][kind]:.2f}")
    out.print(table)


from interviewer import cli_sessions  # noqa: E402, F401 - registers the session commands on `app`


def main() -> None:
    app()


if __name__ == "__main__":
    main()
