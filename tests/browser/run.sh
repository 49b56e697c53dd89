#!/usr/bin/env bash
# make test-browser: the course site and the notebooks with explorers, in Debian's headless Chromium.
# Installs what it lacks (the chromium package, playwright-core from package-lock.json), builds the
# site from the stored outputs and runs site.mjs on a page with equations, serves a copy of the
# notebooks on 127.0.0.1 with a token and throw-away Jupyter folders, runs explorers.mjs, and stops
# every process it started, whatever happens.
# Usage: tests/browser/run.sh VENV_BIN SCREENSHOT_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "$1")
shots=$(realpath -m "$2")
here=tests/browser
notebooks=(02_vanishing_gradients 04_gates 08_inside_the_lstm)  # every notebook that shows an explorer
site_page=02_vanishing_gradients  # a page of the site with equations, and a TeX string of one of them
site_tex='\operatorname{diag}'

if [ ! -x /usr/bin/chromium ]; then
    sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
    echo "installing Debian's chromium (apt-get)"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
npm ci --prefix "$here" --no-audit --no-fund --loglevel=error

work=$(mktemp -d -t course-lstm-browser.XXXXXX)
server=""
browser=""

stop_group() {  # SIGTERM a process group, give it 5 s to shut down (kernels, browser), then SIGKILL
    kill -TERM -- "-$1" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 -- "-$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL -- "-$1" 2>/dev/null || true
}

ours() {  # ids of live processes whose command line names our temporary folder
    local proc
    for proc in /proc/[0-9]*; do
        tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -qF "$work" && echo "${proc#/proc/}"
    done
    return 0
}

cleanup() {
    local status=$? left
    [ -z "$browser" ] || stop_group "$browser"
    [ -z "$server" ] || stop_group "$server"
    # A browser or kernel that escaped its group (a killed parent) still names $work: end it too.
    left=$(ours)
    if [ -n "$left" ]; then
        echo "stopping leftover processes: $left" >&2
        kill -KILL $left 2>/dev/null || true
        status=1
    fi
    rm -rf "$work"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$shots" "$work/lab"
rm -f "$shots"/*.png
for name in "${notebooks[@]}"; do
    cp "notebooks/$name.ipynb" "notebooks/$name.py" "$work/lab/"  # a copy: saving must not touch ours
done
# No news toast over the screenshots; every cell attached to the page, on screen or not.
mkdir -p "$work/settings/@jupyterlab/apputils-extension" "$work/settings/@jupyterlab/notebook-extension"
echo '{"fetchNews": "false", "checkForUpdates": false}' \
    >"$work/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
echo '{"windowingMode": "none"}' >"$work/settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings"

export JUPYTER_RUNTIME_DIR=$work/runtime JUPYTER_CONFIG_DIR=$work/config JUPYTER_DATA_DIR=$work/data \
    JUPYTERLAB_SETTINGS_DIR=$work/settings JUPYTERLAB_WORKSPACES_DIR=$work/workspaces \
    IPYTHONDIR=$work/ipython MPLCONFIGDIR=$work/matplotlib TMPDIR=$work \
    COURSE_LSTM_PROFILE=ci OMP_NUM_THREADS=1
# The site as make course builds it (--no-execute: the stored outputs), opened from file://.
"$bin/python" -m tools.build_course --no-execute --out "$work/site" >"$shots/site-build.log" 2>&1 \
    || { echo "the course site did not build: see $shots/site-build.log" >&2; exit 1; }
SHOTS=$shots setsid timeout 120 node "$here/site.mjs" "$work/site/$site_page.html" "$site_tex" &
browser=$!
site_status=0
wait "$browser" || site_status=$?
browser=""

port=$("$bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$("$bin/python" -c 'import secrets; print(secrets.token_hex(24))')
root=$([ "$(id -u)" -ne 0 ] || echo --allow-root)

# setsid: the server and its kernels form one process group, stopped together.
setsid "$bin/jupyter" lab $root --no-browser --ip=127.0.0.1 --port="$port" \
    --IdentityProvider.token="$token" --ServerApp.root_dir="$work/lab" --expose-app-in-browser \
    >"$shots/jupyterlab.log" 2>&1 &
server=$!
for _ in $(seq 120); do
    "$bin/python" -c "import sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/api/status?token=$token', timeout=1)" \
        2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { echo "JupyterLab did not start: see $shots/jupyterlab.log" >&2; exit 1; }
    sleep 0.5
done

LAB_URL=http://127.0.0.1:$port LAB_TOKEN=$token LAB_ROOT=$work/lab SHOTS=$shots \
    setsid timeout 600 node "$here/explorers.mjs" "${notebooks[@]/%/.ipynb}" &
browser=$!
wait "$browser"
[ "$site_status" -eq 0 ] || { echo "the course site check failed (see above)" >&2; exit "$site_status"; }
