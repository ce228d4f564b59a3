#!/usr/bin/env bash
# docker/compose.yaml under Podman: `scripts/compose.sh build|up|down|ps|run ARGS...`.
#
# docker-compose 1.29 (Debian's) drives Podman through Podman's Docker-API socket, not
# podman-compose 1.0.3: podman-compose 1.0.3 ignores depends_on conditions, so web and the
# workers would start beside the one-shot migration instead of after it, while
# docker-compose waits for `service_healthy` and `service_completed_successfully`. Podman runs
# health checks from systemd timers, and there is no systemd here: scripts/healthcheck_ticker.py
# runs them instead (at each container's own interval). Both helpers, the socket and the
# ticker, are started by `up` and stopped by `down`.
#
# BROKER=redis (default) or rabbitmq (adds docker/compose.rabbitmq.yaml); COMPOSE_FILES_EXTRA
# adds more files (the container chaos adds docker/compose.chaos.yaml). Secrets come from
# COMPOSE_ENV_FILE, else docker/.env when it exists, else from a file of random ones written once to
# var/containers/compose.env (never committed).
set -euo pipefail
source "$(dirname "$0")/podman_env.sh"
cd "$PROJECT_ROOT"

PROJECT="${COMPOSE_PROJECT:-payments}"
BROKER="${BROKER:-redis}"
SOCKET="$CONTAINER_VAR/$PROJECT.sock"
export DOCKER_HOST="unix://$SOCKET"
APP_IMAGE="${PAYMENTS_IMAGE:-payments}:${PAYMENTS_IMAGE_TAG:-local}"

compose_files() {
  local files=(-f docker/compose.yaml)
  if [ "$BROKER" = rabbitmq ]; then files+=(-f docker/compose.rabbitmq.yaml); fi
  for extra in ${COMPOSE_FILES_EXTRA:-}; do files+=(-f "$extra"); done
  echo "${files[@]}"
}

env_file() {
  if [ -n "${COMPOSE_ENV_FILE:-}" ]; then echo "$COMPOSE_ENV_FILE"; return; fi
  if [ -f docker/.env ]; then echo docker/.env; return; fi
  local file="$CONTAINER_VAR/compose.env"
  if [ ! -f "$file" ]; then
    secret() { head -c 24 /dev/urandom | base64 | tr -d '/+='; }
    umask 077
    {
      echo "# Written by scripts/compose.sh for this machine's compose stack: random secrets."
      echo "SECRET_KEY=$(secret)$(secret)"
      echo "POSTGRES_PASSWORD=$(secret)"
      echo "STRIPE_API_KEY=sk_test_$(secret)"
      echo "STRIPE_WEBHOOK_SECRET=whsec_$(secret)"
      echo "API_KEY_HASH_SECRET=$(secret)$(secret)"
      echo "FLOWER_BASIC_AUTH=flower:$(secret)"
      echo "GRAFANA_ADMIN_PASSWORD=$(secret)"
      echo "RABBITMQ_PASSWORD=$(secret)"
      # The collector runs only with the observability profile.
      echo "OTEL_EXPORTER_OTLP_ENDPOINT="
    } >"$file"
  fi
  echo "$file"
}

compose() {
  set -a
  # The Debian-built images (scripts/container_images.sh); the files default to upstream's.
  source "$CONTAINER_VAR/images.env"
  set +a
  # --compatibility: compose v1 applies deploy.replicas and deploy.resources only with it.
  # shellcheck disable=SC2046
  docker-compose --compatibility --project-name "$PROJECT" --project-directory docker \
    --env-file "$(env_file)" $(compose_files) "$@"
}

start_helpers() {
  if [ ! -S "$SOCKET" ] || ! curl -sf --unix-socket "$SOCKET" http://d/_ping >/dev/null; then
    rm -f "$SOCKET"
    setsid podman system service --time=0 "unix://$SOCKET" >"$CONTAINER_VAR/$PROJECT-podman-service.log" 2>&1 &
    echo $! >"$CONTAINER_VAR/$PROJECT-podman-service.pid"
    for _ in $(seq 100); do [ -S "$SOCKET" ] && break; sleep 0.1; done
  fi
  if ! { [ -f "$CONTAINER_VAR/$PROJECT-ticker.pid" ] && kill -0 "$(cat "$CONTAINER_VAR/$PROJECT-ticker.pid")" 2>/dev/null; }; then
    setsid python3 scripts/healthcheck_ticker.py "$PROJECT" >"$CONTAINER_VAR/$PROJECT-ticker.log" 2>&1 &
    echo $! >"$CONTAINER_VAR/$PROJECT-ticker.pid"
  fi
}

stop_helpers() {
  for name in ticker podman-service; do
    local pidfile="$CONTAINER_VAR/$PROJECT-$name.pid"
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
  rm -f "$SOCKET"
}

case "${1:-}" in
  build)
    bash scripts/container_images.sh >/dev/null
    source "$CONTAINER_VAR/images.env"
    started=$(date +%s%N)
    # --network host and the host's CA store: uv reaches the package registry as the host does.
    # --format docker: an OCI image would drop the Dockerfile's HEALTHCHECK.
    podman build --format docker --network host -v /etc/ssl/certs:/etc/ssl/certs:ro \
      --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" -f docker/Dockerfile -t "$APP_IMAGE" . \
      >"$CONTAINER_VAR/build.log" 2>&1 || { tail -n 30 "$CONTAINER_VAR/build.log" >&2; exit 1; }
    tenths=$((($(date +%s%N) - started) / 100000000))
    bytes=$(podman image inspect --format '{{.Size}}' "$APP_IMAGE")
    printf 'image %s built in %d.%d s, %d MB\n' "$APP_IMAGE" "$((tenths / 10))" "$((tenths % 10))" \
      "$((bytes / 1000000))" \
      | tee "$CONTAINER_VAR/build.txt"
    ;;
  up)
    start_helpers
    compose up -d --no-build "${@:2}"
    ;;
  down)
    if [ -S "$SOCKET" ]; then
      # Both brokers' files, so whichever variant ran is removed whole, volumes included.
      BROKER=rabbitmq compose down --volumes --remove-orphans --timeout 10 || true
    fi
    stop_helpers
    # Anything of the project's still there (a helper that died first): removed by label.
    podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman rm -f >/dev/null
    podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman volume rm -f >/dev/null
    podman network ls -q --filter "label=com.docker.compose.project=$PROJECT" | xargs -r podman network rm -f >/dev/null
    left=$(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" | wc -l)
    echo "compose stack $PROJECT down: $left containers left"
    ;;
  ps)
    podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
      --format '{{.Names}}\t{{.Status}}\t{{.Ports}}'
    ;;
  run)
    start_helpers
    compose "${@:2}"
    ;;
  *)
    echo "usage: $0 build|up|down|ps|run COMPOSE-ARGS..." >&2
    exit 2
    ;;
esac
