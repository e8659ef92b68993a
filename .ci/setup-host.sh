#!/usr/bin/env bash
# Prepare a Debian host for smctl's tests and demo: Docker engine, python:3.11-slim stand-in,
# a local registry on 127.0.0.1:5000, and rootful Podman's Docker-compatible API on a socket of our own
# ($SMCTL_PODMAN_SOCK, default /tmp/smctl-podman.sock; SMCTL_SKIP_PODMAN=1 leaves Podman out).
# Idempotent: safe to run twice and with engines already up.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
STATE_DIR="${SMCTL_CI_STATE:-/tmp/smctl-ci}"
mkdir -p "$STATE_DIR"

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || need_pkgs+=(docker-registry)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v pigz >/dev/null 2>&1 || need_pkgs+=(pigz)
if [ "${SMCTL_SKIP_PODMAN:-}" != 1 ]; then command -v podman >/dev/null 2>&1 || need_pkgs+=(podman); fi
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_pkgs[@]}" >/dev/null
fi

# Docker engine: reuse a running one, else start dockerd ourselves (no systemd on these machines).
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  $SUDO sh -c "nohup dockerd >'$STATE_DIR/dockerd.log' 2>&1 &"
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up"; tail -20 "$STATE_DIR/dockerd.log" >&2; exit 1; }
fi
log "docker engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

# Base image: pull when a registry is reachable, else build the stand-in from Debian.
if ! docker image inspect python:3.11-slim >/dev/null 2>&1; then
  if timeout 60 docker pull -q python:3.11-slim >/dev/null 2>&1; then
    log "pulled python:3.11-slim"
  else
    log "building python:3.11-slim stand-in with debootstrap (about a minute)"
    rootfs=$(mktemp -d "$STATE_DIR/rootfs.XXXX")
    $SUDO debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
      bookworm "$rootfs" http://deb.debian.org/debian >"$STATE_DIR/debootstrap.log" 2>&1 \
      || { tail -20 "$STATE_DIR/debootstrap.log" >&2; exit 1; }
    $SUDO cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    $SUDO rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
    $SUDO ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
    $SUDO tar -C "$rootfs" -c . | docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' - python:3.11-slim >/dev/null
    $SUDO rm -rf "$rootfs"
  fi
fi
log "base image python:3.11-slim ready"

# A real registry on 127.0.0.1:5000.
if ! curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1; then
  log "starting docker-registry on 127.0.0.1:5000"
  mkdir -p "$STATE_DIR/registry"
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:5000\n' \
    "$STATE_DIR/registry" >"$STATE_DIR/registry.yml"
  nohup docker-registry serve "$STATE_DIR/registry.yml" >"$STATE_DIR/registry.log" 2>&1 &
  for _ in $(seq 1 40); do curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1 && break; sleep 0.25; done
  curl -fsS http://127.0.0.1:5000/v2/ >/dev/null || { log "registry did not come up"; cat "$STATE_DIR/registry.log" >&2; exit 1; }
fi
log "registry ready on 127.0.0.1:5000"

# Podman: the Docker-compatible API of rootful Podman on $PODMAN_SOCK, with the images the tests need.
[ "${SMCTL_SKIP_PODMAN:-}" = 1 ] && exit 0
PODMAN_SOCK="${SMCTL_PODMAN_SOCK:-/tmp/smctl-podman.sock}"
# These hosts drop CAP_SYS_RESOURCE: runc cannot raise rlimits past the current ones, so every container fails
# ("error setting rlimit type 7") unless containers.conf sets limits it may keep.
conf=/etc/containers/containers.conf
if ! grep -qs '^default_ulimits' "$conf"; then
  log "writing default_ulimits to $conf"
  $SUDO mkdir -p /etc/containers
  if grep -qs '^\[containers\]' "$conf"; then
    $SUDO sed -i '/^\[containers\]/a default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]' "$conf"
  else
    printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' | $SUDO tee -a "$conf" >/dev/null
  fi
fi
# The local registry speaks plain http: Podman pushes to it only when registries.conf marks it insecure.
insecure=/etc/containers/registries.conf.d/50-smctl-local-registry.conf
restart_podman=""
if [ ! -f "$insecure" ]; then
  log "marking 127.0.0.1:5000 insecure for Podman ($insecure)"
  $SUDO mkdir -p "$(dirname "$insecure")"
  printf '[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n' | $SUDO tee "$insecure" >/dev/null
  restart_podman=1
fi
podman_up() { curl -fsS --max-time 5 --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null 2>&1; }
if [ -n "$restart_podman" ] && podman_up && [ -f "$STATE_DIR/podman.pid" ]; then
  $SUDO kill "$(cat "$STATE_DIR/podman.pid")" 2>/dev/null || true   # it reads registries.conf at start only
  sleep 1
fi
if ! podman_up; then
  log "starting podman system service on $PODMAN_SOCK"
  $SUDO rm -f "$PODMAN_SOCK"
  $SUDO sh -c "nohup podman system service --time=0 'unix://$PODMAN_SOCK' >'$STATE_DIR/podman.log' 2>&1 & echo \$! >'$STATE_DIR/podman.pid'"
  for _ in $(seq 1 60); do podman_up && break; sleep 0.5; done
  podman_up || { log "podman system service did not come up"; tail -20 "$STATE_DIR/podman.log" >&2; exit 1; }
fi
if ! $SUDO podman image exists python:3.11-slim; then
  log "loading python:3.11-slim into Podman from Docker"
  docker save python:3.11-slim | $SUDO podman load -q >/dev/null
  $SUDO podman tag localhost/python:3.11-slim docker.io/library/python:3.11-slim 2>/dev/null || true
fi
log "podman $($SUDO podman version --format '{{.Server.Version}}' 2>/dev/null || podman --version) on unix://$PODMAN_SOCK"
