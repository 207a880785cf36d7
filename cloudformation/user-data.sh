#!/bin/bash
# Installs dynamic-dynamodb as a systemd service on Amazon Linux 2023: the user data of
# cloudformation/dynamic-dynamodb.yaml, which embeds this file verbatim (tests/deploy checks
# that the copy, and the unit below, match their sources).
#
# Parameters, from the environment:
#   DDB_CONFIG_URL      s3://bucket/path/dynamic-dynamodb.conf
#   DDB_S3_REGION       region of that bucket (and of an s3:// DDB_PACKAGE)
#   DDB_PACKAGE         what pip installs: a requirement such as dynamic-dynamodb==3.0.0,
#                       or the s3:// URL of a wheel
#   DDB_CHECK_INTERVAL  seconds between two checks; empty: the config's check-interval
#   DDB_PYTHON          interpreter of the virtualenv (default python3.12, installed if missing)
#   DDB_ROOT            prefix of every path written (default: none); the tests set it
set -euo pipefail

config_url=${DDB_CONFIG_URL:?s3:// URL of the configuration}
s3_region=${DDB_S3_REGION:?region of the S3 bucket}
package=${DDB_PACKAGE:?pip requirement or s3:// URL of a wheel}
check_interval=${DDB_CHECK_INTERVAL:-}
python=${DDB_PYTHON:-python3.12}
root=${DDB_ROOT:-}

venv=$root/opt/dynamic-dynamodb
config_dir=$root/etc/dynamic-dynamodb
unit=$root/etc/systemd/system/dynamic-dynamodb.service
download=$(mktemp -d)

log() { echo "dynamic-dynamodb setup: $*"; }

# Downloads s3://bucket/key to a file with the virtualenv's boto3 (instance role credentials).
s3_get() {
    "$venv/bin/python" - "$1" "$2" "$s3_region" <<'PY'
import sys

import boto3

url, path, region = sys.argv[1:]
bucket, _, key = url.removeprefix("s3://").partition("/")
boto3.client("s3", region_name=region).download_file(bucket, key, path)
PY
}

if ! command -v "$python" >/dev/null; then
    log "installing $python"
    dnf install -y "$python" "$python-pip"
fi
if ! command -v service >/dev/null; then
    dnf install -y /usr/sbin/service || log "no 'service' command available; use systemctl"
fi
if ! getent passwd dynamic-dynamodb >/dev/null; then
    useradd --system --home-dir /var/lib/dynamic-dynamodb --shell /usr/sbin/nologin dynamic-dynamodb
fi

log "installing $package into ${venv#"$root"}"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --no-input --disable-pip-version-check --quiet)
if [[ $package == s3://* ]]; then
    "${pip[@]}" boto3
    wheel=$download/${package##*/}
    s3_get "$package" "$wheel"
    "${pip[@]}" "$wheel"
else
    "${pip[@]}" "$package"
fi
install -d "$root/usr/local/bin"
ln -sfn "$venv/bin/dynamic-dynamodb" "$root/usr/local/bin/dynamic-dynamodb"

log "copying $config_url to ${config_dir#"$root"}/dynamic-dynamodb.conf"
install -d -m 0750 "$config_dir"
chown root:dynamic-dynamodb "$config_dir"
s3_get "$config_url" "$download/dynamic-dynamodb.conf"
install -m 0640 "$download/dynamic-dynamodb.conf" "$config_dir/dynamic-dynamodb.conf"
chown root:dynamic-dynamodb "$config_dir/dynamic-dynamodb.conf"
rm -rf "$download"
# A broken configuration fails here, in the install log, not in a restart loop.
"$venv/bin/dynamic-dynamodb" --config "$config_dir/dynamic-dynamodb.conf" --show-config >/dev/null

log "installing ${unit#"$root"}"
install -d "${unit%/*}"
cat >"$unit" <<'UNIT'
# systemd unit for dynamic-dynamodb (one instance).
#
# Install:
#   useradd --system --home-dir /var/lib/dynamic-dynamodb --shell /usr/sbin/nologin dynamic-dynamodb
#   install -m 0644 contrib/dynamic-dynamodb.service /etc/systemd/system/
#   install -d -m 0750 -o root -g dynamic-dynamodb /etc/dynamic-dynamodb
#   install -m 0640 -o root -g dynamic-dynamodb dynamic-dynamodb.conf /etc/dynamic-dynamodb/
#   systemctl daemon-reload && systemctl enable --now dynamic-dynamodb
#
# It runs `--daemon foreground`: systemd does the supervising, so there is no fork and no
# pid file, and logs go to the journal (journalctl -u dynamic-dynamodb). `systemctl reload`
# sends SIGHUP, which re-reads the configuration before the next cycle (an invalid file is
# logged and the previous configuration kept). `systemctl stop` sends SIGTERM: the current
# table is finished, the rest skipped, and the process exits 0.
#
# No user to create? Replace User= and Group= with DynamicUser=yes.
#
# Several instances: copy this file to dynamic-dynamodb-NAME.service with its own config
# file and `--instance NAME`, or turn it into a template dynamic-dynamodb@.service using
# `-c /etc/dynamic-dynamodb/%i.conf --instance %i` and `StateDirectory=dynamic-dynamodb/%i`.
#
# AWS credentials: an instance role, or an Environment/EnvironmentFile with
# AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (mode 0600), or the keys in the config file.

[Unit]
Description=Dynamic DynamoDB - autoscaling of provisioned DynamoDB tables and GSIs
Documentation=https://github.com/sebdah/dynamic-dynamodb
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=dynamic-dynamodb
Group=dynamic-dynamodb
# Counters and the decrease ledger survive restarts here (/var/lib/dynamic-dynamodb).
StateDirectory=dynamic-dynamodb
StateDirectoryMode=0750
# The journal gets the logs already; if the config sets `log-file:`, point it below
# /var/log/dynamic-dynamodb/, the only log directory this sandbox lets it write.
LogsDirectory=dynamic-dynamodb
LogsDirectoryMode=0750
UMask=0027
ExecStart=/usr/local/bin/dynamic-dynamodb --config /etc/dynamic-dynamodb/dynamic-dynamodb.conf --daemon foreground --pid-file-dir /var/lib/dynamic-dynamodb
ExecReload=/bin/kill -HUP $MAINPID
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=60
Restart=on-failure
RestartSec=30
# Python output is not line-buffered into a pipe otherwise.
Environment=PYTHONUNBUFFERED=1

# Hardening: no root, no new privileges, read-only system.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX

[Install]
WantedBy=multi-user.target
UNIT
chmod 0644 "$unit"
if [[ -n $check_interval ]]; then
    # The stack's CheckInterval: the unit's own command line, plus --check-interval.
    install -d "$unit.d"
    printf '[Service]\nExecStart=\nExecStart=%s --check-interval %s\n' \
        "$(sed -n 's/^ExecStart=//p' "$unit")" "$check_interval" >"$unit.d/check-interval.conf"
fi

log "starting dynamic-dynamodb"
systemctl daemon-reload
systemctl enable --now dynamic-dynamodb.service
log "done: journalctl -u dynamic-dynamodb shows its log"
