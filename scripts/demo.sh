#!/usr/bin/env bash
# The kokpit demo, from a fresh machine: sets everything up, starts a local fleet (a hub API server
# and three member clusters of real Kubernetes processes with kwok nodes), installs kokpit on the
# hub, runs the hub's controllers, joins the members in three regions, runs a sample app on every
# member and shows where it runs. Everything it starts is stopped when it ends; on a terminal it
# waits for Enter first, so the fleet can be explored from another shell.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

dir=${KOKPIT_DEMO_DIR:-$PWD/.kokpit/demo}
kokpit=.venv/bin/kokpit
kubectl="$($kokpit binaries path)/kubectl"
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

hub_pid=""
cleanup() {
  say "stopping the fleet"
  [[ -n $hub_pid ]] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null
  $kokpit sandbox down --dir "$dir" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

$kokpit sandbox down --dir "$dir" >/dev/null 2>&1 || true
say "starting a hub and 3 member clusters"
$kokpit sandbox up --members 3 --nodes 3 --dir "$dir"

export KOKPIT_KUBECONFIG="$dir/hub.kubeconfig"
say "installing kokpit on the hub and starting its controllers"
$kokpit install
mkdir -p "$dir/logs"
$kokpit hub run --metrics-port 0 --probe-period 2 >"$dir/logs/kokpit-hub.log" 2>&1 &
hub_pid=$!

say "joining the members"
regions=(eu-west us-east ap-south)
for i in 1 2 3; do
  region=${regions[$((i - 1))]}
  $kokpit join "member$i" --kubeconfig "$dir/member$i.kubeconfig" --provider kwok --region "$region" --zone "$region-a"
done
"$kubectl" --kubeconfig "$KOKPIT_KUBECONFIG" wait --for=condition=Ready clusters.cluster.kokpit.io --all --timeout=60s
$kokpit get clusters

say "running the sample app on every member"
for member in member1 member2 member3; do
  kc=("$kubectl" --kubeconfig "$dir/$member.kubeconfig")
  "${kc[@]}" create deployment web --image=nginx:1.27 --replicas=3 >/dev/null
done
for member in member1 member2 member3; do
  "$kubectl" --kubeconfig "$dir/$member.kubeconfig" rollout status deployment/web --timeout=90s
done

say "where it runs"
for member in member1 member2 member3; do
  echo "--- $member"
  "$kubectl" --kubeconfig "$dir/$member.kubeconfig" get pods -o wide -l app=web
done

say "the fleet"
$kokpit sandbox status --dir "$dir"

if [[ -t 0 ]]; then
  say "the fleet is up; kubeconfigs are in $dir (e.g. $kubectl --kubeconfig $dir/member1.kubeconfig get nodes)"
  read -r -p "Press Enter to stop it. " _
fi
