#!/bin/sh
# Writes this Sentinel's config (Sentinel rewrites it, so it lives in an emptyDir) and
# starts it. It monitors the master the other Sentinels name, else taskmill-redis-0.
set -eu
self="$(hostname).taskmill-sentinel"
master=""
for s in 0 1 2; do
  [ "taskmill-sentinel-$s.taskmill-sentinel" = "$self" ] && continue
  master=$(redis-cli -h "taskmill-sentinel-$s.taskmill-sentinel" -p 26379 --raw \
    sentinel get-master-addr-by-name taskmill 2>/dev/null | head -n 1) || master=""
  [ -n "$master" ] && break
done
[ -n "$master" ] || master="taskmill-redis-0.taskmill-redis"
password=$(cat /etc/taskmill/redis/password)
conf=/data/sentinel.conf
umask 077
cat >"$conf" <<CONF
port 26379
dir /data
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel monitor taskmill $master 6379 2
sentinel auth-pass taskmill $password
sentinel down-after-milliseconds taskmill 5000
sentinel failover-timeout taskmill 15000
sentinel parallel-syncs taskmill 1
CONF
exec redis-server "$conf" --sentinel
