#!/usr/bin/env bash
# formation.sh -- a pg_auto_failover formation on this one machine, for tests/ha/run (sourced)
#
# A monitor and two data nodes (a primary and its synchronous standby), three PostgreSQL 15
# clusters on 127.0.0.1, ports HA_PG_PORT_BASE+1 (monitor), +2 and +3 (nodes), each supervised
# by its own `pg_autoctl` keeper, all running as the unprivileged user postgres under
# $HA_DIR (/var/tmp/crm-ha-<offset>). The nodes trust connections from 127.0.0.1 (pg_autoctl
# --auth trust): a throwaway formation that only this machine reaches; production uses
# scram-sha-256 and TLS (pg_autoctl --auth scram-sha-256 --ssl-self-signed or real certificates).
# Functions: ha_install, ha_create, ha_state, ha_wait_state, ha_primary_port, ha_down.

HA_OFFSET="${CRM_PORT_OFFSET:-0}"
HA_PG_PORT_BASE=$((7000 + HA_OFFSET))
HA_MONITOR_PORT=$((HA_PG_PORT_BASE + 1))
HA_NODE_PORTS=($((HA_PG_PORT_BASE + 2)) $((HA_PG_PORT_BASE + 3)))
HA_DIR="${HA_DIR:-/var/tmp/crm-ha-$HA_OFFSET}"
HA_PG_BIN=/usr/lib/postgresql/15/bin
HA_MONITOR_URI="postgres://autoctl_node@127.0.0.1:$HA_MONITOR_PORT/pg_auto_failover?sslmode=disable"

# as_pgaf CMD... -- as postgres, with pg_ctl on PATH and pg_autoctl's own files under $HA_DIR
as_pgaf() {
	(cd / && runuser -u postgres -- env PATH="$HA_PG_BIN:/usr/bin:/bin" HOME="$HA_DIR" \
		XDG_CONFIG_HOME="$HA_DIR/config" XDG_DATA_HOME="$HA_DIR/share" XDG_RUNTIME_DIR="$HA_DIR/run" "$@")
}

ha_install() {
	if ! command -v pg_autoctl >/dev/null 2>&1 || [[ ! -e /usr/share/postgresql/15/extension/pgautofailover.control ]]; then
		echo "== installing postgresql-15-auto-failover"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15-auto-failover >/dev/null
	fi
}

# ha_keeper NAME ARGS... -- start a pg_autoctl keeper in the background, its log in $HA_DIR/NAME.log
ha_keeper() {
	local name="$1"
	shift
	as_pgaf setsid pg_autoctl "$@" </dev/null >>"$HA_DIR/$name.log" 2>&1 &
	disown $! 2>/dev/null || true
}

# ha_state -- "name port state" per data node, as the monitor sees it (assigned state)
ha_state() {
	psql -X -qAt -F ' ' "host=127.0.0.1 port=$HA_MONITOR_PORT dbname=pg_auto_failover user=autoctl_node" \
		-c "SELECT nodename, nodeport, reportedstate, goalstate FROM pgautofailover.node ORDER BY nodeid" 2>/dev/null
}

# ha_wait_state SECONDS PATTERN -- until every line of ha_state... (grep -E on the whole output)
ha_wait_state() {
	local deadline=$((SECONDS + $1))
	while ((SECONDS < deadline)); do
		if ha_state | tr '\n' ';' | grep -Eq "$2"; then
			return 0
		fi
		sleep 0.5
	done
	echo "formation not in state /$2/ within $1 s:" >&2
	ha_state >&2
	return 1
}

# ha_primary_port -- the port of the node the monitor has as primary (reported and goal)
ha_primary_port() {
	ha_state | awk '$3 == "primary" && $4 == "primary" { print $2; exit }'
}

ha_create() {
	ha_down
	rm -rf "$HA_DIR"
	install -d -o postgres -g postgres -m 0700 "$HA_DIR" "$HA_DIR/config" "$HA_DIR/share" "$HA_DIR/run"
	echo "== monitor on 127.0.0.1:$HA_MONITOR_PORT"
	as_pgaf pg_autoctl create monitor --pgdata "$HA_DIR/monitor" --pgport "$HA_MONITOR_PORT" \
		--hostname 127.0.0.1 --auth trust --no-ssl >>"$HA_DIR/monitor.log" 2>&1
	ha_keeper monitor run --pgdata "$HA_DIR/monitor"
	for _ in $(seq 60); do
		as_pgaf "$HA_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$HA_MONITOR_PORT" && break
		sleep 0.5
	done
	# Failover sooner than the defaults (20 s unhealthy, 5 s checks): a test, not a WAN
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$HA_MONITOR_PORT dbname=pg_auto_failover user=postgres" <<-'SQL'
		ALTER SYSTEM SET pgautofailover.health_check_period = 1000;
		ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;
		ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;
		ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500;
		ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 3000;
		SELECT pg_reload_conf();
	SQL
	local i
	for i in 0 1; do
		echo "== node$((i + 1)) on 127.0.0.1:${HA_NODE_PORTS[$i]}"
		ha_keeper "node$((i + 1))" create postgres --pgdata "$HA_DIR/node$((i + 1))" --pgport "${HA_NODE_PORTS[$i]}" \
			--hostname 127.0.0.1 --name "node$((i + 1))" --dbname crm --auth trust --no-ssl \
			--monitor "$HA_MONITOR_URI" --run
		if ((i == 0)); then
			ha_wait_state 120 "^node1 [0-9]+ single single;$" || return 1
		fi
	done
	ha_wait_state 180 "node1 [0-9]+ primary primary;node2 [0-9]+ secondary secondary;" || return 1
	# the application's role (not a superuser) owns database crm; replicated to the standby
	psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=${HA_NODE_PORTS[0]} dbname=crm user=postgres" <<-'SQL'
		SET client_min_messages = warning;
		CREATE ROLE crm LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
		ALTER DATABASE crm OWNER TO crm;
	SQL
}

# ha_healthy -- the formation runs with a primary and a secondary (for HA_REUSE=1)
ha_healthy() {
	ha_state 2>/dev/null | tr '\n' ';' | grep -Eq "primary primary;.*secondary secondary;|secondary secondary;.*primary primary;"
}

# ha_dsn USER -- the multi-host connection string: whichever node accepts writes
ha_dsn() {
	printf 'host=127.0.0.1,127.0.0.1 port=%s,%s dbname=crm user=%s target_session_attrs=read-write connect_timeout=2' \
		"${HA_NODE_PORTS[0]}" "${HA_NODE_PORTS[1]}" "$1"
}

# ha_down -- stop every keeper and cluster of $HA_DIR (keepers first: they would restart them)
ha_down() {
	local d pid
	[[ -d "$HA_DIR" ]] || return 0
	for d in node1 node2 monitor; do
		[[ -d "$HA_DIR/$d" ]] || continue
		as_pgaf pg_autoctl stop --pgdata "$HA_DIR/$d" --immediate >/dev/null 2>&1 || true
	done
	sleep 1
	for d in node1 node2 monitor; do
		pid="$(head -n 1 "$HA_DIR/$d/postmaster.pid" 2>/dev/null || true)"
		if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
			as_pgaf "$HA_PG_BIN/pg_ctl" -D "$HA_DIR/$d" -m immediate stop >/dev/null 2>&1 || true
		fi
	done
}

# ha_stop_node NAME -- stop a data node's keeper and its PostgreSQL at once (immediate)
ha_stop_node() {
	as_pgaf pg_autoctl stop --pgdata "$HA_DIR/$1" --immediate
}

# ha_start_node NAME -- start a data node's keeper again (it starts PostgreSQL and rejoins)
ha_start_node() {
	ha_keeper "$1" run --pgdata "$HA_DIR/$1"
}
