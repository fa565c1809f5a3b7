#!/usr/bin/env bash
# Smoke test of the built bundle (default dist/ctcam): bash packaging/smoke.sh [BUNDLE_DIR]
#
# Runs the frozen executable offscreen (QT_QPA_PLATFORM=offscreen) in a throw-away HOME:
#   1. bundled resources present (model, demo, icons)
#   2. `ctcam --help`; a user error (missing file) gives a message, exit 1, no traceback
#   3. `ctcam info` and `ctcam explain` on the bundled demo (findings.json + maps written)
#   4. the GUI on the demo: with `--smoke` when the viewer offers it (open the demo, wait
#      for the results, exit 0); otherwise `ctcam` under a time limit, checking that the
#      model process is spawned (the demo loaded), runs to its end while the window stays
#      up, and that nothing is logged as an error; then the window is closed.
#   5. the same GUI run on a virtual X server (Xvfb) when installed: the xcb platform and the
#      OpenGL 3D view, and a window titled after the demo ("ctcam — case.nii.gz").
#      SMOKE_SCREENSHOT=file.png saves a screenshot of it.
# Exit: 0 all passed, 1 a check failed, 2 the bundle lacks the model or the demo (the checks
# that need them are reported as NOT RUN).  GUI_TIMEOUT (s, default 300) bounds step 4.
set -uo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${1:-dist/ctcam}
EXE="$BUNDLE/ctcam"
RES="$BUNDLE/_internal/resources"
GUI_TIMEOUT=${GUI_TIMEOUT:-300}
TMP=$(mktemp -d /tmp/ctcam-smoke.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export QT_QPA_PLATFORM=offscreen HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/config" XDG_CACHE_HOME="$TMP/cache"
export XDG_RUNTIME_DIR="$TMP/run"
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
unset CTCAM_RESOURCES PYTHONPATH  # the bundle must find its own resources

failures=0
incomplete=0
ok() { echo "PASS  $*"; }
bad() { echo "FAIL  $*"; failures=$((failures + 1)); }
notrun() { echo "NOT RUN  $*"; incomplete=1; }
no_traceback() { ! grep -q -E "Traceback \(most recent call last\)|internal error in" "$1"; }

# watch_gui LABEL LOG [x11]: start `ctcam` (the demo), wait for the model process (spawned
# once the demo has loaded) to appear and finish while the window stays up; with x11, also
# look for the window titled after the demo; then close it.  Prints PASS/FAIL; returns the
# number of failures (so it also works in a subshell).
watch_gui() {
  local label=$1 log=$2 x11=${3:-} t0 gui model_pid="" seen=0 done_=0 alive title=0 c nfail=0
  t0=$(date +%s)
  "$EXE" >"$log" 2>&1 &
  gui=$!
  while [ $(($(date +%s) - t0)) -lt "$GUI_TIMEOUT" ] && kill -0 $gui 2>/dev/null; do
    if [ -n "$x11" ] && [ $title = 0 ] && xwininfo -root -tree 2>/dev/null | grep -q "ctcam — case.nii.gz"; then
      title=$(($(date +%s) - t0))
    fi
    if [ -z "$model_pid" ]; then
      # frozen: `ctcam --multiprocessing-fork ...`; from source: `python -c "...spawn_main..."`
      for c in $(pgrep -P $gui); do
        if tr '\0' ' ' <"/proc/$c/cmdline" 2>/dev/null | grep -q -E "multiprocessing-fork|spawn_main"; then
          model_pid=$c; seen=$(($(date +%s) - t0))
        fi
      done
    elif ! kill -0 "$model_pid" 2>/dev/null; then
      done_=$(($(date +%s) - t0)); sleep 3; break
    fi
    sleep 0.5
  done
  if [ -n "$x11" ] && [ -n "${SMOKE_SCREENSHOT:-}" ] && command -v import >/dev/null; then
    import -window root "$SMOKE_SCREENSHOT" && echo "      screenshot: $SMOKE_SCREENSHOT"
  fi
  if kill -0 $gui 2>/dev/null; then alive=1; else alive=0; fi
  kill -TERM $gui 2>/dev/null; wait $gui 2>/dev/null
  if [ -z "$model_pid" ]; then
    bad "GUI ($label): no model process started within ${GUI_TIMEOUT} s (demo not loaded?)"; tail -30 "$log"; nfail=1
  elif [ "$done_" = 0 ]; then
    bad "GUI ($label): model process (started at ${seen} s) still running after ${GUI_TIMEOUT} s"; tail -30 "$log"; nfail=1
  elif [ $alive = 0 ]; then
    bad "GUI ($label): window process exited by itself"; tail -30 "$log"; nfail=1
  elif ! no_traceback "$log" || grep -q "3D view unavailable" "$log"; then
    bad "GUI ($label): errors logged"; cat "$log"; nfail=1
  elif [ -n "$x11" ] && [ $title = 0 ]; then
    bad "GUI ($label): no window titled 'ctcam — case.nii.gz'"; nfail=1
  else
    ok "GUI ($label): window up${x11:+, titled after the demo at ${title} s}, model process from ${seen} s to ${done_} s, no errors logged"
  fi
  return $nfail
}

if [ ! -x "$EXE" ]; then
  echo "FAIL  no bundle at $EXE: build it first with bash packaging/build.sh"
  exit 1
fi
echo "bundle: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1), $(find "$BUNDLE" -type f | wc -l) files)"

# 1. resources -----------------------------------------------------------------------------
have_model=1 have_demo=1
for f in model/axialnet.safetensors model/axialnet.json; do
  [ -f "$RES/$f" ] || { echo "MISSING  $RES/$f (train the model: docs/training.md, then rebuild)"; have_model=0; }
done
for f in demo/case.nii.gz demo/organs.nii.gz; do
  [ -f "$RES/$f" ] || { echo "MISSING  $RES/$f (python tools/make_demo.py, then rebuild)"; have_demo=0; }
done
if [ -f "$RES/icons/ctcam-256.png" ]; then ok "icons bundled"; else bad "icons missing in $RES/icons"; fi
[ $have_model = 1 ] && [ $have_demo = 1 ] && ok "model and demo bundled"

# 2. CLI basics ----------------------------------------------------------------------------
if "$EXE" --help >"$TMP/help.txt" 2>&1 && grep -q "explain" "$TMP/help.txt"; then
  ok "ctcam --help"
else
  bad "ctcam --help"; cat "$TMP/help.txt"
fi
"$EXE" info "$TMP/does-not-exist.nii.gz" >"$TMP/err.txt" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "does-not-exist" "$TMP/err.txt" && no_traceback "$TMP/err.txt"; then
  ok "user error reported without traceback (exit $rc)"
else
  bad "user error handling (exit $rc)"; cat "$TMP/err.txt"
fi

# 3. headless sub-commands on the demo ------------------------------------------------------
if [ $have_demo = 1 ]; then
  if "$EXE" info "$RES/demo/case.nii.gz" >"$TMP/info.txt" 2>&1 && no_traceback "$TMP/info.txt"; then
    ok "ctcam info demo: $(head -c 300 "$TMP/info.txt" | tr '\n' ' ')"
  else
    bad "ctcam info demo"; cat "$TMP/info.txt"
  fi
else
  notrun "ctcam info demo (no bundled demo)"
fi
if [ $have_demo = 1 ] && [ $have_model = 1 ]; then
  t0=$(date +%s)
  "$EXE" explain "$RES/demo/case.nii.gz" --organs "$RES/demo/organs.nii.gz" --device cpu \
    --out "$TMP/explain" >"$TMP/explain.txt" 2>&1
  rc=$?
  nmaps=$(find "$TMP/explain" -name "*.nii.gz" 2>/dev/null | wc -l)
  if [ $rc -eq 0 ] && [ -s "$TMP/explain/findings.json" ] && [ "$nmaps" -gt 0 ] && no_traceback "$TMP/explain.txt"; then
    ok "ctcam explain demo: findings.json + $nmaps maps in $(($(date +%s) - t0)) s"
  else
    bad "ctcam explain demo (exit $rc, $nmaps maps)"; tail -20 "$TMP/explain.txt"
  fi
else
  notrun "ctcam explain demo (bundled model or demo missing)"
fi

# 4. GUI ----------------------------------------------------------------------------------
if [ $have_demo = 0 ] || [ $have_model = 0 ]; then
  notrun "GUI on the demo (bundled model or demo missing)"
elif "$EXE" --no-3d --help 2>/dev/null | grep -q -- "--smoke"; then
  t0=$(date +%s)
  timeout "$GUI_TIMEOUT" "$EXE" --smoke >"$TMP/gui.txt" 2>&1
  rc=$?
  if [ $rc -eq 0 ] && no_traceback "$TMP/gui.txt"; then
    ok "GUI --smoke: demo opened, results shown, clean exit in $(($(date +%s) - t0)) s"
  else
    bad "GUI --smoke (exit $rc)"; tail -30 "$TMP/gui.txt"
  fi
else
  echo "note: the viewer has no --smoke flag; watching the GUI process instead"
  watch_gui offscreen "$TMP/gui.txt"
fi

# 5. GUI on a real X server (Xvfb): xcb platform, OpenGL 3D view, the demo's window title --
if [ $have_demo = 1 ] && [ $have_model = 1 ] && command -v Xvfb >/dev/null && command -v xwininfo >/dev/null; then
  Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp 3>"$TMP/display" 2>"$TMP/xvfb.txt" &
  xvfb=$!
  for _ in $(seq 50); do [ -s "$TMP/display" ] && break; sleep 0.1; done
  if [ -s "$TMP/display" ]; then
    (export DISPLAY=":$(cat "$TMP/display")"; unset QT_QPA_PLATFORM; watch_gui Xvfb "$TMP/gui-x.txt" x11)
    rc=$?; [ $rc -ne 0 ] && failures=$((failures + rc))
  else
    bad "Xvfb did not start"; cat "$TMP/xvfb.txt"
  fi
  kill $xvfb 2>/dev/null; wait $xvfb 2>/dev/null
else
  echo "note: no Xvfb/xwininfo (apt-get install xvfb x11-utils): GUI checked offscreen only"
fi

echo
if [ $failures -gt 0 ]; then echo "SMOKE FAILED ($failures failures)"; exit 1; fi
if [ $incomplete = 1 ]; then echo "SMOKE INCOMPLETE: the bundle lacks the model or the demo (see MISSING above)"; exit 2; fi
echo "SMOKE PASSED"
