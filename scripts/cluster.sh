#!/usr/bin/env bash
# A local cluster on this machine: nginx (TLS, WebSocket, routing by session id)
# in front of several production-mode `veronica serve` instances on PostgreSQL and
# Redis. What it starts and why: docs/DEPLOY.md, "The local cluster".
#
#   scripts/cluster.sh up       start what is not running (twice is harmless)
#   scripts/cluster.sh down     stop everything `up` started (by its pid files)
#   scripts/cluster.sh status   what runs, and where
#   scripts/cluster.sh purge    down, then drop its database, Redis keys and folder
#
# Settings (environment, with defaults):
#   VERONICA_CLUSTER_DIR=var/cluster          state: secrets, TLS, pid files, logs
#   VERONICA_CLUSTER_INSTANCES=2              app instances (2 to 32)
#   VERONICA_CLUSTER_HTTPS_PORT=8443          nginx TLS listener (127.0.0.1)
#   VERONICA_CLUSTER_HTTP_PORT=8080           nginx plain listener: redirects to HTTPS
#   VERONICA_CLUSTER_APP_PORT=18001           instance i listens on APP_PORT + i - 1
#   VERONICA_CLUSTER_DB=veronica_cluster      PostgreSQL database (created if missing)
#   VERONICA_CLUSTER_PG=postgresql://postgres@127.0.0.1:5432   server (libpq URL, no db)
#   VERONICA_CLUSTER_REDIS_URL=redis://127.0.0.1:6379/0
#   VERONICA_CLUSTER_REDIS_PREFIX=veronica-cluster:             key prefix of this cluster
#   VERONICA_CLUSTER_READY_TIMEOUT=240        seconds to wait for the instances
#   VERONICA_CLUSTER_BENCHMARK_SEED=          benchmarks only (benchmarks/cluster_load.py):
#                                             test environment, every session gets the
#                                             script of this challenge seed; also allows
#                                             1 instance (the baseline)
# Any other VERONICA_* setting you export reaches every instance, except the
# development-only ones (ADMIN_KEY, CHALLENGE_SEED, ENVIRONMENT) and those the
# cluster sets itself (listed in start_instance).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VERONICA_CLUSTER_VENV:-$REPO/.venv}
DIR=${VERONICA_CLUSTER_DIR:-$REPO/var/cluster}
INSTANCES=${VERONICA_CLUSTER_INSTANCES:-2}
HTTPS_PORT=${VERONICA_CLUSTER_HTTPS_PORT:-8443}
HTTP_PORT=${VERONICA_CLUSTER_HTTP_PORT:-8080}
APP_PORT=${VERONICA_CLUSTER_APP_PORT:-18001}
DB=${VERONICA_CLUSTER_DB:-veronica_cluster}
PG=${VERONICA_CLUSTER_PG:-postgresql://postgres@127.0.0.1:5432}
REDIS_URL=${VERONICA_CLUSTER_REDIS_URL:-redis://127.0.0.1:6379/0}
REDIS_PREFIX=${VERONICA_CLUSTER_REDIS_PREFIX:-veronica-cluster:}
READY_TIMEOUT=${VERONICA_CLUSTER_READY_TIMEOUT:-240}
BENCHMARK_SEED=${VERONICA_CLUSTER_BENCHMARK_SEED:-}
STOP_TIMEOUT=20

say() { printf 'cluster: %s\n' "$*"; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

# -- checks ------------------------------------------------------------------------------

is_int() { [[ $1 =~ ^[0-9]+$ ]]; }

check_settings() {
    local fewest=2
    if [ -n "$BENCHMARK_SEED" ]; then
        is_int "$BENCHMARK_SEED" || die "VERONICA_CLUSTER_BENCHMARK_SEED must be an integer"
        fewest=1 # the one-instance baseline of a throughput comparison
    fi
    is_int "$INSTANCES" && [ "$INSTANCES" -ge $fewest ] && [ "$INSTANCES" -le 32 ] ||
        die "VERONICA_CLUSTER_INSTANCES must be $fewest to 32 (one instance is \`make run\`)"
    local name port
    for name in HTTPS_PORT HTTP_PORT APP_PORT; do
        port=${!name}
        is_int "$port" && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
            die "VERONICA_CLUSTER_$name must be a port number (got '$port')"
    done
    [ $((APP_PORT + INSTANCES - 1)) -le 65535 ] || die "instance ports run past 65535"
    local last=$((APP_PORT + INSTANCES - 1))
    for port in "$HTTPS_PORT" "$HTTP_PORT"; do
        [ "$port" -lt "$APP_PORT" ] || [ "$port" -gt "$last" ] ||
            die "nginx port $port falls among the instance ports $APP_PORT-$last"
    done
    [ "$HTTPS_PORT" != "$HTTP_PORT" ] || die "the HTTP and HTTPS ports must differ"
    # Both end up in SQL and in a Redis key pattern: a plain alphabet only.
    [[ $DB =~ ^[a-z_][a-z0-9_]{0,62}$ ]] ||
        die "VERONICA_CLUSTER_DB must be a lower-case SQL name (got '$DB')"
    [[ $REDIS_PREFIX =~ ^[A-Za-z0-9_.:-]{1,64}$ ]] ||
        die "VERONICA_CLUSTER_REDIS_PREFIX may hold letters, digits and _ . : - (got '$REDIS_PREFIX')"
    is_int "$READY_TIMEOUT" || die "VERONICA_CLUSTER_READY_TIMEOUT must be seconds"
}

nginx_bin() {
    command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true
}

# -- processes ---------------------------------------------------------------------------

# Alive and not a zombie (an orphan may wait for a reaper that never comes).
alive() {
    local pid=$1 state
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$state" != Z ] && [ "$state" != X ]
}

read_pid() { [ -f "$1" ] && tr -dc '0-9' <"$1" || true; }

# An instance is ours when its environment names its own data folder (a pid file
# may outlive its process, and the pid be reused by something else).
instance_is_ours() {
    local pid=$1 data=$2
    alive "$pid" && tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null |
        grep -qxF "VERONICA_DATA_DIR=$data"
}

nginx_is_ours() {
    local pid=$1
    alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
        grep -qF -- "-c $DIR/nginx/nginx.conf"
}

listening() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# TERM (or the given signal), wait, then KILL: never leaves the process behind.
stop_pid() {
    local pid=$1 what=$2 signal=${3:-TERM} waited=0
    kill "-$signal" "$pid" 2>/dev/null || true
    while alive "$pid" && [ $waited -lt $((STOP_TIMEOUT * 10)) ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if alive "$pid"; then
        say "$what (pid $pid) did not stop in ${STOP_TIMEOUT} s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
    fi
}

# -- secrets, certificate, database -------------------------------------------------------

# Development-only settings never reach the cluster, whatever the caller exported.
DROPPED=(-u VERONICA_ADMIN_KEY -u VERONICA_CHALLENGE_SEED -u VERONICA_ENVIRONMENT)

# The CLI with the cluster's settings (SHARED_ENV, once the template key exists).
# cwd = the cluster folder: no stray .env file is read.
veronica() {
    (cd "$DIR" && exec env "${DROPPED[@]}" "${SHARED_ENV[@]}" "$VENV/bin/veronica" "$@")
}

make_tls() {
    local tls=$DIR/tls
    if [ -f "$tls/server.pem" ] && [ -f "$tls/ca.pem" ] &&
        openssl x509 -checkend 86400 -noout -in "$tls/server.pem" >/dev/null 2>&1; then
        return
    fi
    say "creating a local CA and a server certificate for 127.0.0.1 and localhost in $tls"
    rm -rf "$tls"
    mkdir -p "$tls"
    (
        umask 077
        # The CA may sign names of this machine only (name constraints), and its key
        # is deleted once the server certificate is signed: trusting ca.pem in a
        # browser trusts nothing else. A new `up` after expiry makes a new pair.
        openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 397 -sha256 \
            -subj "/CN=Veronica local cluster CA" \
            -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -addext "nameConstraints=critical,permitted;IP:127.0.0.1/255.255.255.255,permitted;DNS:localhost" \
            2>/dev/null
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$tls/server.key" -out "$tls/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
        printf '%s\n' "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
            "subjectAltName=IP:127.0.0.1,DNS:localhost" "subjectKeyIdentifier=hash" \
            "authorityKeyIdentifier=keyid" >"$tls/server.ext"
        openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
            -set_serial "0x$(openssl rand -hex 16)" -days 396 -sha256 \
            -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
        rm -f "$tls/ca.key" "$tls/server.csr" "$tls/server.ext"
    )
    chmod 0644 "$tls/ca.pem" "$tls/server.pem"
}

psql_admin() { psql "$PG/postgres" -v ON_ERROR_STOP=1 -qtAX "$@"; }

database_exists() {
    [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" = 1 ]
}

# Secrets first, then the database, then the admin key (stored in it): a database
# whose template key is gone is refused rather than reused.
make_secrets_and_database() {
    local secrets=$DIR/secrets setup_log=$DIR/logs/setup.log existed=no key
    install -d -m 0700 "$secrets"
    pg_isready -q -d "$PG/postgres" 2>/dev/null || die "PostgreSQL is not reachable at $PG"
    database_exists && existed=yes
    if [ ! -s "$secrets/template_key" ]; then
        if [ $existed = yes ]; then
            die "database $DB exists but $secrets/template_key does not: its templates were" \
                "encrypted with a key that is gone. Drop it (\`scripts/cluster.sh purge\` with" \
                "the same settings, or \`dropdb $DB\`) or choose another VERONICA_CLUSTER_DB"
        fi
        SHARED_ENV=()
        (umask 077 && veronica keygen >"$secrets/template_key.part")
        mv "$secrets/template_key.part" "$secrets/template_key"
        say "new template key in $secrets/template_key"
    fi
    shared_env
    if [ ! -s "$secrets/signing_key.pem" ]; then
        veronica keygen --signing --out "$secrets/signing_key.pem" >/dev/null
        say "new result-token signing key in $secrets/signing_key.pem"
    fi
    if [ ! -s "$secrets/rsa_signing_key.pem" ]; then
        veronica keygen --rsa --out "$secrets/rsa_signing_key.pem" >/dev/null
        say "new RS256 ID-token signing key in $secrets/rsa_signing_key.pem"
    fi
    if [ $existed = no ]; then
        psql_admin -c "CREATE DATABASE \"$DB\"" >/dev/null
        say "created PostgreSQL database $DB"
    fi
    # Both commands run the migrations: here, once, before the instances start
    # (several instances migrating at once would race).
    if [ $existed = no ] || [ ! -s "$secrets/admin_key" ]; then
        if ! key=$(veronica admin create-key --label "cluster-$(date +%Y%m%d-%H%M%S)" \
            2>"$setup_log"); then
            cat "$setup_log" >&2
            die "veronica admin create-key failed"
        fi
        (umask 077 && printf '%s\n' "$key" >"$secrets/admin_key.part")
        mv "$secrets/admin_key.part" "$secrets/admin_key"
        say "admin key (shown once; kept in $secrets/admin_key, mode 0600): $key"
    elif ! veronica admin list-keys >/dev/null 2>"$setup_log"; then
        cat "$setup_log" >&2
        die "the database $DB is not usable"
    fi
    chmod 0600 "$secrets"/*
}

# -- instances ---------------------------------------------------------------------------

database_url() { echo "postgresql+psycopg://${PG#*://}/$DB"; }

# The settings every instance shares (and the CLI calls of the set-up).
SHARED_ENV=()
SERVE_FLAGS=()
# VERONICA_MAX_ACTIVE_SESSIONS is left to its default, 4 per core of this machine:
# admission is counted in Redis for the whole cluster, and all instances share
# these cores (docs/DEPLOY.md, "Sizing").
shared_env() {
    local environment=(VERONICA_ENVIRONMENT=production)
    SERVE_FLAGS=()
    if [ -n "$BENCHMARK_SEED" ]; then
        # A fixed script lets a recorded video sign in; never for real users
        # (`serve` runs a test environment only with --dev).
        environment=(VERONICA_ENVIRONMENT=test "VERONICA_CHALLENGE_SEED=$BENCHMARK_SEED")
        SERVE_FLAGS=(--dev)
    fi
    SHARED_ENV=(
        "${environment[@]}"
        "VERONICA_DATABASE_URL=$(database_url)"
        "VERONICA_TEMPLATE_KEY=$(cat "$DIR/secrets/template_key")"
        "VERONICA_SIGNING_KEY_PATH=$DIR/secrets/signing_key.pem"
        "VERONICA_RSA_SIGNING_KEY_PATH=$DIR/secrets/rsa_signing_key.pem"
        "VERONICA_MODELS_DIR=${VERONICA_MODELS_DIR:-$REPO/var/models}"
        "VERONICA_PUBLIC_URL=https://127.0.0.1:$HTTPS_PORT"
        "VERONICA_ALLOWED_ORIGINS=${VERONICA_ALLOWED_ORIGINS:-[\"https://localhost:$HTTPS_PORT\"]}"
        "VERONICA_REDIS_URL=$REDIS_URL"
        "VERONICA_REDIS_PREFIX=$REDIS_PREFIX"
    )
}

instance_port() { echo $((APP_PORT + $1 - 1)); }

start_instance() {
    local i=$1 port data pidfile pid log
    port=$(instance_port "$i")
    data=$DIR/instance-$i
    pidfile=$DIR/run/instance-$i.pid
    log=$DIR/logs/instance-$i.log
    pid=$(read_pid "$pidfile")
    if instance_is_ours "$pid" "$data"; then
        say "instance $i already runs (pid $pid, port $port)"
        return
    fi
    if listening "$port"; then
        die "port $port (instance $i) is taken by another program"
    fi
    mkdir -p "$data"
    printf '\n== %s: starting instance %s on 127.0.0.1:%s\n' "$(date -Is)" "$i" "$port" >>"$log"
    # Besides SHARED_ENV, whatever the caller exported: each instance's own data
    # folder and id; plain HTTP on loopback (nginx terminates TLS); no metrics port
    # (they would all want it). Proxy headers from nginx (127.0.0.1) only.
    (
        cd "$data"
        exec env "${DROPPED[@]}" -u VERONICA_METRICS_PORT -u VERONICA_TLS_CERT_FILE \
            -u VERONICA_TLS_KEY_FILE -u VERONICA_HOST -u VERONICA_PORT "${SHARED_ENV[@]}" \
            "VERONICA_DATA_DIR=$data" "VERONICA_INSTANCE_ID=veronica-$i" \
            "$VENV/bin/veronica" serve "${SERVE_FLAGS[@]}" --host 127.0.0.1 --port "$port" \
            --proxy-headers --forwarded-allow-ips 127.0.0.1
    ) >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    say "instance $i starting (pid $!, 127.0.0.1:$port, log $log)"
}

wait_ready() {
    local i port pid deadline=$((SECONDS + READY_TIMEOUT)) pending
    while :; do
        pending=0
        for ((i = 1; i <= INSTANCES; i++)); do
            port=$(instance_port "$i")
            pid=$(read_pid "$DIR/run/instance-$i.pid")
            if ! alive "$pid"; then
                tail -n 30 "$DIR/logs/instance-$i.log" >&2 || true
                die "instance $i exited while starting (log: $DIR/logs/instance-$i.log)"
            fi
            curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$port/readyz" 2>/dev/null ||
                pending=$((pending + 1))
        done
        [ $pending -eq 0 ] && return
        [ $SECONDS -lt $deadline ] || die "$pending instance(s) not ready after $READY_TIMEOUT s" \
            "(logs in $DIR/logs; \`scripts/cluster.sh down\` stops them)"
        sleep 0.5
    done
}

# -- nginx -------------------------------------------------------------------------------

write_nginx_conf() {
    local conf=$DIR/nginx/nginx.conf i port servers="" names="" user_line=""
    mkdir -p "$DIR/nginx/temp"
    for ((i = 1; i <= INSTANCES; i++)); do
        port=$(instance_port "$i")
        servers+="        server 127.0.0.1:$port max_fails=1 fail_timeout=10s;"$'\n'
        names+="        \"~(^|, )127\\.0\\.0\\.1:$port\$\" veronica-$i;"$'\n'
    done
    # As root the workers run as nobody; the master reads the key and opens the logs.
    if [ "$(id -u)" -eq 0 ]; then
        user_line="user nobody nogroup;"
    fi
    cat >"$conf.part" <<EOF
# Written by scripts/cluster.sh up; edit deploy/nginx/*.conf or the script instead.
$user_line
worker_processes 1;
worker_shutdown_timeout 5s;
pid $DIR/run/nginx.pid;
error_log $DIR/logs/nginx-error.log warn;

events {
    worker_connections 1024;
}

http {
    server_tokens off;
    log_format veronica '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent '
                        '\$request_time upstream=\$upstream_addr id=\$request_id';
    access_log $DIR/logs/nginx-access.log veronica;
    client_body_temp_path $DIR/nginx/temp/client_body;
    proxy_temp_path $DIR/nginx/temp/proxy;
    fastcgi_temp_path $DIR/nginx/temp/fastcgi;
    uwsgi_temp_path $DIR/nginx/temp/uwsgi;
    scgi_temp_path $DIR/nginx/temp/scgi;

    include $REPO/deploy/nginx/veronica-maps.conf;

    upstream veronica {
        hash \$veronica_session_key consistent;
$servers        keepalive 16;
    }

    # Which instance answered (the last one tried): the X-Veronica-Upstream header,
    # so a client (and the tests) can tell the instances apart.
    map \$upstream_addr \$veronica_upstream {
        default "";
$names    }

    server {
        listen 127.0.0.1:$HTTP_PORT;
        return 301 https://127.0.0.1:$HTTPS_PORT\$request_uri;
    }

    server {
        listen 127.0.0.1:$HTTPS_PORT ssl;
        ssl_certificate $DIR/tls/server.pem;
        ssl_certificate_key $DIR/tls/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:veronica_tls:1m;
        add_header X-Veronica-Upstream \$veronica_upstream always;
        include $REPO/deploy/nginx/veronica-proxy.conf;
    }
}
EOF
    mv "$conf.part" "$conf"
}

nginx_cmd() { "$NGINX" -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" -e "$DIR/logs/nginx-error.log" "$@"; }

start_nginx() {
    write_nginx_conf
    nginx_cmd -t -q || die "nginx refused $DIR/nginx/nginx.conf"
    local pid
    pid=$(read_pid "$DIR/run/nginx.pid")
    if nginx_is_ours "$pid"; then
        nginx_cmd -s reload
        say "nginx already runs (pid $pid); configuration reloaded"
        return
    fi
    local port
    for port in "$HTTPS_PORT" "$HTTP_PORT"; do
        if listening "$port"; then
            die "port $port (nginx) is taken by another program"
        fi
    done
    nginx_cmd
    local waited=0
    until curl -fsS -o /dev/null --max-time 5 --cacert "$DIR/tls/ca.pem" \
        "https://127.0.0.1:$HTTPS_PORT/readyz" 2>/dev/null; do
        [ $waited -lt 50 ] || die "nginx does not answer on https://127.0.0.1:$HTTPS_PORT" \
            "(log: $DIR/logs/nginx-error.log)"
        sleep 0.2
        waited=$((waited + 1))
    done
    say "nginx started (pid $(read_pid "$DIR/run/nginx.pid"))"
}

# -- commands ----------------------------------------------------------------------------

record_settings() {
    cat >"$DIR/cluster.env" <<EOF
# The settings of the last \`scripts/cluster.sh up\` (read by status and purge).
VERONICA_CLUSTER_INSTANCES=$INSTANCES
VERONICA_CLUSTER_HTTPS_PORT=$HTTPS_PORT
VERONICA_CLUSTER_HTTP_PORT=$HTTP_PORT
VERONICA_CLUSTER_APP_PORT=$APP_PORT
VERONICA_CLUSTER_DB=$DB
VERONICA_CLUSTER_PG=$PG
VERONICA_CLUSTER_REDIS_URL=$REDIS_URL
VERONICA_CLUSTER_REDIS_PREFIX=$REDIS_PREFIX
EOF
}

load_recorded() {
    [ -f "$DIR/cluster.env" ] || return 0
    local line
    while IFS= read -r line; do
        [[ $line =~ ^VERONICA_CLUSTER_([A-Z_]+)=(.*)$ ]] || continue
        case ${BASH_REMATCH[1]} in
            INSTANCES) INSTANCES=${BASH_REMATCH[2]} ;;
            HTTPS_PORT) HTTPS_PORT=${BASH_REMATCH[2]} ;;
            HTTP_PORT) HTTP_PORT=${BASH_REMATCH[2]} ;;
            APP_PORT) APP_PORT=${BASH_REMATCH[2]} ;;
            DB) DB=${BASH_REMATCH[2]} ;;
            PG) PG=${BASH_REMATCH[2]} ;;
            REDIS_URL) REDIS_URL=${BASH_REMATCH[2]} ;;
            REDIS_PREFIX) REDIS_PREFIX=${BASH_REMATCH[2]} ;;
        esac
    done <"$DIR/cluster.env"
}

cmd_up() {
    check_settings
    [ -x "$VENV/bin/veronica" ] || die "$VENV/bin/veronica not found: run \`make cluster\`" \
        "(it installs the virtualenv and the models first)"
    bash "$REPO/scripts/system-deps.sh" nginx
    NGINX=$(nginx_bin)
    [ -n "$NGINX" ] || die "nginx is not installed (apt-get install nginx)"
    command -v openssl >/dev/null || die "openssl is not installed"
    command -v psql >/dev/null || die "psql is not installed (apt-get install postgresql-client)"
    command -v curl >/dev/null || die "curl is not installed"
    redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG ||
        die "Redis is not reachable at $REDIS_URL"
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    mkdir -p "$DIR/run" "$DIR/logs"
    record_settings
    make_tls
    make_secrets_and_database
    local i
    for ((i = 1; i <= INSTANCES; i++)); do
        start_instance "$i"
    done
    wait_ready
    start_nginx
    cmd_status
}

cmd_down() {
    [ -d "$DIR" ] || { say "nothing to stop ($DIR does not exist)"; return; }
    DIR=$(cd "$DIR" && pwd)
    local pid pidfile workers worker i
    pid=$(read_pid "$DIR/run/nginx.pid")
    if nginx_is_ours "$pid"; then
        workers=$(pgrep -P "$pid" || true)
        stop_pid "$pid" nginx QUIT  # graceful: open WebSockets get worker_shutdown_timeout
        for worker in $workers; do
            alive "$worker" && stop_pid "$worker" "nginx worker"
        done
        say "nginx stopped (pid $pid)"
    fi
    rm -f "$DIR/run/nginx.pid"
    for pidfile in "$DIR"/run/instance-*.pid; do
        [ -e "$pidfile" ] || continue
        i=${pidfile##*/instance-}
        i=${i%.pid}
        pid=$(read_pid "$pidfile")
        if instance_is_ours "$pid" "$DIR/instance-$i"; then
            stop_pid "$pid" "instance $i"
            say "instance $i stopped (pid $pid)"
        fi
        rm -f "$pidfile"
    done
}

cmd_status() {
    [ -d "$DIR" ] || { say "not set up ($DIR does not exist)"; return 3; }
    DIR=$(cd "$DIR" && pwd)
    load_recorded
    local i pid running=0 expected=$((INSTANCES + 1))
    pid=$(read_pid "$DIR/run/nginx.pid")
    if nginx_is_ours "$pid"; then
        say "nginx: running (pid $pid) https://127.0.0.1:$HTTPS_PORT/ (http://127.0.0.1:$HTTP_PORT/ redirects)"
        running=$((running + 1))
    else
        say "nginx: stopped"
    fi
    for ((i = 1; i <= INSTANCES; i++)); do
        pid=$(read_pid "$DIR/run/instance-$i.pid")
        if instance_is_ours "$pid" "$DIR/instance-$i"; then
            say "instance $i: running (pid $pid) http://127.0.0.1:$(instance_port "$i")/"
            running=$((running + 1))
        else
            say "instance $i: stopped"
        fi
    done
    say "database $DB on ${PG#*://}, Redis $REDIS_URL prefix '$REDIS_PREFIX'"
    say "CA certificate: $DIR/tls/ca.pem; admin key: $DIR/secrets/admin_key; logs: $DIR/logs"
    [ $running -eq $expected ] && return 0
    [ $running -eq 0 ] && return 3
    return 1
}

cmd_purge() {
    cmd_down
    [ -d "$DIR" ] || return 0
    DIR=$(cd "$DIR" && pwd)
    # Only what an `up` recorded here is dropped, never a default's database.
    if [ ! -f "$DIR/cluster.env" ]; then
        rm -rf "$DIR"
        say "removed $DIR (no recorded database or Redis prefix)"
        return
    fi
    load_recorded
    check_settings
    if psql_admin -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1; then
        say "dropped database $DB"
    else
        say "could not drop database $DB (PostgreSQL at $PG unreachable?)"
    fi
    local keys
    keys=$(redis-cli -u "$REDIS_URL" --scan --pattern "$REDIS_PREFIX*" 2>/dev/null | wc -l) || keys=0
    if [ "$keys" -gt 0 ]; then
        redis-cli -u "$REDIS_URL" --scan --pattern "$REDIS_PREFIX*" |
            xargs -r -n 100 redis-cli -u "$REDIS_URL" del >/dev/null
    fi
    say "deleted $keys Redis key(s) under '$REDIS_PREFIX'"
    rm -rf "$DIR"
    say "removed $DIR"
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    purge) cmd_purge ;;
    *)
        echo "usage: scripts/cluster.sh up|down|status|purge" >&2
        exit 2
        ;;
esac
