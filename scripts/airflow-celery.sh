#!/usr/bin/env bash
# A real Airflow 3 CeleryExecutor cluster on this machine, loopback only (issue 13):
#   Redis (broker) and PostgreSQL (metadata database) from Debian, then the Airflow scheduler, DAG
#   processor and API server, and two Celery workers with distinct names on distinct queues
#   (training queue, release queue). Idempotent: what already runs is left running.
#
#   scripts/airflow-celery.sh start [HOME]   start everything; prints the env file to source
#   scripts/airflow-celery.sh stop  [HOME]   stop the Airflow processes and Redis (PostgreSQL stays)
#   scripts/airflow-celery.sh env   [HOME]   print the environment the components share
#   scripts/airflow-celery.sh destroy [HOME] stop, then drop the metadata database and HOME
#   scripts/airflow-celery.sh cli HOME ARGS...  run `airflow ARGS...` against this cluster
#
# HOME (default var/airflow-celery) holds airflow.cfg-less state: logs, pid files, the env file.
# KWREC_TRAIN_WORKERS (default 1) training workers are started (train@host, train2@host, ...).
# KWREC_AIRFLOW_DB (default airflow) names the database, KWREC_REDIS_PORT and KWREC_AIRFLOW_API_PORT
# the ports: a test cluster beside an operator's own needs all three of its own.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ACTION=${1:-start}
AF_HOME=$(realpath -m "${2:-$KWREC_VAR/airflow-celery}")
VENV=${KWREC_AIRFLOW_VENV:-$KWREC_ROOT/.venv-airflow}
REDIS_PORT=${KWREC_REDIS_PORT:-6390}
PG_PORT=5432
PG_DB=${KWREC_AIRFLOW_DB:-airflow}
[[ $PG_DB =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "KWREC_AIRFLOW_DB=$PG_DB: use lower-case letters, digits and _"
API_PORT=${KWREC_AIRFLOW_API_PORT:-8093}
TRAIN_QUEUE=${KWREC_RUN__AIRFLOW__TRAIN_QUEUE:-keyword_train}
RELEASE_QUEUE=${KWREC_RUN__AIRFLOW__QUEUE:-keyword_release}
TRAIN_WORKERS=${KWREC_TRAIN_WORKERS:-1}
[[ $TRAIN_WORKERS =~ ^[1-9][0-9]?$ ]] || die "KWREC_TRAIN_WORKERS=$TRAIN_WORKERS: use a number from 1 to 99"

write_env() {
    mkdir -p "$AF_HOME"/{logs,run,dags}
    local secret_file=$AF_HOME/run/secret
    [[ -s $secret_file ]] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret_file"
    chmod 600 "$secret_file"
    cat >"$AF_HOME/env" <<EOF
export AIRFLOW_HOME=$AF_HOME
export AIRFLOW__CORE__DAGS_FOLDER=$KWREC_ROOT/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg2://airflow:airflow@127.0.0.1:$PG_PORT/$PG_DB
export AIRFLOW__CELERY__BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0
export AIRFLOW__CELERY__RESULT_BACKEND=db+postgresql+psycopg2://airflow:airflow@127.0.0.1:$PG_PORT/$PG_DB
export AIRFLOW__CELERY__DEFAULT_QUEUE=$RELEASE_QUEUE
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$API_PORT/execution/
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$API_PORT
export AIRFLOW__API_AUTH__JWT_SECRET=\$(cat $secret_file)
export AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL=5
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
export AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT=21600
# One mapped training task per changed customer: Airflow's default cap (1,024) is below a big fleet.
export AIRFLOW__CORE__MAX_MAP_LENGTH=100000
export KWREC_RUN__AIRFLOW__TRAIN_QUEUE=$TRAIN_QUEUE
export KWREC_RUN__AIRFLOW__QUEUE=$RELEASE_QUEUE
EOF
    echo "$AF_HOME/env"
}

start_redis() {
    apt_install redis-server
    if redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
        log "redis: running on 127.0.0.1:$REDIS_PORT"
        return 0
    fi
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --pidfile "$AF_HOME/run/redis.pid" --logfile "$AF_HOME/logs/redis.log"
    wait_for 10 redis redis-cli -p "$REDIS_PORT" ping || die "redis did not start (see $AF_HOME/logs/redis.log)"
    log "redis: started on 127.0.0.1:$REDIS_PORT"
}

start_postgres() {
    apt_install postgresql
    local ver
    ver=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
    [[ -n $ver ]] || die "no PostgreSQL cluster (pg_lsclusters is empty)"
    pg_lsclusters -h | awk 'NR==1 {print $4}' | grep -q online || pg_ctlcluster "$ver" main start
    wait_for 20 postgresql runuser -u postgres -- psql -qtAc 'select 1' || die "PostgreSQL did not start"
    if [[ $(runuser -u postgres -- psql -qtAc "select 1 from pg_roles where rolname='airflow'") != 1 ]]; then
        runuser -u postgres -- psql -qc "create role airflow login password 'airflow'"
    fi
    if [[ $(runuser -u postgres -- psql -qtAc "select 1 from pg_database where datname='$PG_DB'") != 1 ]]; then
        runuser -u postgres -- psql -qc "create database $PG_DB owner airflow"
    fi
    log "postgresql $ver: database $PG_DB on 127.0.0.1:$PG_PORT"
}

airflow_bg() { # NAME ARGS...: an Airflow component, unless its pid file names a live process
    local name=$1
    shift
    local pidf=$AF_HOME/run/$name.pid
    if [[ -s $pidf ]] && pid_alive "$(cat "$pidf")"; then
        log "$name: running (pid $(cat "$pidf"))"
        return 0
    fi
    # shellcheck disable=SC1091
    (source "$AF_HOME/env" && start_background "$AF_HOME/logs/$name.log" "$pidf" "$VENV/bin/airflow" "$@")
    log "$name: started (pid $(cat "$pidf"), log $AF_HOME/logs/$name.log)"
}

start() {
    [[ -x $VENV/bin/airflow ]] || die "no Airflow in $VENV: run make .venv-airflow/.installed first"
    "$VENV/bin/python" -c 'import airflow.providers.celery, psycopg2, asyncpg' 2>/dev/null ||
        "$VENV/bin/python" -m pip install -q 'apache-airflow-providers-celery' 'celery[redis]>=5.5,<5.6' 'psycopg2-binary' 'asyncpg'
    write_env >/dev/null
    start_redis
    start_postgres
    # shellcheck disable=SC1091
    (source "$AF_HOME/env" && "$VENV/bin/airflow" db migrate >"$AF_HOME/logs/migrate.log" 2>&1) ||
        die "airflow db migrate failed (see $AF_HOME/logs/migrate.log)"
    airflow_bg api-server api-server --host 127.0.0.1 --port "$API_PORT"
    airflow_bg scheduler scheduler
    airflow_bg dag-processor dag-processor
    local i name
    for ((i = 1; i <= TRAIN_WORKERS; i++)); do
        name=worker-train$( ((i == 1)) || echo "-$i")
        airflow_bg "$name" celery worker --queues "$TRAIN_QUEUE" --celery-hostname "train$( ((i == 1)) || echo "$i")@%h" \
            --concurrency 1 --pid "$AF_HOME/run/$name.celery.pid"
    done
    airflow_bg worker-release celery worker --queues "$RELEASE_QUEUE" --celery-hostname "release@%h" \
        --concurrency 1 --pid "$AF_HOME/run/worker-release.celery.pid"
    wait_for 90 "the API server" curl -fsS "http://127.0.0.1:$API_PORT/api/v2/monitor/health" ||
        die "the API server did not answer (see $AF_HOME/logs/api-server.log)"
    log "cluster up: API http://127.0.0.1:$API_PORT, env $AF_HOME/env"
}

stop() {
    local name pidf
    for pidf in "$AF_HOME"/run/worker-train*.pid "$AF_HOME"/run/{worker-release,dag-processor,scheduler,api-server}.pid; do
        [[ $pidf == *.celery.pid ]] && continue
        name=$(basename "$pidf" .pid)
        if [[ -s $pidf ]] && pid_alive "$(cat "$pidf")"; then
            local pid
            pid=$(cat "$pidf")
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            # A worker finishes its task first (warm shutdown); one that takes longer is killed, and
            # Airflow retries that task elsewhere.
            wait_for 30 "$name to stop" bash -c "! kill -0 -- -$pid 2>/dev/null" ||
                kill -KILL -- "-$pid" 2>/dev/null || true
            log "$name: stopped"
        fi
        rm -f "$pidf"
    done
    if redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
        redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
        log "redis: stopped"
    fi
}

destroy() {
    stop
    if runuser -u postgres -- psql -qtAc 'select 1' >/dev/null 2>&1; then
        runuser -u postgres -- psql -qc "drop database if exists $PG_DB with (force)"
        log "postgresql: database $PG_DB dropped"
    fi
    rm -rf "$AF_HOME"
}

case $ACTION in
start) start ;;
stop) stop ;;
env) write_env ;;
destroy) destroy ;;
cli)
    shift 2
    # shellcheck disable=SC1091
    source "$AF_HOME/env"
    exec "$VENV/bin/airflow" "$@"
    ;;
*) die "usage: $0 start|stop|env|destroy [HOME] | cli HOME ARGS..." ;;
esac
