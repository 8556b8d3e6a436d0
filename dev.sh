#!/usr/bin/env bash
# campusmon developer entry point. On a fresh Debian/Ubuntu machine:
#   bash dev.sh demo   install what is missing, then run the demo (campusmon demo)
#   bash dev.sh test   install what is missing, then run lint, type checks and the whole test suite
# Everything it installs: Debian packages that are missing (mosquitto, snmpd, postgresql,
# openssl, victoria-metrics, python3-venv, fonts-wqy-microhei, chromium, chromium-driver) and a
# virtualenv in .venv.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

system_deps() {
  local missing=()
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto mosquitto-clients)
  command -v snmpd >/dev/null || [ -x /usr/sbin/snmpd ] || missing+=(snmpd snmp)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing+=(postgresql)
  command -v runuser >/dev/null || missing+=(util-linux)
  command -v openssl >/dev/null || missing+=(openssl)
  # the metrics backend tests and benchmarks (InfluxDB line protocol, PromQL dashboards)
  command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
  # pdftoppm/pdftotext: the monthly report's PDF is checked page by page in the tests
  command -v pdftoppm >/dev/null || missing+=(poppler-utils)
  # Chinese text on printed asset labels and in the monthly report
  [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
  # the web console's acceptance tests drive Debian's headless Chromium (no browser download)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  export PATH="$PATH:/usr/sbin:/sbin"
}

python_deps() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    log "installing campusmon[dev] into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
    touch "$stamp"
  fi
}

cmd=${1:-help}
shift || true
case "$cmd" in
  demo)
    system_deps; python_deps
    exec "$VENV/bin/campusmon" demo "$@"
    ;;
  test)
    system_deps; python_deps
    log "ruff"
    "$VENV/bin/ruff" check .
    log "mypy"
    "$VENV/bin/mypy"
    log "import contract (import-linter)"
    "$VENV/bin/python" -m tests.support.import_contract
    log "pytest"
    exec "$VENV/bin/pytest" "$@"
    ;;
  *)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    [ "$cmd" = help ] || exit 2
    ;;
esac
