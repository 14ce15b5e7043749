# Sourced by the project's scripts: installs and starts the local emulators.
# Everything lives under $MADPLAN_CACHE (default ~/.cache/madplan) so that
# repeated runs reuse it.

MADPLAN_CACHE="${MADPLAN_CACHE:-$HOME/.cache/madplan}"
MOTO_VERSION="5.2.5"
MOTO_VENV="$MADPLAN_CACHE/moto-$MOTO_VERSION"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Installs moto in server mode into its own virtualenv (about a minute, once).
ensure_moto() {
  if [ ! -x "$MOTO_VENV/bin/moto_server" ]; then
    echo "installing moto[server]==$MOTO_VERSION into $MOTO_VENV" >&2
    python3 -m venv "$MOTO_VENV"
    "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
}

# Starts moto on a free loopback port; sets MOTO_URL and MOTO_PID, and the
# standard AWS variables so that every SDK client reaches it.
start_moto() {
  ensure_moto
  local port
  port=$(free_port)
  # moto issues a requested ACM certificate after this many seconds
  # (default 60): the web tier's HTTPS listener waits for it. AWS managed
  # IAM policies (CloudWatchAgentServerPolicy, ...) exist in moto only when
  # asked for.
  MOTO_ACM_VALIDATION_WAIT="${MOTO_ACM_VALIDATION_WAIT:-5}" \
  MOTO_IAM_LOAD_MANAGED_POLICIES="${MOTO_IAM_LOAD_MANAGED_POLICIES:-true}" \
    "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$MADPLAN_CACHE/moto.log" 2>&1 &
  MOTO_PID=$!
  MOTO_URL="http://127.0.0.1:$port"
  local i
  for i in $(seq 1 100); do
    if curl -sf -o /dev/null "$MOTO_URL/moto-api/"; then
      break
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto exited; its log:" >&2
      cat "$MADPLAN_CACHE/moto.log" >&2
      return 1
    fi
    sleep 0.1
  done
  curl -sf -o /dev/null "$MOTO_URL/moto-api/" || { echo "moto did not answer on $MOTO_URL" >&2; return 1; }
  export MOTO_URL
  export MADPLAN_TEST_MOTO_URL="$MOTO_URL"
  export AWS_ENDPOINT_URL="$MOTO_URL"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_ACCESS_KEY_ID=testing
  export AWS_SECRET_ACCESS_KEY=testing
  export AWS_EC2_METADATA_DISABLED=true
  echo "moto is serving on $MOTO_URL (pid $MOTO_PID)" >&2
}

stop_emulators() {
  if [ -n "${MOTO_PID:-}" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=
  fi
}
