# Shared helpers of ops/run and ops/test: install and start local services.
# Source it; do not run it.

# Installs Debian packages when the named command is missing.
ensure_package() { # command package...
  local cmd=$1; shift
  if command -v "$cmd" >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/"$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ]; then return 0; fi
  echo "ops: installing $* (missing $cmd)" >&2
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] || { echo "ops: PostgreSQL binaries not found" >&2; return 1; }
  echo "$dir"
}

# Runs a command as the postgres user when we are root (PostgreSQL refuses root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Prints a TCP port on 127.0.0.1 that nothing listens on, below Linux's
# ephemeral range (32768-60999) so no client socket can be holding it.
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$(( (RANDOM << 15 | RANDOM) % 20000 + 12000 ))
    if ! (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "ops: no free port found" >&2; return 1
}

# Creates (if needed) and starts a PostgreSQL cluster in DIR on PORT.
# Extra arguments are server settings such as "-c fsync=off".
start_postgres() { # dir port [settings...]
  local dir=$1 port=$2; shift 2
  ensure_package initdb postgresql
  local bin; bin=$(pg_bin)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir" && chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 $*" start >/dev/null
}

stop_postgres() { # dir
  local bin; bin=$(pg_bin) || return 0
  [ -f "$1/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true
}

# Starts a NATS server (JetStream on, storage in DIR) on PORT; prints its pid.
start_nats() { # dir port
  ensure_package nats-server nats-server
  mkdir -p "$1"
  "$(command -v nats-server || echo /usr/sbin/nats-server)" -a 127.0.0.1 -p "$2" -js -sd "$1" >"$1/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    (echo >"/dev/tcp/127.0.0.1/$2") 2>/dev/null && { echo "$pid"; return 0; }
    sleep 0.1
  done
  echo "ops: nats-server did not start (see $1/server.log)" >&2; return 1
}

# --- Benchmarks -------------------------------------------------------------
# bench_setup builds the release binary and starts a durable PostgreSQL (with
# the given settings) in a temporary directory, with a database `sunday`; it
# sets $sunday, $tmp, $pg_port and DATABASE_URL, and stops everything it and
# bench_server started when the script exits.
bench_setup() { # [postgres settings...]
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/sunday-target}
  export SUNDAY_JWT_SECRET=bench-secret
  cargo build --release --bin sunday >&2
  sunday="$CARGO_TARGET_DIR/release/sunday"
  tmp=$(mktemp -d /tmp/sunday-bench.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chmod 755 "$tmp"
  bench_pids=""
  trap bench_cleanup EXIT
  pg_port=$(free_port)
  start_postgres "$tmp/pg" "$pg_port" "$@"
  "$(pg_bin)/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres sunday
  export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/sunday"
}

bench_cleanup() {
  for pid in $bench_pids; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  stop_postgres "$tmp/pg"
  rm -rf "$tmp"
}

# Starts `sunday ROLE` (logging warnings only) on a free port, sets $port and
# $server, and waits until it listens. Extra VAR=value arguments go to its
# environment.
bench_server() { # role [VAR=value...]
  local role=$1; shift
  port=$(free_port)
  # Load generators drive few users hard: no per-user limits unless asked.
  env SUNDAY_LISTEN="127.0.0.1:$port" SUNDAY_LOG=warn SUNDAY_RATE_COMMANDS=0 SUNDAY_RATE_READS=0 \
    SUNDAY_RATE_WS_FRAMES=0 SUNDAY_WS_MAX_SOCKETS_PER_USER=0 "$@" "$sunday" "$role" &
  server=$!
  bench_pids="$bench_pids $server"
  for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
}

# Starts nats-server in the benchmark's directory and exports SUNDAY_NATS_URL.
bench_nats() {
  local nats_port; nats_port=$(free_port)
  local pid; pid=$(start_nats "$tmp/nats" "$nats_port")
  bench_pids="$bench_pids $pid"
  export SUNDAY_NATS_URL="nats://127.0.0.1:$nats_port"
}
