#!/usr/bin/env bash
# Drives a running examples/joby with a real external MCP client, the MCP
# Inspector CLI from npm: it lists the tools, calls create_lead and
# list_leads, and checks what came back. .ci/run runs it.
#
# The Inspector needs Node >= 22.7.5; this machine has Node 20, so the script
# takes Node from the npm registry (the "node" package ships the binary) and
# runs the pinned Inspector with it. Both are pinned; npm caches them, so
# only the first run downloads.
set -euo pipefail
cd "$(dirname "$0")/.."
INSPECTOR="@modelcontextprotocol/inspector@0.16.8"
NODE="node@22.23.3"

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd examples/joby && GOWORK=off go build -o "$work/joby" .)
"$work/joby" -demo -addr 127.0.0.1:0 -db "$work/demo.db" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 100); do
  grep -q '"mcpServers"' "$work/out" 2>/dev/null && break
  sleep 0.1
done
url=$(grep -o '"url":"[^"]*"' "$work/out" | head -n1 | cut -d'"' -f4)
key=$(grep -o 'Bearer joby_live_[A-Za-z0-9_]*' "$work/out" | head -n1 | cut -d' ' -f2)
if [ -z "$url" ] || [ -z "$key" ]; then
  echo "mcp-inspector: the demo printed no MCP configuration" >&2
  cat "$work/out" "$work/err" >&2
  exit 1
fi

inspector() {
  npx -y -p "$NODE" -p "$INSPECTOR" -c \
    "mcp-inspector --cli '$url' --transport http --header 'Authorization: Bearer $key' $*" 2>"$work/npx.err" || {
    cat "$work/npx.err" >&2
    return 1
  }
}

echo "== $INSPECTOR on $NODE against $url"
inspector --method tools/list >"$work/tools.json"
tools=$(grep -o '"name": "[a-z_]*"' "$work/tools.json" | cut -d'"' -f4 | tr '\n' ' ')
echo "tools/list: $tools"
for want in list_leads get_lead create_lead update_lead whoami; do
  case " $tools " in *" $want "*) ;; *) echo "mcp-inspector: tools/list lacks $want" >&2; exit 1 ;; esac
done

inspector --method tools/call --tool-name create_lead --tool-arg first_name=Inspector --tool-arg status=New >"$work/create.json"
id=$(grep -o '"id": "[0-9a-f-]*"' "$work/create.json" | head -n1 | cut -d'"' -f4)
echo "tools/call create_lead: id $id"
[ -n "$id" ] && ! grep -q '"isError": true' "$work/create.json" || { cat "$work/create.json" >&2; exit 1; }

inspector --method tools/call --tool-name list_leads --tool-arg status=New --tool-arg limit=5 >"$work/list.json"
grep -q "\"id\": \"$id\"" "$work/list.json" || { cat "$work/list.json" >&2; exit 1; }
echo "tools/call list_leads: $(grep -c '"lead_number"' "$work/list.json") lead(s), has_more $(grep -o '"has_more": [a-z]*' "$work/list.json" | cut -d' ' -f2)"

inspector --method tools/call --tool-name create_lead --tool-arg email=not-an-email >"$work/invalid.json"
grep -q '"isError": true' "$work/invalid.json" && grep -q 'Invalid field values' "$work/invalid.json" || { cat "$work/invalid.json" >&2; exit 1; }
echo "tools/call create_lead (bad email): tool error Invalid field values"
echo "mcp-inspector: ok"
