"""Make the retraining screenshots from the real app (run under a real X server).

    xvfb-run -s "-screen 0 1600x1000x24" python3 user_guide/train_screenshots.py [--engine]

Opens the demo project, verifies its image, starts training from the Train panel and grabs
the window mid-run (``images/train_panel.png``), then grabs the before/after report when the
run ends (``images/before_after_report.png``). Without ``--engine`` the run is a replay of
JSON lines (``REPLAY`` below, shaped like a CPU fine-tune of ``chest6``) so the pictures do
not depend on this machine's speed; with ``--engine`` the real ``anatomark train`` runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ["QT_API"] = "pyside6"
from shot_window import open_window, wait  # noqa: E402  (after QT_API)
OUT = Path(__file__).resolve().parent / "images"

REPLAY = r'''
import json, math, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
say = lambda **e: print(json.dumps(e), flush=True)
say(event="start", device="cpu", reason="cpu: this PyTorch build has no CUDA support (CPU-only wheel); 2 threads")
step, t = 0, 0.0
for stage, n in (("global", 14), ("patch", 8)):
    for epoch in range(1, n + 1):
        step += 1
        t += 11.0
        loss = (0.9 if stage == "global" else 0.35) * math.exp(-epoch / 6) + 0.05 + 0.01 * math.sin(3 * step)
        mre = 12.3 - 3.1 * (1 - math.exp(-step / 7)) + 0.25 * math.sin(2.3 * step)
        say(event="epoch", stage=stage, epoch=epoch, epochs=n, train_loss=loss, val_mre_px=mre,
            best_mre_px=min(mre, 12.3 - 3.1 * (1 - math.exp(-(step - 1) / 7)) + 0.25), lr=2e-4, seconds=11.0,
            elapsed=t, eta_seconds=11.0 * (22 - step))
        time.sleep(0.15)
names = ["R_apex", "L_apex", "R_costophrenic", "L_costophrenic", "R_cardiophrenic", "L_cardiophrenic"]
b = [10.8, 9.9, 14.2, 15.1, 11.6, 12.2]
a = [8.1, 8.4, 10.9, 11.3, 10.2, 12.6]
row = lambda vals: [{"name": n, "mre_px": v} for n, v in zip(names, vals)]
say(event="done", version="v2", model_path="versions/v2.pt",
    before={"mre_px": 12.3, "mre_mm": 4.3, "sdr": {"6": 67.9, "12": 88.4}, "sdr_unit": "px", "per_landmark": row(b)},
    after={"mre_px": 10.2, "mre_mm": 3.6, "sdr": {"6": 74.6, "12": 91.7}, "sdr_unit": "px", "per_landmark": row(a)},
    adoptable=True, worse_images=[{"name": "JPCLN014.png", "before_mre_px": 9.1, "after_mre_px": 10.4}])
'''


def main() -> int:
    home = tempfile.mkdtemp(prefix="anatomark-shots-")
    os.environ["ANATOMARK_HOME"] = home

    from app.demo import open_demo

    app, window = open_window()
    open_demo(window)
    while window.jobs.is_running():
        wait(app, 0.05)
    window.verify_image()  # the reviewed image is the training data
    training = window.training
    if "--engine" not in sys.argv:
        script = Path(home) / "replay_trainer.py"
        script.write_text(REPLAY)
        training.run.command_factory = lambda options: [sys.executable, str(script)]
    window.show_train_panel()
    wait(app, 1.0)
    training.panel.refresh_devices()
    training.panel.start_button.click()
    while training.is_running() and len(training.panel.steps) < 17:
        wait(app, 0.02)
    wait(app, 0.05)
    OUT.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(OUT / "train_panel.png"))
    while training.is_running():
        wait(app, 0.05)
    wait(app, 0.5)
    if training.report is None:
        print(f"no report: {training.panel.status.text()}")
        return 1
    training.report.grab().save(str(OUT / "before_after_report.png"))
    print(f"wrote {OUT / 'train_panel.png'} and {OUT / 'before_after_report.png'}")
    training.report.done(0)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
