"""`seqgen info`: what a checkpoint is and how it was trained."""

from __future__ import annotations

import json
import math
from typing import Any

import click
from seqgen.cli.options import checkpoint_option

import seqgen


@click.command()
@checkpoint_option
@click.option("--json", "as_json", is_flag=True, help="Print the details as one JSON object.")
def info(checkpoint: str | None, as_json: bool) -> None:
    """Describe a checkpoint: domain, codec, model size, training data and steps, best validation loss."""
    model = seqgen.load(checkpoint, device="cpu")
    d = model.info()
    if as_json:
        click.echo(json.dumps(d, indent=2, ensure_ascii=False))
        return
    m, data, t, p = d["model"], d["data"], d["train"], d["progress"]
    budget = ", ".join(f"{k} {t[k]}" for k in ("epochs", "max_steps", "max_time") if t.get(k))
    rows = [
        ("checkpoint", d["path"]),
        ("domain", d["domain"]),
        ("codec", d["codec"]),
        ("model", f"{m['cell']}, {m['layers']} layer(s) x {m['hidden']} hidden, "
                  f"{'one-hot input' if m['embed'] == 0 else 'embedding ' + str(m['embed'])}, "
                  f"dropout {m['dropout']}{', tied weights' if m['tie_weights'] else ''} "
                  f"({d['parameters']:,} parameters)"),
        ("data", f"{', '.join(data.get('inputs', []))} ({data.get('documents', '?')} "
                 f"{model.home.documents_word}, "
                 f"{data.get('tokens', 0):,} tokens: {data.get('train_tokens', 0):,} train / "
                 f"{data.get('val_tokens', 0):,} validation)"),
        ("training", f"step {p.get('step')} ({p.get('epochs')} epochs, {p.get('elapsed_s')} s), "
                     f"batch {t.get('batch_size')} x {t.get('seq_len')}, lr {t.get('lr')} {t.get('lr_schedule')}, "
                     f"budget {budget or '-'}, seed {t.get('seed')}"),
    ]
    if data.get("max_files"):
        rows.append(("subset", f"--max-files {data['max_files']}"))
    if data.get("val_inputs"):
        rows.append(("validation", f"--val {', '.join(data['val_inputs'])} ({data.get('val_tokens', 0):,} tokens)"))
    elif t.get("val_fraction") is not None:
        rows.append(("validation", f"{t['val_fraction']:.0%} of the data held out"))
    if d.get("from"):
        rows.append(("from", _origin(d["from"])))
    chosen = {k: v for k, v in d.get("settings_from", {}).items() if v not in ("library", "given", "base")}
    if chosen:
        rows.append(("settings", "; ".join(f"{k} from {v}" for k, v in chosen.items())))
    rows += model.home.info_rows(model.config)
    best = p.get("best_val_loss")
    if best is not None:
        rows.append(("best val", f"{best:.4f} nats/token ({best / math.log(2):.4f} bits/token) "
                                 f"at step {p.get('best_step')}"))
    rows.append(("created", f"{d['created']} with seqgen {d['seqgen_version']}"))
    for k, v in rows:
        click.echo(f"{k:<11} {v}")


def _origin(origin: dict[str, Any]) -> str:
    """The `from` row of a fine-tuned model: its base, the base's best loss, the characters it added."""
    best = origin.get("best_val_loss")
    added = origin.get("added_tokens") or []
    details = [f"base best val {best:.4f} nats/token" if best is not None else "base not validated",
               f"added {len(added)} token(s): {' '.join(map(repr, added[:20]))}{' ...' if len(added) > 20 else ''}"
               if added else "vocabulary unchanged"]
    if origin.get("model_card"):
        details.append(f"model card {origin['model_card']}")
    return f"{origin.get('path')} ({'; '.join(details)})"
