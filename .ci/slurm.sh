#!/usr/bin/env bash
# A real single-node SLURM on 127.0.0.1 for tests/test_slurm.py: Debian's slurm-wlm
# (slurmctld + slurmd, munge), no systemd, no cgroups, no accounting.
#
#   .ci/slurm.sh [start]   install what is missing (apt-get, as root), write the config, start
#                          munged, slurmctld and slurmd, and wait until the node is idle
#   .ci/slurm.sh status    print the node's state; exit 0 when it takes jobs (idle, mixed, ...)
#   .ci/slurm.sh stop      stop the three daemons this script started (by their pid files)
#
# Idempotent: daemons already running with the same configuration are left as they are.
# Environment: SLURM_WAIT (seconds to wait for the idle node, default 90).
set -euo pipefail

CONF=/etc/slurm/slurm.conf
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGS=/var/log/slurm
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_RUN=/run/munge
MUNGE_PID=$MUNGE_RUN/munged.pid
MUNGE_KEY=/etc/munge/munge.key
NODE=localhost
WAIT=${SLURM_WAIT:-90}

say() { echo "slurm.sh: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

alive() { # alive NAME PIDFILE: the pid file names a running process called NAME (not a reused pid)
  [ -s "$2" ] && [ "$(cat "/proc/$(cat "$2")/comm" 2>/dev/null)" = "$1" ]
}

install_packages() {
  local missing=()
  command -v munged >/dev/null || missing+=(munge)
  command -v slurmctld >/dev/null || missing+=(slurmctld)
  command -v slurmd >/dev/null || missing+=(slurmd)
  command -v sinfo >/dev/null || missing+=(slurm-client)
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
    die "missing ${missing[*]} and cannot install them (needs root and apt-get)"
  fi
  say "installing ${missing[*]}"
  apt-get update -qq
  # Debian's maintainer scripts try to start the services; without systemd they only warn
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    munge slurmctld slurmd slurm-client >/dev/null
}

start_munge() {
  if [ ! -s "$MUNGE_KEY" ]; then
    say "creating the munge key"
    mungekey --create --keyfile="$MUNGE_KEY" 2>/dev/null ||
      dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
  fi
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p "$MUNGE_RUN" /var/lib/munge /var/log/munge
  chown munge:munge "$MUNGE_RUN" /var/lib/munge /var/log/munge
  chmod 0755 "$MUNGE_RUN"
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "munged does not answer (see /var/log/munge/munged.log)"
}

node_line() {
  # CPUs from nproc, RealMemory (MB) as slurmd measures it (it drains a node that has less)
  local cpus mem
  cpus=$(nproc)
  mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
  [ -n "$mem" ] || mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
  echo "NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$cpus RealMemory=$mem State=UNKNOWN"
}

write_conf() { # prints "changed" when the file was (re)written
  local new
  new=$(mktemp)
  cat >"$new" <<EOF
# Written by clustersim's .ci/slurm.sh: one node on 127.0.0.1, for tests/test_slurm.py.
ClusterName=clustersim
SlurmctldHost=$NODE(127.0.0.1)
# bind every daemon and srun to 127.0.0.1 (the address the names resolve to), not to any
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no systemd and no usable cgroups in a container: track processes by /proc, bind nothing
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# trust the node line below (a container may report less than the host has)
SlurmdParameters=config_overrides
ReturnToService=2
# no slurmdbd: no accounting (sacct does not answer; submitit then reads its result files)
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
InactiveLimit=0
KillWait=10
MinJobAge=300
SlurmctldTimeout=60
SlurmdTimeout=120
$(node_line)
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  if [ -f "$CONF" ] && cmp -s "$new" "$CONF"; then
    rm -f "$new"
    return 0
  fi
  mkdir -p "$(dirname "$CONF")"
  install -m 0644 "$new" "$CONF"
  rm -f "$new"
  echo changed
}

stop_one() { # stop_one NAME PIDFILE
  alive "$1" "$2" || return 0
  local pid
  pid=$(cat "$2")
  say "stopping $1 ($pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -9 "$pid" 2>/dev/null || true
}

node_state() { # the node's state as sinfo prints it ("idle", "down*", ...), empty without an answer
  { sinfo -h -N -n "$NODE" -o %T 2>/dev/null || true; } | head -1
}

start() {
  install_packages
  start_munge
  mkdir -p "$STATE" "$SPOOL" "$LOGS"
  if [ "$(write_conf)" = changed ]; then
    say "wrote $CONF"
    stop_one slurmd "$SLURMD_PID"
    stop_one slurmctld "$CTLD_PID"
  fi
  if ! alive slurmctld "$CTLD_PID"; then
    say "starting slurmctld"
    slurmctld -f "$CONF" || die "slurmctld did not start: $(tail -5 $LOGS/slurmctld.log 2>/dev/null)"
  fi
  if ! alive slurmd "$SLURMD_PID"; then
    say "starting slurmd"
    slurmd -f "$CONF" -N "$NODE" || die "slurmd did not start: $(tail -5 $LOGS/slurmd.log 2>/dev/null)"
  fi
  local state="" resumed=""
  for _ in $(seq $((WAIT * 2))); do
    state=$(node_state)
    if usable "$state"; then
      say "node $NODE is $state (partition, nodes, CPUs: $(sinfo -h -o '%P %D %c' | head -1))"
      return 0
    fi
    case "$state" in
      down* | drain*)
        # a stale state from an earlier run; ReturnToService=2 normally clears it
        if [ -z "$resumed" ]; then
          scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true
          resumed=1
        fi
        ;;
    esac
    sleep 0.5
  done
  say "node $NODE is not idle after ${WAIT}s (state: ${state:-no answer})"
  scontrol show node "$NODE" 2>&1 | sed 's/^/  /' >&2 || true
  tail -n 15 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" >&2 2>/dev/null || true
  exit 1
}

stop() {
  stop_one slurmd "$SLURMD_PID"
  stop_one slurmctld "$CTLD_PID"
  stop_one munged "$MUNGE_PID"
}

usable() { # usable STATE: the node takes jobs
  case "$1" in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac
}

status() {
  local state
  state=$(node_state)
  echo "node $NODE: ${state:-no answer}"
  usable "$state"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac
