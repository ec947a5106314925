#!/bin/sh
# Mosquitto in deploy/compose.yaml, as PID 1 of its container (busybox sh, runs as root):
# waits for the password and ACL files that the collector writes into the shared volume, copies
# them where the production config reads them (owned by mosquitto, mode 0600), starts Mosquitto,
# and reloads it (SIGHUP) whenever the collector rewrites them (`device add`, `device revoke`).
# Paths can be changed for tests: FACETROVE_FILES, MOSQUITTO_AUTH, MOSQUITTO_CONF, MOSQUITTO_DATA.
set -eu
src=${FACETROVE_FILES:-/facetrove-files}
dst=${MOSQUITTO_AUTH:-/etc/mosquitto/facetrove}
conf=${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}
data=${MOSQUITTO_DATA:-/var/lib/mosquitto}
owner=${MOSQUITTO_USER:-mosquitto}
files="devices.passwd devices.acl collector.passwd collector.acl"

ready() {
    for f in $files; do [ -f "$src/$f" ] || return 1; done
}
stamp() {
    for f in $files; do cat "$src/$f"; done | md5sum
}
sync_files() {
    mkdir -p "$dst"
    for f in $files; do
        cp "$src/$f" "$dst/.$f.new"
        chown "$owner" "$dst/.$f.new"
        chmod 600 "$dst/.$f.new"
        mv "$dst/.$f.new" "$dst/$f"
    done
}

until ready; do
    echo "facetrove: waiting for the collector's Mosquitto files in $src"
    sleep 2
done
sync_files
last=$(stamp)
mkdir -p "$data"
chown "$owner" "$data"
mosquitto -c "$conf" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
while kill -0 "$pid" 2>/dev/null; do
    sleep 2 &
    wait $! || true
    now=$(stamp)
    if [ "$now" != "$last" ]; then
        sync_files
        kill -HUP "$pid"
        last=$now
        echo "facetrove: device logins changed, Mosquitto reloaded"
    fi
done
wait "$pid"
