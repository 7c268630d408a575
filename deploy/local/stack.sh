#!/usr/bin/env bash
# stack.sh -- local mini-crm stack (PostgreSQL + crm workers + nginx) for development and tests
#
# Sourced by deploy/local/up, deploy/local/down and tests/run; also a driver on its own:
#   deploy/local/stack.sh up|down|status
# A "stack" is a named set of ports and a state directory .local/<stack>/ in the checkout:
#   pg/      PostgreSQL cluster (data/, sock/, log/); a symlink into /var/tmp when user postgres
#            cannot reach the checkout (e.g. a clone under /root)
#   nginx/   rendered nginx.conf, pid, logs, temp dirs (nginx's workers run as www-data)
#   www      only when www-data cannot reach the checkout: a symlink to /var/tmp, where nginx_www
#            copies the static files (openapi.json, docs/, swagger-ui-dist) and the temp dirs live
#   run/     crm.sock, crm.pid (owner crm, group www-data, 0750: nginx's workers reach the socket)
#   log/     crm.log
#   api-key  an admin API key (mode 0600, the key and a newline), made on the stack's first start
#   pgpass   the generated passwords of roles postgres and crm (root, 0600): PGPASSFILE of the tools
#   crm.pgpass  role crm's password only (owner crm, 0600): passfile= of the application's DSN
# When users crm and www-data cannot reach the checkout (e.g. a clone under /root), run/ and
# crm.pgpass live in /run/mini-crm/<stack>-<hash> instead (crm.pgpass rewritten from pgpass on up).
# Who runs what: PostgreSQL as postgres, `crm serve` started as root drops to CRM_USER (created as a
# system user if missing), nginx's workers as www-data. PostgreSQL trusts no TCP connection: host
# connections use scram-sha-256 with generated passwords; the unix socket uses peer
# authentication (OS root and postgres may be role postgres, OS crm role crm). An older stack's
# trusting cluster is converted on up (pg_hba.conf rewritten, passwords set).
# Parameters (environment, with defaults):
#   CRM_STACK=dev CRM_HTTP_PORT=8000 CRM_PG_PORT=5433 CRM_WORKERS=8
#   CRM_BUILD_DIR=build CRM_BIN=$CRM_BUILD_DIR/crm (relative paths are relative to the repo root)
#   CRM_MESON_ARGS=""     extra `meson setup` arguments for a new build dir (CI: --werror)
#   CRM_FRESH_DB=1        drop and recreate database crm before crm starts (tests/run)
#   CRM_SKIP_BUILD=1      do not run meson (use an existing CRM_BIN)
#   CRM_USER=crm CRM_SOCKET_GROUP=www-data   who the workers run as; the group of their socket
#   nginx's limits (deploy/nginx/local.conf.in; high, so that benchmarks are not throttled):
#   CRM_NGINX_KEY_RATE=20000r/s CRM_NGINX_KEY_BURST=20000   requests per API key (or address without one)
#   CRM_NGINX_ADDR_RATE=20000r/s CRM_NGINX_ADDR_BURST=20000 requests per client address
#   CRM_NGINX_CONN=10000          requests in progress per client address
#   CRM_NGINX_CLIENT_TIMEOUT=10s  for the client's header and body
# Runs as root (Debian 12). Must work from any cwd.

set -euo pipefail

STACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
PG_BIN=/usr/lib/postgresql/15/bin

# Debian packages needed to build and run the stack (tests/run adds the test ones: pytest and
# friends, valgrind, pgTAP and pg_prove for tests/db).
STACK_PACKAGES=(meson ninja-build pkg-config gcc libc6-dev libfcgi-dev libjson-c-dev libpq-dev libssl-dev
	libunistring-dev libunistring2 libidn2-dev libidn2-0 postgresql-15 postgresql-client-15 nginx curl procps python3 ca-certificates)
# shellcheck disable=SC2034 # used by tests/run
TEST_PACKAGES=(python3-pytest python3-requests python3-psycopg2 valgrind
	postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl)

log() { printf '[%s] %s\n' "${CRM_STACK:-stack}" "$*"; }
warn() { printf '[%s] warning: %s\n' "${CRM_STACK:-stack}" "$*" >&2; }
die() {
	printf '[%s] error: %s\n' "${CRM_STACK:-stack}" "$*" >&2
	exit 1
}

# abspath PATH -- PATH made absolute against the repo root (not the cwd).
abspath() {
	case "$1" in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$STACK_ROOT/$1" ;;
	esac
}

stack_init() {
	CRM_STACK="${CRM_STACK:-dev}"
	case "$CRM_STACK" in
	*[!A-Za-z0-9_-]* | '') die "CRM_STACK must be [A-Za-z0-9_-]+, got '$CRM_STACK'" ;;
	esac
	CRM_HTTP_PORT="${CRM_HTTP_PORT:-8000}"
	CRM_PG_PORT="${CRM_PG_PORT:-5433}"
	CRM_WORKERS="${CRM_WORKERS:-8}"
	CRM_BUILD_DIR="$(abspath "${CRM_BUILD_DIR:-build}")"
	CRM_BIN="$(abspath "${CRM_BIN:-$CRM_BUILD_DIR/crm}")"
	CRM_MESON_ARGS="${CRM_MESON_ARGS:-}"

	CRM_USER="${CRM_USER:-crm}"
	CRM_SOCKET_GROUP="${CRM_SOCKET_GROUP:-www-data}"

	STACK_DIR="$STACK_ROOT/.local/$CRM_STACK"
	PG_LINK="$STACK_DIR/pg"
	NGINX_DIR="$STACK_DIR/nginx"
	NGINX_CONF="$NGINX_DIR/nginx.conf"
	if reachable_by_others "$STACK_DIR"; then
		CRM_STATE_DIR="$STACK_DIR"
	else
		CRM_STATE_DIR="/run/mini-crm/$CRM_STACK-$(printf '%s' "$STACK_ROOT" | sha1sum | cut -c1-12)"
	fi
	RUN_DIR="$CRM_STATE_DIR/run"
	APP_PASSFILE="$CRM_STATE_DIR/crm.pgpass"
	LOG_DIR="$STACK_DIR/log"
	CRM_SOCK="$RUN_DIR/crm.sock"
	CRM_PID="$RUN_DIR/crm.pid"
	CRM_LOG="$LOG_DIR/crm.log"
	CRM_CONF="$RUN_DIR/crm.conf" # CRM_CONFIG_FILE: empty at each start; SIGHUP re-reads it
	API_KEY_FILE="$STACK_DIR/api-key"
	NPM_DIR="$STACK_ROOT/.local/npm"
	HTTP_URL="http://127.0.0.1:$CRM_HTTP_PORT"
	# Passwords reach libpq only through files (passfile=, PGPASSFILE), never a command line or
	# an environment variable's value. Every tool that sources this file reads PGPASSFILE.
	PGPASSFILE="$STACK_DIR/pgpass"
	APP_DSN="host=127.0.0.1 port=$CRM_PG_PORT dbname=crm user=crm passfile=$APP_PASSFILE"
	# shellcheck disable=SC2034 # used by tests/run
	SUPER_DSN="host=127.0.0.1 port=$CRM_PG_PORT dbname=crm user=postgres passfile=$PGPASSFILE"
	export CRM_STACK CRM_HTTP_PORT CRM_PG_PORT CRM_WORKERS CRM_BUILD_DIR CRM_BIN CRM_USER CRM_SOCKET_GROUP PGPASSFILE
	pg_paths
}

# pg_paths -- where the cluster really lives (through the symlink if there is one).
pg_paths() {
	if [[ -e "$PG_LINK" ]]; then
		PG_REAL="$(cd "$PG_LINK" && pwd -P)"
	else
		PG_REAL="$PG_LINK"
	fi
	PG_DATA="$PG_REAL/data"
	PG_SOCK="$PG_REAL/sock"
	PG_LOG="$PG_REAL/log/postgresql.log"
}

# (from /: postgres may not enter the cwd, e.g. a checkout under /root)
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# reachable_by_others DIR -- true when a user who is neither owner nor in the group of any of
# DIR's ancestors can search down to DIR (the nearest existing ancestor counts for the rest:
# stack_up creates the missing ones 0755).
reachable_by_others() {
	local d="$1"
	while [[ ! -e "$d" ]]; do d="$(dirname "$d")"; done
	while :; do
		[[ "$(stat -L -c %A "$d")" == *x ]] || return 1
		[[ "$d" == / ]] && return 0
		d="$(dirname "$d")"
	done
}

# crm_user_setup -- the system user the workers run as, and the directories it needs.
crm_user_setup() {
	if ! getent passwd "$CRM_USER" >/dev/null; then
		log "creating system user $CRM_USER"
		useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin \
			"$CRM_USER" || die "useradd $CRM_USER failed"
	fi
	getent group "$CRM_SOCKET_GROUP" >/dev/null || die "no group $CRM_SOCKET_GROUP (CRM_SOCKET_GROUP)"
	mkdir -p "$STACK_DIR" "$CRM_STATE_DIR"
	chmod 755 "$STACK_ROOT/.local" "$STACK_DIR" "$CRM_STATE_DIR"
	# the socket and the pid file: the master creates them as root and removes them as CRM_USER
	install -d -o "$CRM_USER" -g "$CRM_SOCKET_GROUP" -m 750 "$RUN_DIR"
	chown "$CRM_USER:$CRM_SOCKET_GROUP" "$RUN_DIR"
	chmod 750 "$RUN_DIR"
}

# ---------------------------------------------------------------------------------------------
# packages and build

# missing_packages PKG... -- print those not installed.
missing_packages() {
	local p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			printf '%s\n' "$p"
		fi
	done
}

# install_packages PKG... -- apt-get install what is missing; apt-get update only if needed.
install_packages() {
	local missing
	mapfile -t missing < <(missing_packages "$@")
	((${#missing[@]} == 0)) && return 0
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || warn "apt-get update failed; trying the install anyway"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

stack_packages() {
	local pkgs=("${STACK_PACKAGES[@]}")
	# nodejs from another source may already bring npm; Debian's npm only when there is none.
	command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
	install_packages "${pkgs[@]}"
}

stack_build() {
	if [[ "${CRM_SKIP_BUILD:-0}" == 1 ]]; then
		log "build skipped (CRM_SKIP_BUILD=1)"
	elif [[ ! -f "$STACK_ROOT/meson.build" ]]; then
		log "no meson.build: build skipped"
	else
		if [[ ! -f "$CRM_BUILD_DIR/meson-private/coredata.dat" ]]; then
			log "meson setup $CRM_BUILD_DIR"
			# shellcheck disable=SC2086 # CRM_MESON_ARGS is a word list on purpose
			meson setup "$CRM_BUILD_DIR" "$STACK_ROOT" --buildtype=release $CRM_MESON_ARGS
		fi
		log "meson compile -C $CRM_BUILD_DIR"
		meson compile -C "$CRM_BUILD_DIR" >"$STACK_ROOT/.local/build.log" 2>&1 || {
			tail -n 60 "$STACK_ROOT/.local/build.log" >&2
			die "build failed (full log: .local/build.log)"
		}
	fi
	[[ -x "$CRM_BIN" ]] || die "no executable at $CRM_BIN"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

# pg_prepare_dir -- create .local/<stack>/pg owned by postgres, or a symlink to /var/tmp when
# postgres cannot use a directory inside the checkout.
pg_prepare_dir() {
	if [[ -L "$PG_LINK" && ! -e "$PG_LINK" ]]; then
		warn "dangling $PG_LINK (its /var/tmp target is gone): recreating the cluster"
		rm -f "$PG_LINK"
	fi
	if [[ ! -e "$PG_LINK" ]]; then
		mkdir -p "$PG_LINK"
		chown postgres:postgres "$PG_LINK"
		chmod 700 "$PG_LINK"
		if ! as_postgres test -w "$PG_LINK"; then
			local hash real
			hash="$(printf '%s' "$STACK_ROOT" | sha1sum | cut -c1-12)"
			real="/var/tmp/crm-$CRM_STACK-$hash"
			log "user postgres cannot reach $STACK_ROOT: cluster lives in $real"
			rmdir "$PG_LINK"
			mkdir -p "$real"
			chown postgres:postgres "$real"
			chmod 700 "$real"
			ln -s "$real" "$PG_LINK"
		fi
	fi
	pg_paths
	chown postgres:postgres "$PG_REAL"
	as_postgres mkdir -p "$PG_SOCK" "$(dirname "$PG_LOG")"
}

pg_running() {
	[[ -f "$PG_DATA/PG_VERSION" ]] && as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# pg_write_conf -- stack settings (port, sockets) and the project's tuning, included from
# postgresql.conf. The files are copied into the data dir: postgres may not read the checkout.
pg_write_conf() {
	install -o postgres -g postgres -m 600 "$STACK_ROOT/deploy/postgresql.conf.sample" "$PG_DATA/crm.conf"
	cat >"$PG_DATA/crm-stack.conf" <<-EOF
		# crm-stack.conf -- written by deploy/local/stack.sh for stack '$CRM_STACK'; do not edit
		listen_addresses = '127.0.0.1'
		port = $CRM_PG_PORT
		unix_socket_directories = '$PG_SOCK'
		password_encryption = 'scram-sha-256'
	EOF
	# No trust anywhere: TCP needs a password (scram-sha-256), the socket the OS user (peer).
	cat >"$PG_DATA/pg_hba.conf" <<-EOF
		# pg_hba.conf -- written by deploy/local/stack.sh; do not edit
		# TYPE  DATABASE  USER  ADDRESS       METHOD
		local   all       all                 peer map=stack
		host    all       all   127.0.0.1/32  scram-sha-256
		host    all       all   ::1/128       scram-sha-256
	EOF
	cat >"$PG_DATA/pg_ident.conf" <<-EOF
		# pg_ident.conf -- written by deploy/local/stack.sh; do not edit
		# MAP  SYSTEM-USER  PG-USER
		stack  root         postgres
		stack  postgres     postgres
		stack  $CRM_USER    crm
	EOF
	chown postgres:postgres "$PG_DATA/crm-stack.conf" "$PG_DATA/pg_hba.conf" "$PG_DATA/pg_ident.conf"
	chmod 600 "$PG_DATA/pg_hba.conf" "$PG_DATA/pg_ident.conf"
	if ! grep -q "^include_if_exists 'crm.conf'" "$PG_DATA/postgresql.conf"; then
		printf "\n# mini-crm local stack\ninclude_if_exists 'crm.conf'\ninclude_if_exists 'crm-stack.conf'\n" \
			>>"$PG_DATA/postgresql.conf"
	fi
}

pg_up() {
	pg_prepare_dir
	if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
		log "initdb $PG_DATA"
		as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
			--auth-local=peer --auth-host=scram-sha-256 >"$PG_REAL/log/initdb.log" 2>&1 || {
			cat "$PG_REAL/log/initdb.log" >&2
			die "initdb failed"
		}
	fi
	pg_write_conf
	if pg_running; then
		log "PostgreSQL already running on 127.0.0.1:$CRM_PG_PORT"
		as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" reload >/dev/null
	else
		log "starting PostgreSQL on 127.0.0.1:$CRM_PG_PORT"
		as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null || {
			tail -n 30 "$PG_LOG" >&2
			die "PostgreSQL did not start (log: $PG_LOG)"
		}
	fi
}

pg_down() {
	pg_paths
	if pg_running; then
		log "stopping PostgreSQL"
		as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null ||
			warn "pg_ctl stop failed"
	fi
}

# psql_super SQL... -- run statements as the superuser in database postgres (unix socket, peer
# authentication: works before any password is set, e.g. on a cluster an older checkout made).
psql_super() {
	psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$CRM_PG_PORT" -U postgres -d postgres "$@"
}

# pg_password ROLE -- print ROLE's password from $PGPASSFILE, generating and storing one if none.
pg_password() {
	local pw
	touch "$PGPASSFILE"
	chmod 600 "$PGPASSFILE"
	pw="$(awk -F: -v r="$1" '$4 == r { print $5; exit }' "$PGPASSFILE")"
	if [[ -z "$pw" ]]; then
		pw="$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | cut -c1-32)"
		printf '*:*:*:%s:%s\n' "$1" "$pw" >>"$PGPASSFILE"
	fi
	printf '%s\n' "$pw"
}

# pg_passwords -- the generated passwords of roles postgres and crm set in the cluster (again on
# every up, which also converts a cluster that trusted TCP), and role crm's own passfile.
pg_passwords() {
	local super app
	super="$(pg_password postgres)"
	app="$(pg_password crm)"
	# through stdin: a password never appears on a command line
	psql_super <<-EOF
		SET client_min_messages = warning;
		ALTER ROLE postgres PASSWORD '$super';
		ALTER ROLE crm PASSWORD '$app';
	EOF
	(
		umask 077
		printf '*:*:*:crm:%s\n' "$app" >"$APP_PASSFILE.new"
	)
	chown "$CRM_USER:" "$APP_PASSFILE.new"
	chmod 600 "$APP_PASSFILE.new"
	mv "$APP_PASSFILE.new" "$APP_PASSFILE"
}

# db_setup -- role crm (login, not superuser) and database crm owned by it; idempotent.
# With CRM_FRESH_DB=1 the database is dropped first, so migrations run from scratch.
db_setup() {
	if [[ "${CRM_FRESH_DB:-0}" == 1 ]]; then
		log "recreating database crm (CRM_FRESH_DB=1)"
		psql_super -c 'DROP DATABASE IF EXISTS crm WITH (FORCE)'
	fi
	psql_super <<-'EOF'
		SELECT 'CREATE ROLE crm LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'
		WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crm') \gexec
		SELECT 'CREATE DATABASE crm OWNER crm ENCODING ''UTF8'' TEMPLATE template0'
		WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'crm') \gexec
		-- no row values in the server's log from crm's sessions (README "Logging")
		ALTER ROLE crm SET log_error_verbosity = 'terse';
		ALTER ROLE crm SET log_parameter_max_length = 0;
		ALTER ROLE crm SET log_parameter_max_length_on_error = 0;
	EOF
	pg_passwords
}

# ---------------------------------------------------------------------------------------------
# Swagger UI assets

npm_up() {
	if [[ -f "$NPM_DIR/node_modules/swagger-ui-dist/swagger-ui-bundle.js" ]]; then
		return 0
	fi
	log "npm install swagger-ui-dist@5"
	mkdir -p "$NPM_DIR"
	npm install --no-audit --no-fund --loglevel=error --prefix "$NPM_DIR" swagger-ui-dist@5 >/dev/null ||
		die "npm install swagger-ui-dist failed"
}

# ---------------------------------------------------------------------------------------------
# nginx

# sed_escape TEXT -- TEXT safe as a sed replacement with '|' as the delimiter.
sed_escape() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

# nginx_paths -- where nginx's workers (user www-data) read the static files and write their temp
# dirs: the checkout itself when www-data can reach it, else copies under /var/tmp (like the
# PostgreSQL cluster), linked from .local/<stack>/www; nginx_www makes the copies. The master runs as
# root and reads the config, its includes and the logs wherever they are.
nginx_paths() {
	local dist="$NPM_DIR/node_modules/swagger-ui-dist" hash
	if runuser -u www-data -- test -r "$STACK_ROOT/deploy/openapi.json" -a -r "$STACK_ROOT/deploy/docs/index.html" \
		-a -r "$dist/swagger-ui-bundle.js" -a -x "$(dirname "$NGINX_DIR")" 2>/dev/null; then
		WWW_DIR="$NGINX_DIR"
		WWW_OPENAPI="$STACK_ROOT/deploy/openapi.json"
		WWW_DOCS="$STACK_ROOT/deploy/docs"
		WWW_DIST="$dist"
		WWW_COPY=0
	else
		hash="$(printf '%s' "$STACK_ROOT" | sha1sum | cut -c1-12)"
		WWW_DIR="/var/tmp/crm-www-$CRM_STACK-$hash"
		WWW_OPENAPI="$WWW_DIR/openapi.json"
		WWW_DOCS="$WWW_DIR/docs"
		WWW_DIST="$WWW_DIR/dist"
		WWW_COPY=1
	fi
}

# nginx_www -- copy the static files where www-data can read them, when it cannot reach the checkout
# (a clone under /root, mode 0700); run by every `up`, so edits to deploy/ show after the next one.
nginx_www() {
	nginx_paths
	mkdir -p "$WWW_DIR/tmp"
	((WWW_COPY)) || return 0
	log "user www-data cannot reach $STACK_ROOT: nginx serves copies from $WWW_DIR"
	rm -rf "$WWW_DOCS" "$WWW_DIST" "$WWW_OPENAPI.new"
	cp "$STACK_ROOT/deploy/openapi.json" "$WWW_OPENAPI.new"
	mv "$WWW_OPENAPI.new" "$WWW_OPENAPI"
	cp -r "$STACK_ROOT/deploy/docs" "$WWW_DOCS"
	mkdir -p "$WWW_DIST"
	find "$NPM_DIR/node_modules/swagger-ui-dist" -maxdepth 1 -type f ! -name '*.map' -exec cp {} "$WWW_DIST/" \;
	chmod 755 "$WWW_DIR"
	chmod -R a+rX "$WWW_OPENAPI" "$WWW_DOCS" "$WWW_DIST"
	ln -sfn "$WWW_DIR" "$STACK_DIR/www"
}

# nginx_render -- deploy/nginx/local.conf.in with this stack's paths, port and limits, to
# $NGINX_CONF (.local/<stack>/nginx/nginx.conf). The limits (CRM_NGINX_*) are high by default so
# that benchmarks and load tests are not throttled; tests/api/test_edge.py renders its own nginx
# with low ones (NGINX_DIR, NGINX_CONF and CRM_HTTP_PORT set to its own after stack_init).
nginx_render() {
	local out="$NGINX_CONF" listen6=''
	if [[ -f /proc/net/if_inet6 ]] && grep -q '^0\{31\}1 ' /proc/net/if_inet6; then
		listen6="listen [::1]:$CRM_HTTP_PORT;"
	fi
	nginx_paths
	mkdir -p "$NGINX_DIR" "$WWW_DIR/tmp"
	sed -e "s|@NGINX_DIR@|$(sed_escape "$NGINX_DIR")|g" \
		-e "s|@WWW_DIR@|$(sed_escape "$WWW_DIR")|g" \
		-e "s|@ROOT@|$(sed_escape "$STACK_ROOT")|g" \
		-e "s|@OPENAPI@|$(sed_escape "$WWW_OPENAPI")|g" \
		-e "s|@DOCS_DIR@|$(sed_escape "$WWW_DOCS")|g" \
		-e "s|@DIST_DIR@|$(sed_escape "$WWW_DIST")|g" \
		-e "s|@CRM_SOCK@|$(sed_escape "$CRM_SOCK")|g" \
		-e "s|@HTTP_PORT@|$CRM_HTTP_PORT|g" \
		-e "s|@LISTEN6@|$listen6|g" \
		-e "s|@KEY_RATE@|${CRM_NGINX_KEY_RATE:-20000r/s}|g" \
		-e "s|@KEY_BURST@|${CRM_NGINX_KEY_BURST:-20000}|g" \
		-e "s|@ADDR_RATE@|${CRM_NGINX_ADDR_RATE:-20000r/s}|g" \
		-e "s|@ADDR_BURST@|${CRM_NGINX_ADDR_BURST:-20000}|g" \
		-e "s|@CONN_LIMIT@|${CRM_NGINX_CONN:-10000}|g" \
		-e "s|@CLIENT_TIMEOUT@|${CRM_NGINX_CLIENT_TIMEOUT:-10s}|g" \
		"$STACK_ROOT/deploy/nginx/local.conf.in" >"$out.new"
	if grep -n '^[^#]*@[A-Z][A-Z0-9_]*@' "$out.new" >&2; then
		die "placeholders left in $out (see above)"
	fi
	mv "$out.new" "$out"
}

nginx_cmd() { nginx -p "$NGINX_DIR/" -c "$NGINX_CONF" -e "$NGINX_DIR/error.log" "$@"; }

# pid_alive FILE -- print the pid in FILE if that process is alive.
pid_alive() {
	local pid
	[[ -f "$1" ]] || return 1
	pid="$(tr -dc '0-9' <"$1")"
	if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
		return 1
	fi
	printf '%s\n' "$pid"
}

nginx_up() {
	nginx_www
	nginx_render
	nginx_cmd -t -q 2>"$NGINX_DIR/configtest.log" || {
		cat "$NGINX_DIR/configtest.log" >&2
		die "nginx config test failed"
	}
	if pid_alive "$NGINX_DIR/nginx.pid" >/dev/null; then
		log "reloading nginx on $HTTP_URL"
		nginx_cmd -s reload
	else
		log "starting nginx on $HTTP_URL"
		nginx_cmd </dev/null >"$NGINX_DIR/start.log" 2>&1 || {
			cat "$NGINX_DIR/start.log" >&2
			tail -n 20 "$NGINX_DIR/error.log" >&2 || true
			die "nginx did not start"
		}
	fi
}

nginx_down() {
	local pid i
	pid="$(pid_alive "$NGINX_DIR/nginx.pid")" || return 0
	log "stopping nginx"
	nginx_cmd -s quit 2>/dev/null || kill -QUIT "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	warn "nginx did not quit in 10s: terminating"
	kill -TERM "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# crm workers

# crm_master_pid -- pid of a live `crm serve` master from the pid file (guards against reuse).
crm_master_pid() {
	local pid
	pid="$(pid_alive "$CRM_PID")" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qw serve || return 1
	printf '%s\n' "$pid"
}

crm_stop() {
	local pid kids i
	if ! pid="$(crm_master_pid)"; then
		rm -f "$CRM_PID"
		return 0
	fi
	log "stopping crm master $pid"
	kids="$(pgrep -P "$pid" || true)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		warn "crm master $pid did not exit in 10s: killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# Workers of a killed master would otherwise linger on the socket.
	for pid in $kids; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -f "$CRM_PID"
}

crm_start() {
	local pid
	crm_user_setup
	mkdir -p "$LOG_DIR"
	rm -f "$CRM_SOCK" "$CRM_PID"
	install -m 0644 /dev/null "$CRM_CONF"
	log "starting $CRM_BIN serve as $CRM_USER ($CRM_WORKERS workers, log: $CRM_LOG)"
	printf '\n==== %s crm serve (stack %s)\n' "$(date -Is)" "$CRM_STACK" >>"$CRM_LOG"
	# started as root, the master drops to CRM_USER once the socket (group CRM_SOCKET_GROUP,
	# 0660: nginx's workers are in it) and the pid file exist
	env -u PGPASSFILE \
		CRM_DATABASE_URL="$APP_DSN" \
		CRM_LISTEN="unix:$CRM_SOCK" \
		CRM_SOCKET_MODE=0660 \
		CRM_USER="$CRM_USER" \
		CRM_SOCKET_GROUP="$CRM_SOCKET_GROUP" \
		CRM_PID_FILE="$CRM_PID" \
		CRM_WORKERS="$CRM_WORKERS" \
		CRM_CONFIG_FILE="$CRM_CONF" \
		setsid "$CRM_BIN" serve </dev/null >>"$CRM_LOG" 2>&1 &
	CRM_STARTED_PID=$!
	disown "$CRM_STARTED_PID" 2>/dev/null || true
}

# wait_answer -- until the workers answer through nginx (any status of theirs: /api/operators
# without a key is their 401), 20 s at most. `crm serve` migrates before it listens, so the
# schema is in place once they answer.
wait_answer() {
	local i code
	for ((i = 0; i < 100; i++)); do
		code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "$HTTP_URL/api/operators" 2>/dev/null || true)"
		if [[ "$code" == 401 || "$code" == 2?? ]]; then
			return 0
		fi
		if ! kill -0 "$CRM_STARTED_PID" 2>/dev/null; then
			tail -n 30 "$CRM_LOG" >&2
			die "crm exited during startup (log: $CRM_LOG)"
		fi
		sleep 0.2
	done
	tail -n 30 "$CRM_LOG" >&2
	curl -sS "$HTTP_URL/api/operators" >&2 || true
	die "no answer from $HTTP_URL/api/operators after 20s (log: $CRM_LOG)"
}

# api_key_ensure -- the stack's admin key: kept while it still works (GET /api/keys answers 200),
# else made with `crm keys create` (the first start, or a database made afresh) and written to
# $API_KEY_FILE, mode 0600, the key and a newline.
api_key_ensure() {
	local key code
	if [[ -s "$API_KEY_FILE" ]]; then
		key="$(head -n 1 "$API_KEY_FILE")"
		code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $key" \
			"$HTTP_URL/api/keys?limit=1" 2>/dev/null || true)"
		if [[ "$code" == 200 ]]; then
			return 0
		fi
		log "the key in $API_KEY_FILE no longer works (HTTP $code): making a new one"
	fi
	key="$(CRM_DATABASE_URL="$APP_DSN" CRM_LOG_LEVEL=warn "$CRM_BIN" keys create --name "local $CRM_STACK admin" \
		--scope admin 2>>"$CRM_LOG")" || die "crm keys create failed (log: $CRM_LOG)"
	(
		umask 077
		printf '%s\n' "$key" >"$API_KEY_FILE.new"
	)
	chmod 600 "$API_KEY_FILE.new"
	mv "$API_KEY_FILE.new" "$API_KEY_FILE"
	log "admin API key written to $API_KEY_FILE"
}

# wait_ready -- until GET /api/operators answers 2xx through nginx with the stack's key.
wait_ready() {
	local i key
	key="$(head -n 1 "$API_KEY_FILE")"
	for ((i = 0; i < 100; i++)); do
		if curl -fsS -o /dev/null --max-time 2 -H "Authorization: Bearer $key" "$HTTP_URL/api/operators" 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	curl -sS -H "Authorization: Bearer $key" "$HTTP_URL/api/operators" >&2 || true
	die "GET $HTTP_URL/api/operators with the key of $API_KEY_FILE failed for 20s (log: $CRM_LOG)"
}

# ---------------------------------------------------------------------------------------------
# whole stack

# stack_pytest ARGS... -- pytest (Debian's, from the repo root) against this stack, with the
# environment the API tests read; returns pytest's exit status.
stack_pytest() {
	(
		cd "$STACK_ROOT"
		CRM_TEST_URL="$HTTP_URL" \
			CRM_TEST_DSN="$SUPER_DSN" \
			CRM_TEST_APP_DSN="$APP_DSN" \
			CRM_BIN="$CRM_BIN" \
			CRM_TEST_PIDFILE="$CRM_PID" \
			CRM_TEST_LOG="$CRM_LOG" \
			CRM_TEST_PG_LOG="$PG_LOG" \
			CRM_TEST_WORKERS="$CRM_WORKERS" \
			CRM_TEST_API_KEY="$(head -n 1 "$API_KEY_FILE" 2>/dev/null || true)" \
			/usr/bin/python3 -m pytest -q -p no:cacheprovider "$@"
	)
}

stack_up() {
	stack_init
	mkdir -p "$STACK_DIR" "$LOG_DIR"
	stack_packages
	stack_build
	crm_user_setup
	pg_up
	crm_stop
	db_setup
	npm_up
	nginx_up
	crm_start
	wait_answer
	api_key_ensure
	wait_ready
	log "up: API     $HTTP_URL/api/operators"
	log "    docs    http://localhost:$CRM_HTTP_PORT/docs/"
	log "    openapi http://localhost:$CRM_HTTP_PORT/openapi.json"
	log "    db      psql \"$APP_DSN\"   (password in $APP_PASSFILE)"
	log "    logs    $CRM_LOG"
	log "    key     $API_KEY_FILE (admin); try:"
	log "            curl -H \"Authorization: Bearer \$(cat $API_KEY_FILE)\" $HTTP_URL/api/operators"
	log "    Swagger UI: Authorize (the padlock at the top of /docs), paste the key"
}

stack_down() {
	stack_init
	crm_stop
	nginx_down
	pg_down
	log "down"
}

stack_status() {
	local pid
	stack_init
	if pid="$(crm_master_pid)"; then
		log "crm     running (master $pid, workers: $(pgrep -P "$pid" | xargs echo))"
	else
		log "crm     stopped"
	fi
	if pid="$(pid_alive "$NGINX_DIR/nginx.pid")"; then
		log "nginx   running (pid $pid) on $HTTP_URL"
	else
		log "nginx   stopped"
	fi
	if pg_running; then log "pg      running on 127.0.0.1:$CRM_PG_PORT ($PG_DATA)"; else log "pg      stopped"; fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	case "${1:-}" in
	up) stack_up ;;
	down) stack_down ;;
	status) stack_status ;;
	*)
		echo "usage: $0 up|down|status" >&2
		exit 2
		;;
	esac
fi
