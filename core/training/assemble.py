"""Turn a training work folder (``global.pt/json``, ``patch.pt/json``) into one model file."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import torch

from core.modelfile import INTENDED_USE, ModelFileError, combined_state_dict, load_model, save_model, schema_hash
from core.models import PatchNet, PatchNetConfig, build_global_net
from core.training.families import architecture_family
from core.schema import load_schema


def _stage_summary(record: dict) -> dict:
    """A stage's training record without the per-epoch history, plus its curve in short."""
    summary = {k: v for k, v in record.items() if k not in ("history", "model_config")}
    summary["data"] = {k: v for k, v in record["data"].items() if k != "train_ids"}
    summary["val_mre_px_by_epoch"] = [round(h["val_mre_px"], 3) for h in record["history"]]
    summary["seconds_per_epoch"] = round(sum(h["seconds"] for h in record["history"]) / max(1, len(record["history"])), 1)
    return summary


def _provenance(donor) -> dict:
    """What a card records about a stage taken from another model file."""
    return {"model": donor.model_id, "weights_sha256": donor.card["weights_sha256"]}


def assemble_model(
    work: Path,
    out: Path,
    name: str,
    version: str = "1",
    parent_version: str | None = None,
    title: str | None = "",
    inference: dict | None = None,
    with_patch: bool = True,
    evaluation: dict | None = None,
    patch_from: Path | None = None,
    global_from: Path | None = None,
) -> Path:
    """Write ``out`` (.pt + .json) from the best checkpoints in ``work``.

    ``patch_from`` takes the patch stage from an existing model file of the
    same schema instead of ``work``: the local stage only sees patches around
    a point, so a new global network (e.g. one that also segments) can reuse a
    patch stage trained before, at no training cost. The card records where it
    came from. ``global_from`` is the converse: a patch stage retrained in
    ``work`` (e.g. a narrower, faster one) behind the global stage of an
    existing model. ``title`` None: "<name> trained with recipe <the global
    stage's recipe>", plus which stage was reused from where.
    """
    if global_from is not None:
        # Without a patch stage of its own the work folder adds nothing to the donor.
        p_schema = json.loads((work / "patch.json").read_text())["schema"]
        donor = load_model(global_from, expected_schema=load_schema(p_schema))
        schema, global_net = donor.schema, donor.global_net
        g_summary = dict(donor.card["training"]["global"], reused_from=_provenance(donor))
        train_ids = donor.card["training"].get("train_ids")
    else:
        g_record = json.loads((work / "global.json").read_text())
        schema = load_schema(g_record["schema"])
        global_net = build_global_net(g_record["model_config"])
        global_net.load_state_dict(torch.load(work / "global.pt", map_location="cpu", weights_only=True))
        train_ids = g_record["data"]["train_ids"]
        g_summary = _stage_summary(g_record)
    patch_net, p_record = None, None
    if patch_from is not None:
        donor = load_model(patch_from, expected_schema=schema)
        if donor.patch_net is None:
            raise ModelFileError(f"{Path(patch_from).name}: has no patch stage to reuse")
        patch_net = donor.patch_net
        p_record = dict(donor.card["training"].get("patch") or {}, reused_from=_provenance(donor))
    elif with_patch and (work / "patch.json").exists():
        p_record = json.loads((work / "patch.json").read_text())
        patch_net = PatchNet(PatchNetConfig.from_dict(p_record["model_config"]))
        patch_net.load_state_dict(torch.load(work / "patch.pt", map_location="cpu", weights_only=True))
    if title is None:
        title = f"{name} trained with recipe {g_summary.get('recipe', name)}"
        title += f", patch stage reused from {Path(patch_from).name}" if patch_from is not None else ""
        title += f", global stage reused from {Path(global_from).name}" if global_from is not None else ""
    card = {
        "name": name,
        "version": version,
        "parent_version": parent_version,
        "title": title,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "schema": {"name": schema.name, "hash": schema_hash(schema), "content": schema.to_dict()},
        "architecture": {
            "family": architecture_family(global_net.config, patch_net is not None),
            "global": global_net.config.to_dict(),
            "patch": patch_net.config.to_dict() if patch_net is not None else None,
        },
        "input_size": list(global_net.config.input_size),
        "training": {
            "global": g_summary,
            "patch": (p_record if patch_from is not None else _stage_summary(p_record)) if p_record else None,
            "train_ids": train_ids,
        },
        "inference": inference or {"patch_decoder": "soft_argmax", "confidence_radius": 3.0},
        "evaluation": evaluation or {},
        "metrics": {},
        "intended_use": INTENDED_USE,
        "licence": "weights: research use only (trained on public research data that may not be redistributed for clinical use)",
    }
    return save_model(out, combined_state_dict(global_net, patch_net), card)
