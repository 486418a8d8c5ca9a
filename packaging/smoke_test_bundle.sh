#!/usr/bin/env bash
# Prove the built bundle runs without the project's Python: a bare environment (no
# PYTHONPATH, no virtualenv, PATH of the system only), the app offscreen on the demo, and
# the CLI predicting the bundled JPEG 2000 DICOM sample (plus JPEG-LS and JPEG lossless
# radiographs from ../shared/data/dicom when that folder is there).
#
#   bash packaging/smoke_test_bundle.sh [BUNDLE_DIR]     # default: dist/anatomark
#
# Exit status 0 when every check passed; each check prints one line.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="$(cd "${1:-$ROOT/dist/anatomark}" && pwd)"
PROGRAM="$BUNDLE/anatomark"
[ -x "$PROGRAM" ] || { echo "smoke: $PROGRAM not found: build it with python3 packaging/build_bundle.py" >&2; exit 2; }
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

# Run from a folder with no Python sources, in an environment with nothing of ours.
bare() { (cd "$SCRATCH" && env -i PATH=/usr/bin:/bin HOME="$SCRATCH" ANATOMARK_HOME="$SCRATCH/home" \
    QT_QPA_PLATFORM=offscreen LANG=C.UTF-8 "$PROGRAM" "$@"); }

echo "smoke: bundle $BUNDLE ($(du -sh "$BUNDLE" | cut -f1))"

# 1. The app: demo image, bundled model, one JSON line, exit 0.
start=$(date +%s)
line=$(bare --smoke-test 2>"$SCRATCH/app.err" | tail -n 1) || { cat "$SCRATCH/app.err" >&2; echo "smoke: app FAILED: $line" >&2; exit 1; }
echo "smoke: app $line ($(( $(date +%s) - start )) s)"
case "$line" in *'"ok": true'*'"frozen": true'*) ;; *) echo "smoke: app summary not ok" >&2; exit 1 ;; esac

# 2. The CLI: bundled models, then predictions on compressed DICOM.
bare models --json >"$SCRATCH/models.json"
echo "smoke: cli models $(tr -d '\n' <"$SCRATCH/models.json" | cut -c1-100)…"
predict() {  # FILE LABEL
    local out
    out=$(bare predict --model chest6 --device cpu --json "$1" 2>"$SCRATCH/predict.err") || { cat "$SCRATCH/predict.err" >&2; echo "smoke: cli predict $2 FAILED" >&2; exit 1; }
    case "$out" in *'"landmarks"'*) echo "smoke: cli predict $2 ($(basename "$1")) ok" ;; *) echo "smoke: cli predict $2 printed no landmarks" >&2; exit 1 ;; esac
}
predict "$BUNDLE/_internal/resources/samples/chest_RG1.dcm" "JPEG 2000"
DICOM="$ROOT/../shared/data/dicom"
if [ -d "$DICOM" ]; then
    predict "$DICOM/RG1_JLSN.dcm" "JPEG-LS near-lossless"
    predict "$DICOM/RG2_JLSL.dcm" "JPEG-LS lossless"
    predict "$DICOM/RG2_JPLL.dcm" "JPEG lossless"
    predict "$DICOM/RG1_J2KR.dcm" "JPEG 2000 lossless"
else
    echo "smoke: $DICOM not found: JPEG-LS and JPEG lossless checks skipped"
fi

# 3. Optional (SMOKE_TRAIN=1; minutes on a CPU): what the app's Train panel runs in a frozen
#    bundle, the bundle's own program as the training subprocess, on 8 JSRT chest images.
JSRT="$ROOT/../shared/data/chest_jsrt"
if [ "${SMOKE_TRAIN:-0}" = 1 ] && [ -d "$JSRT" ]; then
    bare project new "$SCRATCH/train.anatomark" --schema chest6 >/dev/null
    bare project import "$SCRATCH/train.anatomark" --dataset "$JSRT" --limit 8 --state corrected >/dev/null
    done_line=$(bare train --project "$SCRATCH/train.anatomark" --epochs 1 --max-minutes 0.3 --device cpu --json | grep '"event": "done"') \
        || { echo "smoke: cli train FAILED" >&2; exit 1; }
    echo "smoke: cli train ok ($(echo "$done_line" | cut -c1-60)…)"
else
    echo "smoke: training check skipped (SMOKE_TRAIN=1 with ../shared/data/chest_jsrt runs it)"
fi

# 4. A bad input is one line and exit status 2, not a traceback.
set +e
bare predict --model chest6 "$SCRATCH/missing.dcm" >/dev/null 2>"$SCRATCH/bad.err"; code=$?
set -e
if [ "$code" -ne 2 ] || [ "$(wc -l <"$SCRATCH/bad.err")" -ne 1 ]; then
    cat "$SCRATCH/bad.err" >&2; echo "smoke: bad input gave status $code" >&2; exit 1
fi
echo "smoke: cli bad input -> status 2, one line"
echo "smoke: all checks passed"
