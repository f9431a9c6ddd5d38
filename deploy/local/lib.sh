# SPDX-License-Identifier: MIT
# Shared by deploy/local/up and deploy/local/down: where the state lives, pid files, ports.
# Sourced, not executed.

RW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RW_STATE=${RW_STATE:-$RW_ROOT/state/local}
case $RW_STATE in /*) ;; *) RW_STATE=$PWD/$RW_STATE ;; esac

# Ports: the documented ones by default; override to run beside a test suite.
RW_REG_ADDR=${RW_REG_ADDR:-127.0.0.1:5000}
RW_ADDR=${RW_ADDR:-127.0.0.1:5001}
RW_ADMIN_ADDR=${RW_ADMIN_ADDR:-127.0.0.1:9091}
RW_VAULT_ADDR=${RW_VAULT_ADDR:-127.0.0.1:8200}

# Signer: "vault" (default: Vault transit through the Vault and SPIRE stand-ins) or "file".
RW_SIGNER=${RW_SIGNER:-vault}

# Everything up may start, in the order down stops it (clients before servers).
SERVICES=(containerd regwarden vault spire-agent registry)

RUN_DIR=$RW_STATE/run
LOG_DIR=$RW_STATE/logs

# Colour only on a terminal.
if [ -t 1 ]; then
    C_B=$'\e[1m' C_G=$'\e[32m' C_R=$'\e[31m' C_0=$'\e[0m'
else
    C_B='' C_G='' C_R='' C_0=''
fi
say() { printf '%s==>%s %s\n' "$C_B" "$C_0" "$*"; }
ok() { printf '    %sok%s %s\n' "$C_G" "$C_0" "$*"; }
die() {
    printf '%sFAILED%s %s\n' "$C_R" "$C_0" "$*" >&2
    exit 1
}

# pid_alive NAME: the process recorded in run/NAME.pid is running (and is not a reused pid
# of something else: its command line must still mention the state dir).
pid_alive() {
    local f=$RUN_DIR/$1.pid pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$RW_STATE"
}

# stop_one NAME: SIGTERM, wait up to 10 s, then SIGKILL; remove the pid file.
stop_one() {
    local name=$1 f=$RUN_DIR/$1.pid pid i
    if pid_alive "$name"; then
        pid=$(cat "$f")
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
            sleep 0.2
        fi
        echo "stopped $name (pid $pid)"
    fi
    rm -f "$f"
}
