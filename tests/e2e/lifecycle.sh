#!/usr/bin/env bash
# The tag lifecycle (issue 9) with real clients: skopeo and docker push, docker pulls,
# berth's tag commands, `berth retention` and `berth garbage-collect` on the storage root,
# then the reference registry (distribution 2.8.2) serving the same root.
#   usage: lifecycle.sh berth   (berth only: the tag routes, commands and config are berth's)
#   1. seed 002's workflow, four days: daily builds pushed as `beta`, a check (docker pulls
#      beta: image ID = the build's config), then `berth tag promote app archive=latest
#      latest=beta`; docker pulls latest and archive: digests exactly that day's beta and
#      the previous latest. Races, made exact by a loopback proxy that holds the promotes'
#      POSTs (lifecycle_helpers.py): six promotes that all read the same tags write at once
#      (one wins, five exit 1 "moved since it was read", one history entry per tag), and a
#      tag pushed between one promote's read and its write (exit 1, nothing changed).
#      Metrics and notification events of the moves.
#   2. immutable tags (berth.tags.immutable): docker push and skopeo copy of another image
#      over v1.0.0 refused (DENIED naming the rule), DELETE of the tag and of its manifest
#      (curl) and `berth tag delete`/`berth tag copy` refused, the same image pushed again
#      accepted, a tag outside the rule re-pointed and deleted; v1.0.0 still pulls the
#      original digest. deny events and the refusal counter.
#   3. retention on content pushed with skopeo, push times backdated with `touch -d` on
#      current/link and revision links: `berth retention --dry-run` and `berth retention`
#      print the same removal lines naming exactly the expected tags and manifests, the run
#      removes exactly their files (blobs stay), keeptags, keeplatest, keepwithin, an
#      immutable tag and ungoverned tags are kept; then `garbage-collect` removes exactly the
#      removed manifests' blobs from disk (du shrinks); every kept image pulls byte for byte.
#      Then the server applies the policies itself (berth.retention.interval): a tag
#      backdated while it runs is removed, with delete events and retention metrics.
#   4. history and rollback of app:latest after its re-points: `berth tag history` (text and
#      --json = the route's JSON), `berth tag rollback` (one back, then to a digest), docker
#      pulls the rolled-back digests.
#   5. drop-in: the reference serves the same root (catalog, tags, digests, docker pull of
#      latest, its own GC dry run finds nothing), and a tag it re-points shows up in berth's
#      history (an index entry without a history file).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND=${1:?usage: lifecycle.sh berth}
e2e_init "$@"

V2=docker/registry/v2
ROOT=$WORK/root
CFG=$WORK/lifecycle.yml
COPY=(sk copy --src-tls-verify=false --dest-tls-verify=false)
DAY=86400
RULE='berth.tags.immutable rule "releases"'

# ---------------------------------------------------------------- helpers

# write_config: one config for berth and the reference: delete on, metrics on a debug
# port, a notification endpoint, an immutable rule and two retention policies (section 3),
# applied by the server every RET_INTERVAL (default 0s: never).
write_config() {
  cat >"$CFG" <<EOF
version: 0.1
log:
  level: info
http:
  addr: 127.0.0.1:$PORT
  debug:
    addr: 127.0.0.1:$DEBUG_PORT
    prometheus:
      enabled: true
      path: /metrics
storage:
  filesystem:
    rootdirectory: $ROOT
  delete:
    enabled: true
notifications:
  endpoints:
    - name: e2e
      url: http://127.0.0.1:$EVENTS_PORT/events
      timeout: 2s
      threshold: 3
      backoff: 1s
berth:
  tags:
    immutable:
      - name: releases
        repository: "**"
        tags: 'v\d+\.\d+\.\d+'
  retention:
    interval: ${RET_INTERVAL:-0s}
    policies:
      - name: nightly
        repository: "ret/*"
        tags: "nightly-.*"
        keeplatest: 2
        keepwithin: 720h
        untaggedgrace: 168h
      - name: rest
        repository: "ret/app"
        keeplatest: 1
        keepwithin: 720h
        keeptags: [latest, beta, archive]
EOF
}

# serve KIND: start a registry with the suite's config (same port every time, so docker's
# references stay valid across restarts).
serve() { start_registry_config "$1" "$CFG" http "$PORT"; }

# offline LOG CMD ARGS...: an offline berth command (retention, garbage-collect) without any
# REGISTRY_* variable; stdout to LOG, stderr to LOG.err; prints the exit code. With
# OFFLINE_KIND=reference, the reference's.
offline() {
  local log=$1 v rc=0 bin
  shift
  bin=$(registry_bin "${OFFLINE_KIND:-berth}")
  local -a clean_env=(-u AWS_CA_BUNDLE)
  for v in $(compgen -e); do [[ $v == REGISTRY_* ]] && clean_env+=(-u "$v"); done
  env "${clean_env[@]}" "$bin" "$@" >"$log" 2>"$log.err" || rc=$?
  [ "$rc" = 0 ] || tail -3 "$log.err" | sed 's/^/       /' >&2
  echo "$rc"
}

# bt ARGS...: a berth client command against the registry (or BT_URL, the holding proxy).
bt() {
  timeout "$E2E_CMD_TIMEOUT" env -u BERTH_USERNAME -u BERTH_PASSWORD -u BERTH_REGISTRY \
    "$BERTH" "$@" --registry "${BT_URL:-$REG_URL}"
}

# img N ARCH [FIELD]: a digest of test image set N (FIELD manifest by default).
img() { jq -r --arg a "$2" --arg f "${3:-manifest}" '.[$a][$f]' "$WORK/img/$1/oci/images.json"; }
# image_blobs N ARCH: manifest, config and layer digests of one image.
image_blobs() { jq -r --arg a "$2" '.[$a] | .manifest, .config, .layers[]' "$WORK/img/$1/oci/images.json"; }

# push N ARCH REPO:TAG: skopeo copy of one test image into the registry.
push() { quiet "${COPY[@]}" "oci:$WORK/img/$1/oci:$2" "docker://$REG/$3"; }

# digest_of REPO TAG: the digest a HEAD of the tag answers, "none" on 404.
digest_of() {
  local s
  s=$(fetch HEAD "$REG_URL/v2/$1/manifests/$2" -H "Accept: $ALL_MANIFESTS")
  if [ "$s" = 200 ]; then header_of "$WORK/r.hdr" Docker-Content-Digest; else echo "none($s)"; fi
}

# state REPO: "archive=D beta=D latest=D" as the registry serves them now.
state() { echo "archive=$(digest_of "$1" archive) beta=$(digest_of "$1" beta) latest=$(digest_of "$1" latest)"; }

# dpull NAME REPO:TAG DIGEST CONFIG: docker pulls the tag (nothing of it cached locally) and
# gets exactly DIGEST, an image whose ID is CONFIG.
dpull() {
  local name=$1 ref=$2 want=$3 config=$4
  dk rmi "$REG/$ref" >/dev/null 2>&1 || true
  quiet dk pull "$REG/$ref"
  check "$name: docker pull $ref: digest" "Digest: $want" "$(grep -o 'Digest: .*' "$WORK/cmd.log")"
  check "$name: docker pull $ref: image ID is the build's config" "$config" \
    "$(dk image inspect "$REG/$ref" | jq -r '.[0].Id')"
  check "$name: docker pull $ref: RepoDigests" "$REG/${ref%%:*}@$want" \
    "$(dk image inspect "$REG/$ref" | jq -r '.[0].RepoDigests[0]')"
  quiet dk rmi "$REG/$ref"
}

# lines_sorted TEXT: the lines of TEXT sorted, as one string (for unordered line sets).
lines_sorted() { LC_ALL=C sort <<<"$1" | sed '/^$/d'; }

# metric SERIES: a counter's value on the debug port's /metrics (0 when absent).
metric() {
  curl -s "http://127.0.0.1:$DEBUG_PORT/metrics" | awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }'
}

# history_json REPO TAG: the history route's JSON (GET /v2/_berth/history/REPO/TAG).
history_json() { curl -s "$REG_URL/v2/_berth/history/$1/$2"; }

# history_text REPO:TAG: `berth tag history` as "MARK DIGEST VIA" lines (MARK * or -).
history_text() {
  bt tag history "$1" | awk '{ m = ($0 ~ /^\* /) ? "*" : "-"; sub(/^[* ] /, ""); print m, $2, $3 }'
}

# events JQ: the notification events received so far that JQ selects, one compact line each.
events() { if [ -s "$EVENTS" ]; then jq -c ".events[] | select($1)" "$EVENTS"; fi; }

# wait_events N JQ: until at least N events match JQ (at most 15 s; delivery is queued).
wait_events() {
  local i
  for ((i = 0; i < 150; i++)); do
    [ "$(events "$2" | wc -l)" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 0
}

# start_helper KIND PORTFILE ARGS...: lifecycle_helpers.py KIND in the background; waits for
# its port file and prints the port.
start_helper() {
  local kind=$1 pf=$2 i
  shift 2
  python3 "$E2E_DIR/lifecycle_helpers.py" "$kind" "$pf" "$@" >"$WORK/$kind.log" 2>&1 &
  track_pid "$!"
  for ((i = 0; i < 100; i++)); do
    [ -s "$pf" ] && { cat "$pf"; return 0; }
    sleep 0.1
  done
  echo "lifecycle_helpers.py $kind did not start" >&2
  return 1
}

# wait_arrivals N: until the proxy holds N promote POSTs (at most 60 s).
wait_arrivals() {
  local i
  for ((i = 0; i < 600; i++)); do
    [ "$(find "$CTL" -name 'arrived.*' | wc -l)" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# snapshot OUT: every file under the root, relative to docker/registry/v2.
snapshot() { (cd "$ROOT/$V2" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$1"; }
blobs_of() { sed -nE 's|^blobs/sha256/../([0-9a-f]{64})/data$|sha256:\1|p' "$1" | LC_ALL=C sort; }
lines_minus() { LC_ALL=C comm -23 <(LC_ALL=C sort -u "$1") <(LC_ALL=C sort -u "$2"); }

# check_set NAME EXPECTED_FILE ACTUAL_FILE: the same set of lines.
check_set() {
  local name=$1 e=$WORK/set.expected a=$WORK/set.actual
  LC_ALL=C sort -u "$2" | sed '/^$/d' >"$e"
  LC_ALL=C sort -u "$3" | sed '/^$/d' >"$a"
  if cmp -s "$e" "$a"; then
    ok "$name ($(wc -l <"$e") items)"
  else
    not_ok "$name"
    LC_ALL=C comm -23 "$e" "$a" | head -8 | sed 's/^/       missing: /'
    LC_ALL=C comm -13 "$e" "$a" | head -8 | sed 's/^/       extra:   /'
  fi
}

# rfc3339 EPOCH: the time as retention prints a push time.
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# ---------------------------------------------------------------- the images
# Sets 1-16, each an amd64 and an arm64 image with fresh random layers (mkimages.py).
#   app (sections 1, 4, 5)  D1..D6 = amd64 of sets 1..6 (the daily builds), X = arm64 of
#                           set 6 (pushed onto latest by someone else), N = amd64 of set 16
#                           (pushed through the reference)
#   rel/app (section 2)     amd64 of sets 7 (v1.0.0) and 8 (another image)
#   ret/* (section 3)       sets 9..15, see test_retention_push; 17 amd64 for the
#                           scheduled run
D() { img "$1" amd64; }
DCFG() { img "$1" amd64 config; }
X() { img 6 arm64; }

# ---------------------------------------------------------------- 1. seed 002's workflow

# day N: push the daily build as beta, check it (docker pulls beta: the build's image),
# promote, pull latest and archive.
day() {
  local n=$1 out
  push "$n" amd64 app:beta
  dpull "day $n check" app:beta "$(D "$n")" "$(DCFG "$n")"
  out=$(bt tag promote app archive=latest latest=beta)
  local was=new
  [ "$n" -gt 2 ] && was=$(D $((n - 2)))
  check "day $n: promote prints the moves" \
    "$(lines_sorted "app:archive -> $(D $((n - 1))) (was $was)
app:latest -> $(D "$n") (was $(D $((n - 1))))")" "$(lines_sorted "$out")"
  check "day $n: tags after the promote" "archive=$(D $((n - 1))) beta=$(D "$n") latest=$(D "$n")" "$(state app)"
  dpull "day $n latest" app:latest "$(D "$n")" "$(DCFG "$n")"
  dpull "day $n archive" app:archive "$(D $((n - 1)))" "$(DCFG $((n - 1)))"
}

test_workflow() {
  section "1. seed 002: beta daily, check, berth tag promote app archive=latest latest=beta"
  local out moves0
  moves0=$(metric 'registry_tag_moves_total{via="promote"}')
  push 1 amd64 app:beta
  dpull "day 1 check" app:beta "$(D 1)" "$(DCFG 1)"
  # No latest yet: the promote's source is missing, an error before anything is sent.
  check_fails "day 1: promote archive=latest with no latest fails" bt tag promote app archive=latest latest=beta
  check_last_output "day 1: the error names the missing tag" 'latest'
  check "day 1: the failed promote changed nothing" "archive=none(404) beta=$(D 1) latest=none(404)" "$(state app)"
  out=$(bt tag copy app:beta latest)
  check "day 1: berth tag copy app:beta latest" "app:latest -> $(D 1) (was new)" "$out"
  dpull "day 1 latest" app:latest "$(D 1)" "$(DCFG 1)"
  local n
  for n in 2 3 4; do day "$n"; done
  check "metrics: registry_tag_moves_total{via=\"promote\"} counts the 6 moves" \
    $((moves0 + 6)) "$(metric 'registry_tag_moves_total{via="promote"}')"
  # Listeners that deploy on a push of latest see each promotion as a push event.
  local sel=".action == \"push\" and .target.tag == \"latest\" and .berth.operation == \"promote\""
  wait_events 3 "$sel"
  check "events: a push event of app:latest per promotion, with berth.previous" \
    "$(lines_sorted "$(for n in 2 3 4; do echo "$(D "$n") $(D $((n - 1)))"; done)")" \
    "$(lines_sorted "$(events "$sel and .target.repository == \"app\"" | jq -r '"\(.target.digest) \(.berth.previous)"')")"
}

# Six promotes read the same tags; the proxy holds their POSTs until all six arrived, then
# lets them go at once: exactly one wins, the others lose cleanly.
test_race_storm() {
  section "1. six concurrent promotes: one wins, five lose the race cleanly"
  local i n=6 conflicts0 wins=0 losses=0 bad=""
  push 5 amd64 app:beta
  check "before the race" "archive=$(D 3) beta=$(D 5) latest=$(D 4)" "$(state app)"
  local hl0 ha0
  hl0=$(history_json app latest | jq '.history | length')
  ha0=$(history_json app archive | jq '.history | length')
  conflicts0=$(metric registry_tag_conflicts_total)
  rm -f "$CTL"/arrived.*
  touch "$CTL/hold"
  for ((i = 1; i <= n; i++)); do
    (
      rc=0
      BT_URL=$PROXY_URL bt tag promote app archive=latest latest=beta >"$WORK/race.$i.out" 2>"$WORK/race.$i.err" || rc=$?
      echo "$rc" >"$WORK/race.$i.rc"
    ) &
  done
  wait_arrivals "$n" || echo "#   only $(find "$CTL" -name 'arrived.*' | wc -l) of $n promotes reached the proxy"
  check "all $n promotes read the tags and sent their POST before any was forwarded" "$n" \
    "$(find "$CTL" -name 'arrived.*' | wc -l)"
  rm -f "$CTL/hold"
  wait
  local winner="" re='^berth: tag promote: tag (archive|latest) moved since it was read \(expected (sha256:[0-9a-f]{64}), now (sha256:[0-9a-f]{64})\); nothing changed$'
  for ((i = 1; i <= n; i++)); do
    case $(cat "$WORK/race.$i.rc") in
      0) wins=$((wins + 1)); winner=$i ;;
      1)
        losses=$((losses + 1))
        local line
        line=$(grep -m1 'moved since it was read' "$WORK/race.$i.err" || true)
        if [[ $line =~ $re ]]; then
          # The tag reported moved went from what all six read to what the winner wrote.
          case "${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]}" in
            "archive $(D 3) $(D 4)" | "latest $(D 4) $(D 5)") ;;
            *) bad="$bad [$i: $line]" ;;
          esac
        else
          bad="$bad [$i: $(head -2 "$WORK/race.$i.err" | tr '\n' ' ')]"
        fi
        [ -s "$WORK/race.$i.out" ] && bad="$bad [$i printed on stdout: $(head -1 "$WORK/race.$i.out")]"
        ;;
      *) bad="$bad [$i: exit $(cat "$WORK/race.$i.rc"): $(head -2 "$WORK/race.$i.err" | tr '\n' ' ')]" ;;
    esac
  done
  check "race: one promote won" 1 "$wins"
  check "race: $((n - 1)) exited 1" $((n - 1)) "$losses"
  check "race: every loser printed 'tag T moved since it was read (expected, now); nothing changed' with the right digests" "" "$bad"
  echo "#   $(grep -h -m1 'moved since' "$WORK"/race.*.err | head -1)"
  [ -n "$winner" ] && check "race: the winner printed its two moves" \
    "$(lines_sorted "app:archive -> $(D 4) (was $(D 3))
app:latest -> $(D 5) (was $(D 4))")" "$(lines_sorted "$(cat "$WORK/race.$winner.out")")"
  check "race: final tags (archive = the old latest, latest = beta)" \
    "archive=$(D 4) beta=$(D 5) latest=$(D 5)" "$(state app)"
  check "race: latest got exactly one history entry" $((hl0 + 1)) "$(history_json app latest | jq '.history | length')"
  check "race: archive got exactly one history entry" $((ha0 + 1)) "$(history_json app archive | jq '.history | length')"
  check "race: registry_tag_conflicts_total counts the $((n - 1)) refusals" \
    $((conflicts0 + n - 1)) "$(metric registry_tag_conflicts_total)"
  dpull "race latest" app:latest "$(D 5)" "$(DCFG 5)"
  dpull "race archive" app:archive "$(D 4)" "$(DCFG 4)"
}

# A promote reads the tags; before its POST is forwarded someone pushes another image onto
# latest. The promote must fail and change nothing.
test_race_between() {
  section "1. latest pushed between a promote's read and its write"
  local rc=0 pid
  push 6 amd64 app:beta
  rm -f "$CTL"/arrived.*
  touch "$CTL/hold"
  BT_URL=$PROXY_URL bt tag promote app archive=latest latest=beta >"$WORK/between.out" 2>"$WORK/between.err" &
  pid=$!
  wait_arrivals 1 || true
  push 6 arm64 app:latest
  rm -f "$CTL/hold"
  wait "$pid" || rc=$?
  check "promote with latest moved under it: exit code" 1 "$rc"
  check "promote with latest moved under it: the message" \
    "berth: tag promote: tag latest moved since it was read (expected $(D 5), now $(X)); nothing changed" \
    "$(grep -m1 'moved since' "$WORK/between.err" || head -1 "$WORK/between.err")"
  check "promote with latest moved under it: nothing on stdout" "" "$(cat "$WORK/between.out")"
  check "promote with latest moved under it: nothing changed (latest = the pushed image)" \
    "archive=$(D 4) beta=$(D 6) latest=$(X)" "$(state app)"
  # Promoting again reads the new state.
  local out
  out=$(bt tag promote app archive=latest latest=beta)
  check "promote again: the moves" "$(lines_sorted "app:archive -> $(X) (was $(D 4))
app:latest -> $(D 6) (was $(X))")" "$(lines_sorted "$out")"
  dpull "promote again latest" app:latest "$(D 6)" "$(DCFG 6)"
  dpull "promote again archive" app:archive "$(X)" "$(img 6 arm64 config)"
}

# ---------------------------------------------------------------- 4. history and rollback

# check_history NAME REPO TAG EXPECTED: `berth tag history` and the route list EXPECTED
# ("DIGEST VIA" lines, newest first); the newest is marked current; --json is the route's.
check_history() {
  local name=$1 repo=$2 tag=$3 want=$4 text json
  json=$(history_json "$repo" "$tag")
  check "$name: route: digests and vias, newest first" "$want" \
    "$(jq -r '.history[] | "\(.digest) \(.via)"' <<<"$json")"
  check "$name: route: name, tag, current" "$repo $tag $(head -1 <<<"$want" | cut -d' ' -f1)" \
    "$(jq -r '"\(.name) \(.tag) \(.current)"' <<<"$json")"
  # RFC 3339 drops a fraction's trailing zeros: pad it to nanoseconds before comparing.
  check "$name: route: times strictly decreasing" yes \
    "$(jq -r '[.history[].at | capture("^(?<s>[^.Z]+)(\\.(?<f>[0-9]+))?Z$") | .s + "." + ((.f // "") + "000000000")[0:9]]
      | if . == (sort | reverse) and (unique | length) == length then "yes" else "no" end' <<<"$json")"
  check "$name: route: by is empty (no auth)" "" "$(jq -r '.history[].by' <<<"$json" | sort -u)"
  text=$(history_text "$repo:$tag")
  check "$name: berth tag history: digests and vias" "$want" "$(cut -d' ' -f2- <<<"$text")"
  check "$name: berth tag history: the newest line is marked current" "*" "$(head -1 <<<"$text" | cut -d' ' -f1)"
  check "$name: berth tag history: marked lines name the current digest" \
    "$(head -1 <<<"$want" | cut -d' ' -f1)" "$(awk '$1 == "*" { print $2 }' <<<"$text" | sort -u)"
  check "$name: berth tag history --json = the route's JSON" "$(jq -cS . <<<"$json")" \
    "$(bt tag history "$repo:$tag" --json | jq -cS .)"
}

test_history_rollback() {
  section "4. history and rollback of app:latest"
  local base out
  base="$(D 6) promote
$(X) push
$(D 5) promote
$(D 4) promote
$(D 3) promote
$(D 2) promote
$(D 1) copy"
  check_history "history of latest" app latest "$base"
  check_history "history of archive" app archive "$(X) promote
$(D 4) promote
$(D 3) promote
$(D 2) promote
$(D 1) promote"

  out=$(bt tag rollback app:latest)
  check "rollback: one back (the newest other digest)" "app:latest -> $(X) (was $(D 6))" "$out"
  dpull "rollback" app:latest "$(X)" "$(img 6 arm64 config)"
  out=$(bt tag rollback app:latest "$(D 3)")
  check "rollback to D3" "app:latest -> $(D 3) (was $(X))" "$out"
  dpull "rollback to D3" app:latest "$(D 3)" "$(DCFG 3)"
  check_fails "rollback to a digest not in the history fails" bt tag rollback app:latest "$(D 7)"
  check "rollback to a digest not in the history: nothing changed" "$(D 3)" "$(digest_of app latest)"
  check_history "history after two rollbacks" app latest "$(D 3) rollback
$(X) rollback
$base"
  local sel='.action == "push" and .target.repository == "app" and .target.tag == "latest" and .berth.operation == "rollback"'
  wait_events 2 "$sel"
  check "events: the rollbacks as push events of latest, with berth.previous" \
    "$(lines_sorted "$(X) $(D 6)
$(D 3) $(X)")" "$(lines_sorted "$(events "$sel" | jq -r '"\(.target.digest) \(.berth.previous)"')")"
  check "metrics: registry_tag_moves_total{via=\"rollback\"}" 2 "$(metric 'registry_tag_moves_total{via="rollback"}')"
}

# ---------------------------------------------------------------- 2. immutable tags

# docker_load N TAG: the amd64 image of set N into the private dockerd as TAG.
docker_load() {
  quiet sk copy "oci:$WORK/img/$1/oci:amd64" "docker-archive:$WORK/load-$1.tar:$2"
  quiet dk load -i "$WORK/load-$1.tar"
  rm -f "$WORK/load-$1.tar"
}

# push_digest LOG: the digest `docker push` printed.
push_digest() { grep -oE 'digest: sha256:[0-9a-f]{64}' "$1" | tail -1 | cut -d' ' -f2; }

test_immutable() {
  section "2. immutable tags: rule releases, v\\d+.\\d+.\\d+ in every repository"
  local p1 s refusals0
  docker_load 7 e2e/rel:one
  docker_load 8 e2e/rel:two
  dk tag e2e/rel:one "$REG/rel/app:v1.0.0"
  quiet dk push "$REG/rel/app:v1.0.0"
  p1=$(push_digest "$WORK/cmd.log")
  verify_manifest "first push of v1.0.0 (docker)" rel/app v1.0.0 "$p1" "$V2S2_MANIFEST"
  refusals0=$(metric 'registry_immutable_refusals_total{rule="releases"}')

  dk tag e2e/rel:two "$REG/rel/app:v1.0.0"
  check_fails "docker push of another image over v1.0.0 fails" dk push "$REG/rel/app:v1.0.0"
  check_last_output "docker's output: denied, naming the rule" "denied.*releases"
  check "after the refused docker push: v1.0.0 is the first image" "$p1" "$(digest_of rel/app v1.0.0)"
  check_fails "skopeo copy of another image over v1.0.0 fails" \
    "${COPY[@]}" "oci:$WORK/img/8/oci:amd64" "docker://$REG/rel/app:v1.0.0"
  check_last_output "skopeo's output: denied, naming the rule" "denied.*releases"
  check "after the refused skopeo copy: v1.0.0 is the first image" "$p1" "$(digest_of rel/app v1.0.0)"

  local before after
  before=$(metric 'registry_immutable_refusals_total{rule="releases"}')
  s=$(fetch DELETE "$REG_URL/v2/rel/app/manifests/v1.0.0")
  check "curl DELETE of the tag: 403" 403 "$s"
  check "curl DELETE of the tag: DENIED" DENIED "$(error_code)"
  check "curl DELETE of the tag: the error names the tag and the rule" yes \
    "$(grep -qF "tag v1.0.0 of rel/app is immutable ($RULE)" <(jq -r '.errors[0] | "\(.message) \(.detail)"' "$WORK/r.body") && echo yes || echo no)"
  echo "#   $(jq -c '.errors[0]' "$WORK/r.body")"
  after=$(metric 'registry_immutable_refusals_total{rule="releases"}')
  check "registry_immutable_refusals_total{rule=\"releases\"}: +1 for the DELETE" $((before + 1)) "$after"
  check "every refusal so far counted (docker, skopeo, DELETE: at least 3)" yes \
    "$([ "$after" -ge $((refusals0 + 3)) ] && echo yes || echo no)"
  s=$(fetch DELETE "$REG_URL/v2/rel/app/manifests/$p1")
  check "curl DELETE of its manifest by digest: 403 DENIED" "403 DENIED" "$s $(error_code)"
  check_fails "berth tag delete rel/app:v1.0.0 fails" bt tag delete rel/app:v1.0.0
  check_last_output "berth tag delete: DENIED" 'DENIED'
  verify_manifest "v1.0.0 after the refused deletes" rel/app v1.0.0 "$p1" "$V2S2_MANIFEST"

  # The same image again is no change: accepted.
  dk tag e2e/rel:one "$REG/rel/app:v1.0.0"
  quiet dk push "$REG/rel/app:v1.0.0"
  check "docker push of the same image again: accepted, same digest" "$p1" "$(push_digest "$WORK/cmd.log")"
  quiet "${COPY[@]}" "docker://$REG/rel/app:v1.0.0" "docker://$REG/rel/app:v1.0.0"
  check "skopeo copy of v1.0.0 onto itself: accepted, same digest" "$p1" "$(digest_of rel/app v1.0.0)"

  # A tag outside the rule: re-pointed and deleted freely; the admin route refuses v1.0.0.
  local c8 out
  c8=$(img 8 amd64)
  push 8 amd64 rel/app:candidate
  out=$(bt tag copy rel/app:v1.0.0 candidate)
  check "berth tag copy v1.0.0 onto candidate" "rel/app:candidate -> $p1 (was $c8)" "$out"
  out=$(bt tag copy "rel/app@$c8" candidate)
  check "berth tag copy by digest onto candidate" "rel/app:candidate -> $c8 (was $p1)" "$out"
  check_fails "berth tag copy candidate onto v1.0.0 fails" bt tag copy rel/app:candidate v1.0.0
  check_last_output "berth tag copy onto v1.0.0: DENIED" 'DENIED'
  out=$(bt tag copy rel/app:candidate v2.0.0)
  check "berth tag copy creates the new immutable tag v2.0.0" "rel/app:v2.0.0 -> $c8 (was new)" "$out"
  check_fails "berth tag copy onto v2.0.0 once it exists fails" bt tag copy rel/app:v1.0.0 v2.0.0
  check "v2.0.0 unchanged" "$c8" "$(digest_of rel/app v2.0.0)"
  out=$(bt tag delete rel/app:candidate)
  check "berth tag delete candidate" \
    "deleted tag rel/app:candidate; the manifest it pointed at stays, reachable by digest" "$out"
  check "rel/app tags" '["v1.0.0","v2.0.0"]' "$(tags_of rel/app | jq -c sort)"
  dk rmi e2e/rel:one e2e/rel:two "$REG/rel/app:v1.0.0" >/dev/null 2>&1 || true
  dpull "v1.0.0 after everything" rel/app:v1.0.0 "$p1" "$(img 7 amd64 config)"

  local sel='.action == "deny" and .target.repository == "rel/app" and .target.tag == "v1.0.0" and .berth.rule == "releases"'
  wait_events 4 "$sel"
  check "events: deny events name the rule for push and delete" "delete push" \
    "$(events "$sel" | jq -r '.berth.operation' | grep -E '^(push|delete)$' | sort -u | xargs)"
}

# ---------------------------------------------------------------- 3. retention
# ret/app (policies nightly, then rest) and ret/tools (nightly only). Ages in days are
# what current/link (push time) and the revision link (untagged age) get backdated to.
#   tag          image     age  expected
#   nightly-1    9 amd64     0  kept: among the 2 latest
#   nightly-2    9 arm64    10  kept: among the 2 latest
#   nightly-3    10 amd64   20  kept: within 720h
#   nightly-old1 10 arm64   40  removed; its manifest then untagged and older than 168h: removed
#   nightly-old2 11 amd64   50  removed; its manifest stays: archive points at it
#   v1.0.0       11 arm64  100  kept: immutable (rest: not the latest, too old)
#   v1.1.0       12 amd64   90  kept: rest's latest
#   old-feature  12 arm64  150  removed (policy rest), and its manifest
#   latest/beta/archive    200  kept: keeptags (nightly-2, nightly-1, nightly-old2)
#   beta before: 13 amd64 (200, removed as untagged), 13 arm64 (fresh: within the grace)
#   ret/tools: nightly-a 14 amd64 40 and nightly-b 14 arm64 50 kept (the 2 latest),
#   nightly-c 15 amd64 60 removed with its manifest, keepme 15 arm64 200 kept (no policy)
RET_APP="nightly-1:9:amd64:0 nightly-2:9:arm64:10 nightly-3:10:amd64:20 nightly-old1:10:arm64:40
nightly-old2:11:amd64:50 v1.0.0:11:arm64:100 v1.1.0:12:amd64:90 old-feature:12:arm64:150"
RET_TOOLS="nightly-a:14:amd64:40 nightly-b:14:arm64:50 nightly-c:15:amd64:60 keepme:15:arm64:200"

# backdate REPO TAG|@DIGEST DAYS: set a tag's current/link or a revision link's mtime.
backdate() {
  local f=$ROOT/$V2/repositories/$1/_manifests
  if [[ $2 == @* ]]; then f=$f/revisions/sha256/${2#@sha256:}/link; else f=$f/tags/$2/current/link; fi
  [ -f "$f" ] || { echo "backdate: no $f" >&2; return 1; }
  touch -d "@$(($(cat "$WORK/ret.now") - $3 * DAY))" "$f"
}

test_retention_push() {
  section "3. retention: content pushed with skopeo, push times backdated"
  local e t n a days repo
  date +%s >"$WORK/ret.now"
  for e in $RET_APP; do IFS=: read -r t n a days <<<"$e"; push "$n" "$a" "ret/app:$t"; done
  for e in $RET_TOOLS; do IFS=: read -r t n a days <<<"$e"; push "$n" "$a" "ret/tools:$t"; done
  # beta re-pushed daily: two images become untagged.
  push 13 amd64 ret/app:beta
  push 13 arm64 ret/app:beta
  check "berth tag copy nightly-1 onto beta" "ret/app:beta -> $(img 9 amd64) (was $(img 13 arm64))" \
    "$(bt tag copy ret/app:nightly-1 beta)"
  bt tag copy ret/app:nightly-2 latest >/dev/null
  bt tag copy ret/app:nightly-old2 archive >/dev/null
  for e in $RET_APP; do
    IFS=: read -r t n a days <<<"$e"
    backdate ret/app "$t" "$days"
    backdate ret/app "@$(img "$n" "$a")" "$days"
  done
  for e in $RET_TOOLS; do
    IFS=: read -r t n a days <<<"$e"
    backdate ret/tools "$t" "$days"
    backdate ret/tools "@$(img "$n" "$a")" "$days"
  done
  for t in latest beta archive; do backdate ret/app "$t" 200; done
  backdate ret/app "@$(img 13 amd64)" 200
  check "ret/app tags" '["archive","beta","latest","nightly-1","nightly-2","nightly-3","nightly-old1","nightly-old2","old-feature","v1.0.0","v1.1.0"]' \
    "$(tags_of ret/app | jq -c sort)"
  check "ret/tools tags" '["keepme","nightly-a","nightly-b","nightly-c"]' "$(tags_of ret/tools | jq -c sort)"
}

# expected_removals: the lines both runs must print, in order (repository, tags by name,
# then manifests by digest), without their reasons: "delete tag R:T D" / "delete manifest R@D".
expected_removals() {
  printf 'delete tag ret/app:%s\n' "nightly-old1 $(img 10 arm64)" "nightly-old2 $(img 11 amd64)" \
    "old-feature $(img 12 arm64)"
  printf 'delete manifest ret/app@%s\n' "$(img 10 arm64)" "$(img 12 arm64)" "$(img 13 amd64)" | LC_ALL=C sort
  echo "delete tag ret/tools:nightly-c $(img 15 amd64)"
  echo "delete manifest ret/tools@$(img 15 amd64)"
}

# removed_manifests: "REPO DIGEST" of each manifest retention removes.
removed_manifests() {
  printf 'ret/app %s\n' "$(img 10 arm64)" "$(img 12 arm64)" "$(img 13 amd64)"
  echo "ret/tools $(img 15 amd64)"
}

# removal_heads LOG: the removal lines of a retention run, cut before their reasons.
removal_heads() { grep -E '^delete (tag|manifest) ' "$1" | cut -d' ' -f1-4 | sed 's/ (policy.*//'; }

# check_reasons NAME LOG: each removal names its policy and the backdated push time.
check_reasons() {
  local name=$1 log=$2 now
  now=$(cat "$WORK/ret.now")
  local -a want=(
    "delete tag ret/app:nightly-old1 $(img 10 arm64) (policy nightly: pushed $(rfc3339 $((now - 40 * DAY))), "
    "delete tag ret/app:nightly-old2 $(img 11 amd64) (policy nightly: pushed $(rfc3339 $((now - 50 * DAY))), "
    "delete tag ret/app:old-feature $(img 12 arm64) (policy rest: pushed $(rfc3339 $((now - 150 * DAY))), "
    "delete manifest ret/app@$(img 10 arm64) (policy nightly: untagged, pushed $(rfc3339 $((now - 40 * DAY))), "
    "delete manifest ret/app@$(img 13 amd64) (policy nightly: untagged, pushed $(rfc3339 $((now - 200 * DAY))), "
    "delete tag ret/tools:nightly-c $(img 15 amd64) (policy nightly: pushed $(rfc3339 $((now - 60 * DAY))), "
  )
  local w missing=""
  for w in "${want[@]}"; do grep -qF "$w" "$log" || missing="$missing [$w]"; done
  check "$name: removal lines name the policy and the backdated push time" "" "$missing"
}

test_retention_run() {
  section "3. berth retention --dry-run, berth retention, berth garbage-collect (server stopped)"
  local g=$WORK/ret rc
  mkdir -p "$g"
  # Garbage from before (the refused pushes' blobs) goes first, so the collection after
  # retention is only retention's.
  rc=$(offline "$g/gc0.log" garbage-collect --grace=0 "$CFG")
  check "garbage-collect before retention: exit code" 0 "$rc"
  expected_removals >"$g/expected"
  snapshot "$g/s0"

  rc=$(offline "$g/dry.log" retention --dry-run "$CFG")
  check "retention --dry-run: exit code" 0 "$rc"
  sed 's/^/#   /' "$g/dry.log"
  check "retention --dry-run: the removals, in order" "$(cat "$g/expected")" "$(removal_heads "$g/dry.log")"
  check_reasons "retention --dry-run" "$g/dry.log"
  check "retention --dry-run: last line" "retention: 4 tags and 4 manifests would be removed (dry run)" \
    "$(tail -1 "$g/dry.log")"
  snapshot "$g/s1"
  check_set "retention --dry-run: every file stays" "$g/s0" "$g/s1"

  rc=$(offline "$g/real.log" retention "$CFG")
  check "retention: exit code" 0 "$rc"
  check "retention: the same removal lines as the dry run" \
    "$(grep -E '^delete ' "$g/dry.log")" "$(grep -E '^(delete|skip) ' "$g/real.log")"
  check "retention: last line" "retention: 4 tags and 4 manifests removed" "$(tail -1 "$g/real.log")"
  snapshot "$g/s2"
  # Removed: the tags' directories, the revision links of the removed manifests and their
  # entries in any tag's index (beta's for the untagged 13 amd64). Nothing else; no blob.
  local allowed=$g/allowed d
  {
    grep -E '^repositories/ret/app/_manifests/tags/(nightly-old1|nightly-old2|old-feature)/' "$g/s1"
    grep -E '^repositories/ret/tools/_manifests/tags/nightly-c/' "$g/s1"
    removed_manifests | while read -r repo d; do
      grep -E "^repositories/$repo/_manifests/(revisions|tags/[^/]+/index)/sha256/${d#sha256:}/" "$g/s1" || true
    done
  } >"$allowed"
  check_set "retention: files removed = the removed tags' and manifests' links (and histories)" \
    "$allowed" <(lines_minus "$g/s1" "$g/s2")
  check "retention: no file appeared" "" "$(lines_minus "$g/s2" "$g/s1")"
  check_set "retention: every blob stays (GC reclaims them)" <(blobs_of "$g/s1") <(blobs_of "$g/s2")
  rc=$(offline "$g/again.log" retention --dry-run "$CFG")
  check "retention --dry-run again: nothing left to remove" \
    "retention: 0 tags and 0 manifests would be removed (dry run)" "$(tail -1 "$g/again.log")"

  local du0 du1 size=0
  { image_blobs 10 arm64; image_blobs 12 arm64; image_blobs 13 amd64; image_blobs 15 amd64; } >"$g/expected.blobs"
  while read -r d; do
    size=$((size + $(stat -c %s "$ROOT/$V2/blobs/sha256/${d:7:2}/${d#sha256:}/data" 2>/dev/null || echo 0)))
  done <"$g/expected.blobs"
  du0=$(du -sb "$ROOT" | cut -f1)
  rc=$(offline "$g/gc.log" garbage-collect --grace=0 "$CFG")
  check "garbage-collect after retention: exit code" 0 "$rc"
  snapshot "$g/s3"
  du1=$(du -sb "$ROOT" | cut -f1)
  check_set "garbage-collect: blob files removed from disk = the removed manifests' blobs" \
    "$g/expected.blobs" <(lines_minus <(blobs_of "$g/s2") <(blobs_of "$g/s3"))
  check_set "garbage-collect: 'blob eligible for deletion' lines" "$g/expected.blobs" \
    <(sed -n 's/^blob eligible for deletion: //p' "$g/gc.log")
  check "du of the root shrank by at least the removed blobs' $size bytes" yes \
    "$([ $((du0 - du1)) -ge "$size" ] && [ "$size" -gt 0 ] && echo yes || echo no)"
  echo "#   du -sb: $du0 -> $du1 bytes"
}

test_retention_after() {
  section "3. after retention and collection: what stays pulls byte for byte"
  local e t n a days out=$WORK/ret-out
  mkdir -p "$out"
  check "ret/app tags" '["archive","beta","latest","nightly-1","nightly-2","nightly-3","v1.0.0","v1.1.0"]' \
    "$(tags_of ret/app | jq -c sort)"
  check "ret/tools tags" '["keepme","nightly-a","nightly-b"]' "$(tags_of ret/tools | jq -c sort)"
  for e in $RET_APP; do
    IFS=: read -r t n a days <<<"$e"
    case $t in
      nightly-old*|old-feature) check "ret/app:$t is gone" "none(404)" "$(digest_of ret/app "$t")" ;;
      *)
        quiet "${COPY[@]}" "docker://$REG/ret/app:$t" "oci:$out/$t:$t"
        verify_oci_copy "ret/app:$t" "$out/$t" "$t" "$WORK/img/$n/oci" "$(img "$n" "$a")"
        ;;
    esac
  done
  check "ret/app: latest beta archive stay" \
    "archive=$(img 11 amd64) beta=$(img 9 amd64) latest=$(img 9 arm64)" "$(state ret/app)"
  quiet "${COPY[@]}" "docker://$REG/ret/app:archive" "oci:$out/archive:archive"
  verify_oci_copy "ret/app:archive (nightly-old2's image)" "$out/archive" archive "$WORK/img/11/oci" "$(img 11 amd64)"
  for t in nightly-a nightly-b keepme; do
    case $t in nightly-a) n=14 a=amd64 ;; nightly-b) n=14 a=arm64 ;; keepme) n=15 a=arm64 ;; esac
    quiet "${COPY[@]}" "docker://$REG/ret/tools:$t" "oci:$out/tools-$t:$t"
    verify_oci_copy "ret/tools:$t" "$out/tools-$t" "$t" "$WORK/img/$n/oci" "$(img "$n" "$a")"
  done
  check "ret/tools:nightly-c is gone" "none(404)" "$(digest_of ret/tools nightly-c)"
  check "untagged ret/app@13 arm64 (within the grace) stays" 200 \
    "$(http_status GET "$REG_URL/v2/ret/app/manifests/$(img 13 arm64)")"
  local repo d
  while read -r repo d; do
    check "$repo@${d:7:12} is gone" 404 "$(http_status GET "$REG_URL/v2/$repo/manifests/$d")"
  done < <(removed_manifests)
  # The other repositories are no policy's: untouched.
  check "app untouched by retention" "archive=$(X) beta=$(D 6) latest=$(D 3)" "$(state app)"
  dpull "app after retention" app:latest "$(D 3)" "$(DCFG 3)"
  check "rel/app untouched by retention" '["v1.0.0","v2.0.0"]' "$(tags_of rel/app | jq -c sort)"
  # What berth serves, for the reference to serve the same (section 5).
  curl -sf "$REG_URL/v2/_catalog" | jq -c .repositories >"$WORK/berth.catalog"
  for t in app rel/app ret/app ret/tools; do tags_of "$t" | jq -c sort >"$WORK/berth.tags.${t//\//_}"; done
}

# The server applies the policies itself every 2 s: a nightly tag pushed 70 days ago
# (backdated while no run is scheduled: pushed fresh, it would be among the 2 latest and
# push nightly-b out) is removed by the first run, with its manifest, delete events and
# metrics; garbage-collect then reclaims its blobs.
test_retention_scheduled() {
  section "3. retention scheduled in the server (berth.retention.interval: 2s)"
  local d i rc g=$WORK/ret
  d=$(img 17 amd64)
  serve berth
  push 17 amd64 ret/tools:nightly-d
  check "nightly-d pushed" "$d" "$(digest_of ret/tools nightly-d)"
  stop_registry "$REG_PID"
  date +%s >"$WORK/ret.now"
  backdate ret/tools nightly-d 70
  backdate ret/tools "@$d" 70
  RET_INTERVAL=2s write_config
  serve berth
  for ((i = 0; i < 100; i++)); do
    [ "$(digest_of ret/tools nightly-d)" = "none(404)" ] && break
    sleep 0.2
  done
  check "backdated, the next scheduled run removes it" "none(404)" "$(digest_of ret/tools nightly-d)"
  check "and its manifest" 404 "$(http_status GET "$REG_URL/v2/ret/tools/manifests/$d")"
  check "ret/tools tags" '["keepme","nightly-a","nightly-b"]' "$(tags_of ret/tools | jq -c sort)"
  local sel='.action == "delete" and .target.repository == "ret/tools" and .berth.operation == "retention" and .berth.policy == "nightly"'
  wait_events 2 "$sel"
  check "events: a delete event for the tag (berth.operation retention, policy nightly)" 1 \
    "$(events "$sel and .target.tag == \"nightly-d\"" | wc -l)"
  check "events: a delete event for the manifest" 1 \
    "$(events "$sel and .target.digest == \"$d\" and (.target.tag // \"\") == \"\"" | wc -l)"
  check "metrics: registry_retention_deleted_total{kind=\"tag\"}" 1 "$(metric 'registry_retention_deleted_total{kind="tag"}')"
  check "metrics: registry_retention_deleted_total{kind=\"manifest\"}" 1 \
    "$(metric 'registry_retention_deleted_total{kind="manifest"}')"
  check "metrics: registry_retention_runs_total{outcome=\"ok\"} counts runs" yes \
    "$([ "$(metric 'registry_retention_runs_total{outcome="ok"}')" -ge 1 ] && echo yes || echo no)"
  check "metrics: no failed run" 0 "$(metric 'registry_retention_runs_total{outcome="failed"}')"
  stop_registry "$REG_PID"
  write_config
  snapshot "$g/s4"
  rc=$(offline "$g/gc2.log" garbage-collect --grace=0 "$CFG")
  check "garbage-collect after the scheduled run: exit code" 0 "$rc"
  snapshot "$g/s5"
  check_set "garbage-collect: the scheduled run's manifest's blobs are gone from disk" \
    <(image_blobs 17 amd64) <(lines_minus <(blobs_of "$g/s4") <(blobs_of "$g/s5"))
}

# ---------------------------------------------------------------- 5. drop-in

test_reference() {
  section "5. the reference (distribution 2.8.2) serves the same root"
  local r rc out
  check "reference: catalog" "$(cat "$WORK/berth.catalog")" "$(curl -sf "$REG_URL/v2/_catalog" | jq -c .repositories)"
  for r in app rel/app ret/app ret/tools; do
    check "reference: tags of $r" "$(cat "$WORK/berth.tags.${r//\//_}")" "$(tags_of "$r" | jq -c sort)"
  done
  verify_manifest "reference app:latest (rolled back)" app latest "$(D 3)" "$OCI_MANIFEST"
  verify_manifest "reference app:archive" app archive "$(X)" "$OCI_MANIFEST"
  verify_manifest "reference ret/app:nightly-3" ret/app nightly-3 "$(img 10 amd64)" "$OCI_MANIFEST"
  dpull "reference" app:latest "$(D 3)" "$(DCFG 3)"
  # The reference re-points latest (an index entry without a history file).
  push 16 amd64 app:latest
  check "reference: push onto app:latest" "$(D 16)" "$(digest_of app latest)"
  stop_registry "$REG_PID"
  rc=$(OFFLINE_KIND=reference offline "$WORK/ref-gc.log" garbage-collect --dry-run "$CFG")
  check "reference garbage-collect --dry-run on the root: exit code" 0 "$rc"
  check "reference garbage-collect --dry-run: nothing eligible" "0 blobs and 0 manifests eligible for deletion" \
    "$(grep -oE '[0-9]+ blobs and [0-9]+ manifests eligible for deletion' "$WORK/ref-gc.log" || true)"

  serve berth
  check "berth again: app:latest is the reference's push" "$(D 16)" "$(digest_of app latest)"
  local text
  text=$(history_text app:latest)
  check "berth again: history of latest starts with the reference's push, marked current" "* $(D 16) push" \
    "$(head -1 <<<"$text" | cut -d' ' -f1-3)"
  check "berth again: then the history berth wrote" "$(D 3) rollback" "$(sed -n 2p <<<"$text" | cut -d' ' -f2-)"
  check "berth again: history length" 10 "$(wc -l <<<"$text")"
  out=$(bt tag rollback app:latest)
  check "berth again: rollback over the reference's push" "app:latest -> $(D 3) (was $(D 16))" "$out"
  stop_registry "$REG_PID"
}

# ---------------------------------------------------------------- main

[ "$KIND" = berth ] || { echo "lifecycle.sh: berth only (tag routes, commands and config are berth's)" >&2; exit 2; }
for kind in berth reference; do
  bin=$(registry_bin "$kind")
  [ -x "$bin" ] || { echo "registry binary for '$kind' not found or not executable: $bin" >&2; exit 1; }
done
if ! command -v dockerd >/dev/null; then
  skip "lifecycle suite: dockerd is not installed (run tests/e2e/deps.sh)"
  e2e_done
  exit 0
fi
for n in $(seq 1 17); do python3 "$E2E_DIR/mkimages.py" "$WORK/img/$n/oci" >/dev/null; done
if ! start_dockerd; then
  skip "lifecycle suite: the private dockerd did not start (reason above)"
  e2e_done
  exit 0
fi
PORT=$(free_port)
DEBUG_PORT=$(free_port)
EVENTS=$WORK/events.jsonl
EVENTS_PORT=$(start_helper events "$WORK/events.port" "$EVENTS")
CTL=$WORK/proxy
mkdir -p "$CTL"
PROXY_URL=http://127.0.0.1:$(start_helper proxy "$WORK/proxy.port" "127.0.0.1:$PORT" "$CTL")
write_config

serve berth
run_test test_workflow
run_test test_race_storm
run_test test_race_between
run_test test_history_rollback
run_test test_immutable
run_test test_retention_push
stop_registry "$REG_PID"
run_test test_retention_run
serve berth
run_test test_retention_after
stop_registry "$REG_PID"
run_test test_retention_scheduled
serve reference
run_test test_reference
e2e_done
