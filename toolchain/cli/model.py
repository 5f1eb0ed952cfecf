"""`tlmc train`, `distill`, `synth`, `quantize`, `eval` and `generate`: the model from text to int8."""

from __future__ import annotations

from pathlib import Path

import click

from .common import emit_json, handle_errors, json_option, load_project, project_option


def _train_summary(metrics: dict, what: str) -> str:
    state = "up to date (cached)" if metrics["cached"] else f"trained in {metrics['train_seconds']} s"
    scope = f"  (all {metrics['val_windows']:,} validation targets)" if metrics.get("val_windows") else ""
    return (f"{what}: {metrics['arch']}, {metrics['params']:,} params, {state}\n"
            f"val CE {metrics['val_ce']:.4f}  perplexity {metrics['val_ppl']:.3f}  accuracy {metrics['val_acc']:.4f}"
            + scope)


@click.command()
@project_option
@json_option
@click.option("--force", is_flag=True, help="Retrain from scratch even if nothing changed.")
@click.option("--teacher", "teacher", is_flag=True, help="Train the [teacher] model instead of the student.")
@handle_errors
def train(project_dir: Path, as_json: bool, force: bool, teacher: bool) -> None:
    """Prepare data and train the student from scratch, or with --teacher the float teacher
    (resumes an interrupted run)."""
    p = load_project(project_dir, lock=True)
    if teacher:
        from ..train.teacher import train_teacher

        metrics = train_teacher(p.cfg, p.build, force=force)
    else:
        from ..train.loop import run

        metrics = run(p.cfg, p.build, force=force)
    if as_json:
        emit_json(metrics)
    else:
        click.echo(_train_summary(metrics, "teacher" if teacher else "student (scratch)"))


@click.command()
@project_option
@json_option
@click.option("--force", is_flag=True, help="Retrain the student even if nothing changed.")
@handle_errors
def distill(project_dir: Path, as_json: bool, force: bool) -> None:
    """Train the student on the teacher's soft targets (+ hard labels), with the [train] budget.

    \b
    Trains the teacher first if needed, caches its top-k logits once (build/distill/), mixes in
    synthetic text when [synth] asks for it. The distilled student is what 'tlmc quantize' and
    'tlmc build' then deploy. Loss: alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE.
    """
    from ..train.distill import run

    p = load_project(project_dir, lock=True)
    metrics = run(p.cfg, p.build, force=force)
    if as_json:
        emit_json(metrics)
    else:
        click.echo(_train_summary(metrics, "student (distilled)"))


@click.command()
@project_option
@json_option
@click.option("--tokens", type=click.IntRange(min=1), default=None,
              help="Synthetic tokens to sample (default: [synth] tokens).")
@click.option("--force", is_flag=True, help="Sample again even if nothing changed.")
@handle_errors
def synth(project_dir: Path, as_json: bool, tokens: int | None, force: bool) -> None:
    """Sample synthetic training text from the teacher: seeded, filtered, deduplicated.

    'tlmc distill' then mixes it into the student's training stream by [synth] ratio.
    """
    from ..train.synth import run

    p = load_project(project_dir, lock=True)
    r = run(p.cfg, p.build, tokens=tokens, force=force)
    if as_json:
        emit_json(r)
    else:
        click.echo(f"{r['documents']:,} documents, {r['tokens']:,} tokens in {p.build / 'synth' / 'synth.txt'}"
                   + ("  [cached]" if r["cached"] else f" ({r['seconds']} s)") + "\n"
                   f"kept {100 * r['kept_share']:.1f}% of {r['sampled']:,} samples; dropped: "
                   + ", ".join(f"{k.replace('_', ' ')} {r[k]:,}" for k in ("duplicate", "format", "unfinished",
                                                                          "too_short", "charset")))


@click.command()
@project_option
@json_option
@click.option("--force", is_flag=True, help="Redo the conversion even if nothing changed.")
@handle_errors
def quantize(project_dir: Path, as_json: bool, force: bool) -> None:
    """Full-int8 .tflite, float vs int8 report, TFLM check and golden vectors."""
    from ..export.quantize import run

    p = load_project(project_dir, lock=True)
    r = run(p.cfg, p.build, force=force)
    if as_json:
        emit_json(r)
        return
    click.echo(f"{'':12}{'float':>10}{'int8':>10}\n"
               f"{'CE (nats)':12}{r['float_ce']:>10.4f}{r['int8_ce']:>10.4f}   ({r['ce_increase_pct']:+.2f}%)\n"
               f"{'perplexity':12}{r['float_ppl']:>10.3f}{r['int8_ppl']:>10.3f}\n"
               f"{'accuracy':12}{r['float_acc']:>10.4f}{r['int8_acc']:>10.4f}\n"
               f"on {r['eval_windows']:,} validation targets in the first "
               f"{r.get('eval_tokens', r['eval_windows']):,} tokens (as 'tlmc eval' scores them)\n"
               f"model.tflite {r['tflite_bytes']:,} B, TFLM arena {r['tflm_arena_bytes']:,} B, "
               f"ops {', '.join(r['ops'])}\n"
               f"{r['golden_vectors']} golden vectors (TFLM reference kernels), model hash {r['model_hash']}"
               + ("  [cached]" if r["cached"] else ""))


@click.command(name="eval")
@project_option
@json_option
@click.option("--task", type=click.Choice(["commands"]), default=None,
              help="Also score a task: commands = exact-match parse of held-out utterances.")
@click.option("--tokens", type=click.IntRange(min=1), default=20000, show_default=True,
              help="Validation tokens every model is scored on.")
@click.option("--commands", "n_commands", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Held-out utterances per split for --task commands (random ones exclude those seen verbatim "
                   "in training).")
@handle_errors
def eval_cmd(project_dir: Path, as_json: bool, task: str | None, tokens: int, n_commands: int) -> None:
    """Teacher, scratch student, distilled student and int8 student on the same validation data.

    Reads what earlier stages built (models not built yet are listed with the command that
    builds them). --json prints one object with a key per model ({"teacher": {"ce", "ppl", "acc",
    ...} or null, "scratch": ..., ...}) and "missing", "val_tokens", "commands", "tokenizer".
    """
    from ..quality.evaluate import run, table

    p = load_project(project_dir)
    r = run(p.cfg, p.build, task=task, tokens=tokens, commands=n_commands)
    if as_json:
        out = dict(r["entries"])
        out.update({"missing": r["missing"], "val_tokens": r["val_tokens"], "commands": r["commands"],
                    "gap_closed": r.get("gap_closed"), "tokenizer": r["tokenizer"],
                    "excluded_verbatim": r.get("excluded_verbatim")})
        emit_json(out)
    else:
        click.echo(table(r))


@click.command()
@project_option
@json_option
@click.option("--prompt", default="", help="Text the model continues.")
@click.option("--tokens", default=60, show_default=True, type=int, help="How many tokens to generate (0..4096).")
@click.option("--seed", default=1, show_default=True, type=int, help="PRNG seed (xorshift32; 0..2^31-1, as a device).")
@click.option("--temperature", default=0.0, show_default=True, type=float,
              help="0 is greedy; above 0 (up to 100) samples (see docs/sampling.md).")
@click.option("--top-k", default=0, show_default=True, type=int,
              help="Sample among the k most likely (0: all; up to 65535).")
@click.option("--int8", is_flag=True, help="Run the int8 model in TFLM (what a device computes).")
@handle_errors
def generate(project_dir: Path, as_json: bool, prompt: str, tokens: int, seed: int, temperature: float,
             top_k: int, int8: bool) -> None:
    """Continue a prompt with the trained model (refuses a model older than tlm.toml)."""
    from ..export.freshness import require_current
    from ..export.generate import generate as gen
    from ..export.sampling import check_generation

    p = load_project(project_dir)
    check_generation(tokens, seed, temperature, top_k, min_tokens=0)
    require_current(p.cfg, p.build)
    r = gen(p.build, prompt, tokens, seed=seed, temperature=temperature, top_k=top_k, int8=int8)
    if as_json:
        emit_json({"prompt": prompt, "text": r.text, "ids": r.ids, "int8": int8, "seed": seed,
                   "temperature": temperature, "top_k": top_k})
    else:
        click.echo(prompt + r.text)


COMMANDS = (train, distill, synth, quantize, eval_cmd, generate)
