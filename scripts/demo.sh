#!/usr/bin/env bash
# The kokpit demo, from a fresh machine: sets everything up, starts a local fleet (a hub API server
# and three member clusters of real Kubernetes processes with kwok nodes), installs kokpit on the
# hub, runs the hub's controllers, joins the members in three regions, writes a sample app and a
# PropagationPolicy to the hub, and shows the app spread across the members and its status back
# on the hub. As root, member3 runs behind a firewall as a Pull member (its agent registers with a
# token and dials out; its copy is shown through the hub's proxy), and a hosted cluster gets two
# real nodes. Everything it starts is stopped when it ends; on a terminal it
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
  # The hosted cluster's control plane lives and dies with the hub process.
  [[ -n $hub_pid ]] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null
  [[ $(id -u) -eq 0 ]] && $kokpit sandbox hosts down --dir "$dir" >/dev/null 2>&1
  $kokpit sandbox down --dir "$dir" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

$kokpit sandbox down --dir "$dir" >/dev/null 2>&1 || true
# As root, member3 sits behind a firewall in its own network namespace and joins by itself as a
# Pull cluster: its agent registers with a bootstrap token and dials out to the hub.
pull=()
push=(1 2 3)
if [[ $(id -u) -eq 0 ]]; then
  pull=(--pull member3)
  push=(1 2)
  say "starting a hub and 3 member clusters (member3 behind a firewall, run by its agent)"
else
  say "starting a hub and 3 member clusters"
fi
$kokpit sandbox up --members 3 --nodes 3 --dir "$dir" "${pull[@]}"

export KOKPIT_KUBECONFIG="$dir/hub.kubeconfig"
say "installing kokpit on the hub and starting its controllers"
$kokpit install
mkdir -p "$dir/logs"
# The hub keeps the hosted cluster's etcd and control plane in a state directory of this run only.
rm -rf "$dir/hub-state"
# The proxy and the agents' tunnel listen where the hub API server does (with a Pull member: the
# address its namespace reaches).
hub_host=$("$kubectl" --kubeconfig "$KOKPIT_KUBECONFIG" config view --minify -o jsonpath='{.clusters[0].cluster.server}' | sed -E 's#https://([^:/]+).*#\1#')
$kokpit hub run --metrics-port 0 --probe-period 2 --state-dir "$dir/hub-state" --proxy-addr "$hub_host:0" \
  >"$dir/logs/kokpit-hub.log" 2>&1 &
hub_pid=$!

say "joining the members"
regions=(eu-west us-east ap-south)
for i in "${push[@]}"; do
  region=${regions[$((i - 1))]}
  $kokpit join "member$i" --kubeconfig "$dir/member$i.kubeconfig" --provider kwok --region "$region" --zone "$region-a"
done
if [[ ${#pull[@]} -gt 0 ]]; then
  for _ in $(seq 1 120); do
    "$kubectl" --kubeconfig "$KOKPIT_KUBECONFIG" get clusters.cluster.kokpit.io member3 >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
"$kubectl" --kubeconfig "$KOKPIT_KUBECONFIG" wait --for=condition=Ready clusters.cluster.kokpit.io --all --timeout=60s
$kokpit get clusters

say "spreading the sample app across the fleet from the hub (3 + 3 + 3 replicas)"
"$kubectl" --kubeconfig "$KOKPIT_KUBECONFIG" apply -f - <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: demo}
data: {GREETING: "hello from kokpit"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 9
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        envFrom: [{configMapRef: {name: web-config}}]
---
apiVersion: policy.kokpit.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web, namespace: demo}
spec:
  resourceSelectors:
  - {apiVersion: apps/v1, kind: Deployment, name: web}
  - {apiVersion: v1, kind: ConfigMap, name: web-config}
  placement:
    clusterAffinity: {clusterNames: [member1, member2, member3]}
    replicaScheduling:
      replicaSchedulingType: Divided
      replicaDivisionPreference: Weighted
      weightPreference:
        staticWeightList:
        - {targetCluster: {clusterNames: [member1]}, weight: 1}
        - {targetCluster: {clusterNames: [member2]}, weight: 1}
        - {targetCluster: {clusterNames: [member3]}, weight: 1}
---
apiVersion: policy.kokpit.io/v1alpha1
kind: OverridePolicy
metadata: {name: eu-label, namespace: demo}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]
  overrideRules:
  - targetCluster: {fieldSelector: {matchExpressions: [{key: region, operator: In, values: [eu-west]}]}}
    overriders: {labelsOverrider: [{operator: add, value: {served-from: eu}}]}
YAML

for _ in $(seq 1 120); do
  ready=$("$kubectl" --kubeconfig "$KOKPIT_KUBECONFIG" get deployment web -n demo -o jsonpath='{.status.readyReplicas}')
  [[ $ready == 9 ]] && break
  sleep 0.5
done

say "where it runs"
if [[ ${#pull[@]} -gt 0 ]]; then
  # member3 cannot be reached from here: ask through the hub's proxy, which goes down its agent's tunnel.
  $kokpit get kubeconfig member3 --proxy --output "$dir/member3-proxy.kubeconfig"
fi
for member in member1 member2 member3; do
  kubeconfig="$dir/$member.kubeconfig"
  if [[ $member == member3 && ${#pull[@]} -gt 0 ]]; then
    kubeconfig="$dir/member3-proxy.kubeconfig"
    echo "--- $member (Pull, through the hub's proxy and its agent's tunnel)"
  else
    echo "--- $member"
  fi
  "$kubectl" --kubeconfig "$kubeconfig" get deployment -n demo -L served-from
  "$kubectl" --kubeconfig "$kubeconfig" get pods -n demo -o wide
done

say "what the hub knows: the binding (where and why) and the template's aggregated status"
"$kubectl" --kubeconfig "$KOKPIT_KUBECONFIG" get resourcebindings.work.kokpit.io -n demo
"$kubectl" --kubeconfig "$KOKPIT_KUBECONFIG" get resourcebinding.work.kokpit.io web-deployment -n demo \
  -o jsonpath='{range .spec.decisions[*]}{.cluster}{": "}{.reason}{" ("}{.replicas}{")"}{"\n"}{end}'
"$kubectl" --kubeconfig "$KOKPIT_KUBECONFIG" get deployment web -n demo

if [[ $(id -u) -eq 0 ]]; then
  say "a hosted cluster with two real nodes (containerd + runc + kubelet) on two sandbox hosts"
  $kokpit sandbox hosts down --dir "$dir" >/dev/null 2>&1 || true
  $kokpit sandbox hosts up --count 2 --dir "$dir"
  "$kubectl" --kubeconfig "$KOKPIT_KUBECONFIG" apply -f "$dir/hosts.yaml"
  $kokpit create cluster edge --workers 2 --exposure-address 10.77.0.1
  # The cluster counts Ready Nodes; a Machine is Ready once every component on it checked out too.
  "$kubectl" --kubeconfig "$KOKPIT_KUBECONFIG" wait --for=condition=Ready machines.machines.kokpit.io --all --timeout=180s
  $kokpit machines get
  $kokpit get kubeconfig edge --output "$dir/edge.kubeconfig"
  web_image=$($kokpit images list | grep /web:)
  "$kubectl" --kubeconfig "$dir/edge.kubeconfig" run hello --image "$web_image" --image-pull-policy Never
  "$kubectl" --kubeconfig "$dir/edge.kubeconfig" wait --for=condition=Ready pod/hello --timeout=120s
  "$kubectl" --kubeconfig "$dir/edge.kubeconfig" get nodes,pods -o wide
  pod_ip=$("$kubectl" --kubeconfig "$dir/edge.kubeconfig" get pod hello -o jsonpath='{.status.podIP}')
  echo "--- the pod answers from host-2's network namespace:"
  nsenter --net=/run/netns/kokpit-host-2 /bin/busybox wget -qO- "http://$pod_ip:8080/"
else
  say "skipping real nodes (sandbox hosts need root)"
fi

say "the fleet"
$kokpit sandbox status --dir "$dir"

if [[ -t 0 ]]; then
  say "the fleet is up; kubeconfigs are in $dir (e.g. $kubectl --kubeconfig $dir/member1.kubeconfig get nodes)"
  read -r -p "Press Enter to stop it. " _
fi
