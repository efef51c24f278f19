#!/usr/bin/env bash
# Make sure Redis and Postgres answer on PRISM_REDIS_URL / PRISM_DATABASE_URL.
# When nothing answers: install Debian's packages if missing, start them, and wait.
set -euo pipefail

redis_url=${PRISM_REDIS_URL:-redis://127.0.0.1:6379/0}
database_url=${PRISM_DATABASE_URL:-postgresql://postgres:postgres@127.0.0.1:5432/prism}

host_port() {  # URL default-port -> "host port"
  python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or sys.argv[2])' "$1" "$2"
}

answers() {  # host port
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

wait_for() {  # name host port
  for _ in $(seq 1 60); do
    answers "$2" "$3" && { echo "services: $1 answers on $2:$3"; return 0; }
    sleep 0.5
  done
  echo "services: $1 did not come up on $2:$3" >&2
  return 1
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

start_redis() {  # host port [extra redis-server args...]
  command -v redis-server >/dev/null || apt_install redis-server
  local host=$1 port=$2; shift 2
  mkdir -p "/var/lib/redis/$port" /var/log/redis
  redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no \
    --dir "/var/lib/redis/$port" --logfile "/var/log/redis/prism-$port.log" "$@"
  wait_for Redis "$host" "$port"
}

case "$redis_url" in
  redis+cluster://* | rediss+cluster://*)
    # A Redis Cluster: its seed nodes from the URL; missing ones are started on this machine and, when
    # they hold no cluster yet, made one (three masters or more).
    nodes=$(python3 -c 'import sys, urllib.parse as u; print(" ".join(a.strip() for a in u.urlsplit(sys.argv[1]).netloc.rpartition("@")[2].split(",")))' "$redis_url")
    for node in $nodes; do
      if answers "${node%:*}" "${node##*:}"; then
        echo "services: Redis answers on $node"
      else
        start_redis "${node%:*}" "${node##*:}" --cluster-enabled yes --cluster-config-file nodes.conf
      fi
    done
    first=${nodes%% *}
    if ! redis-cli -h "${first%:*}" -p "${first##*:}" cluster info | grep -q cluster_state:ok; then
      redis-cli --cluster create $nodes --cluster-yes >/dev/null
      for _ in $(seq 1 60); do
        redis-cli -h "${first%:*}" -p "${first##*:}" cluster info | grep -q cluster_state:ok && break
        sleep 0.5
      done
    fi
    echo "services: Redis Cluster ok on $nodes"
    ;;
  *)
    read -r redis_host redis_port < <(host_port "$redis_url" 6379)
    if answers "$redis_host" "$redis_port"; then
      echo "services: Redis answers on $redis_host:$redis_port"
    else
      start_redis "$redis_host" "$redis_port"
    fi
    ;;
esac

read -r pg_host pg_port < <(host_port "$database_url" 5432)
if answers "$pg_host" "$pg_port"; then
  echo "services: Postgres answers on $pg_host:$pg_port"
else
  fresh_install=0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
    fresh_install=1
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for Postgres "$pg_host" "$pg_port"
  if [ "$fresh_install" = 1 ]; then
    # Debian's default TCP auth wants a password: give the postgres role the one in the default URL.
    password=$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).password or "postgres")' "$database_url")
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD '$password'\""
  fi
fi
