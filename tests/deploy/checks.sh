# The check counters and helpers the deployment checks share (sourced, not run).
# The sourcing script sets `check_dir`, where each check's output goes, and `check_tail`, how many
# of its last lines a failure shows; `passed` and `failed` count.
passed=${passed:-0}
failed=${failed:-0}
ok() { passed=$((passed + 1)); echo "  ok   $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
  local what="$1"; shift
  if "$@" >"$check_dir/last.out" 2>&1; then
    ok "$what"
  else
    bad "$what"; sed 's/^/       | /' "$check_dir/last.out" | tail -n "${check_tail:-15}"
  fi
}
