#!/bin/sh
# Starts Redis as the primary, or as a replica of the master the Sentinels name. A pod that
# was the primary and comes back after a failover starts as a replica of the new one.
set -eu
self="$(hostname).taskmill-redis"
master=""
for s in 0 1 2; do
  master=$(redis-cli -h "taskmill-sentinel-$s.taskmill-sentinel" -p 26379 --raw \
    sentinel get-master-addr-by-name taskmill 2>/dev/null | head -n 1) || master=""
  [ -n "$master" ] && break
done
if [ -z "$master" ]; then
  # No Sentinel answers (first start of the whole set): pod 0 starts as the primary.
  case "$(hostname)" in
    *-0) master="$self" ;;
    *) master="taskmill-redis-0.taskmill-redis" ;;
  esac
fi
set -- /etc/taskmill/redis/redis.conf --port 6379 --protected-mode no --dir /data \
  --appendonly yes --appendfsync everysec --save "" --replica-announce-ip "$self"
if [ "$master" != "$self" ] && [ "$master" != "${POD_IP:-}" ]; then
  set -- "$@" --replicaof "$master" 6379
fi
exec redis-server "$@"
