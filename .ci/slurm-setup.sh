#!/usr/bin/env bash
# Start a one-node Slurm cluster on this machine for the slurm adapter's integration tests.
#
# Run as root on Debian 12. Idempotent: on a machine where the cluster already answers it only
# checks and exits. Works without systemd (containers): the daemons are started directly.
# The node is this host (`hostname -s`, address 127.0.0.1) with all its CPUs and most of its
# memory, in one partition "debug"; ClusterName is "wcidt".
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
NODE="$(hostname -s)"
CONF=/etc/slurm/slurm.conf

log() { echo "slurm-setup: $*"; }

cluster_ready() {
    command -v sinfo >/dev/null 2>&1 &&
        timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP' &&
        timeout 10 sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

if ! installed slurm-wlm || ! installed munge; then
    log "installing slurm-wlm and munge"
    apt_install() {
        apt-get install -y -q --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            slurm-wlm munge </dev/null
    }
    # The package lists may be missing or stale on a fresh machine; refresh only when needed.
    if ! apt_install; then
        apt-get update -q </dev/null
        apt_install
    fi
fi

# --- munge ---------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    log "creating munge key"
    mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n | unmunge >/dev/null
fi

# --- slurm.conf ----------------------------------------------------------------------------
CPUS="$(nproc)"
# Leave 1 GiB to the system; slurmd drains a node whose configured memory exceeds what it sees.
MEM_MB="$(free -m | awk '/^Mem:/ {print $2}')"
REAL_MB=$((MEM_MB > 2048 ? MEM_MB - 1024 : MEM_MB))

install -d -m 0755 /etc/slurm /var/log/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
NEW_CONF="$(mktemp)"
cat >"$NEW_CONF" <<EOF
# Written by .ci/slurm-setup.sh: a one-node test cluster, no systemd, no cgroups.
ClusterName=wcidt
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${REAL_MB} State=UNKNOWN
PartitionName=debug Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
EOF
CONF_CHANGED=0
if ! cmp -s "$NEW_CONF" "$CONF"; then
    log "writing $CONF (${CPUS} CPUs, ${REAL_MB} MB)"
    install -m 0644 "$NEW_CONF" "$CONF"
    CONF_CHANGED=1
fi
rm -f "$NEW_CONF"

# --- daemons -------------------------------------------------------------------------------
if [ "$CONF_CHANGED" = 0 ] && cluster_ready; then
    log "cluster already up: $(sinfo -h -N -o '%N %T %c')"
    exit 0
fi

# The daemons write their pid files (SlurmctldPidFile, SlurmdPidFile above).
daemon_pid() { cat "/run/$1.pid" 2>/dev/null; }
running() {
    local pid
    pid="$(daemon_pid "$1")" && [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}

if [ "$CONF_CHANGED" = 1 ]; then
    # A changed node definition needs both daemons restarted, not just reconfigured.
    for daemon in slurmd slurmctld; do
        if running "$daemon"; then
            log "stopping $daemon (configuration changed)"
            pid="$(daemon_pid "$daemon")"
            kill "$pid" || true
            # Wait for the process itself: the pid file goes before the daemon has quit.
            for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        fi
    done
fi

if ! running slurmctld; then
    log "starting slurmctld"
    /usr/sbin/slurmctld
fi
for _ in $(seq 100); do
    scontrol ping 2>/dev/null | grep -q 'is UP' && break
    sleep 0.2
done
if ! running slurmd; then
    log "starting slurmd"
    /usr/sbin/slurmd
fi

# A node left DOWN by an earlier unclean stop does not come back by itself.
for _ in $(seq 150); do
    state="$(sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null || true)"
    case "$state" in
    idle | mixed | allocated) break ;;
    down* | drain* | fail*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.2
done

if ! cluster_ready; then
    log "cluster did not come up; last log lines:"
    tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
    exit 1
fi
log "cluster up: $(sinfo -h -N -o '%N %T %c')"
