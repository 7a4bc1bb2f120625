#!/usr/bin/env bash
# The web UI in headless Chromium (Debian's chromium, chromedriver and python3-selenium):
# browse the catalog, search, open a repository and an image, copy a pull command, delete
# a tag through its confirmation page; then check with curl that exactly that tag is gone.
# Screenshots of each step go to ${ARTIFACTS:-target/e2e-artifacts}/ui/.
#   usage: ui.sh berth
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND=${1:-berth}
e2e_init "$@"

SHOTS=${ARTIFACTS:-$REPO_ROOT/target/e2e-artifacts}/ui
COPY=(sk copy --src-tls-verify=false --dest-tls-verify=false)

test_browser() {
  section "web UI in headless Chromium"
  local tool
  for tool in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$tool" ] || { skip "ui: $tool is not installed (tests/e2e/deps.sh)"; return; }
  done
  /usr/bin/python3 -c 'import selenium' 2>/dev/null || { skip "ui: python3-selenium is not installed"; return; }

  quiet "${COPY[@]}" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/ui-app:v1"
  quiet "${COPY[@]}" "oci:$IMG_OCI:arm64" "docker://$REG/e2e/ui-app:old"
  quiet "${COPY[@]}" --all "oci:$IMG_OCI:multi" "docker://$REG/e2e/ui-app:multi"
  quiet "${COPY[@]}" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/ui-other:v1"

  rm -rf "$SHOTS"
  mkdir -p "$SHOTS"
  local out=$WORK/ui.json rc=0
  timeout "$E2E_CMD_TIMEOUT" /usr/bin/python3 "$E2E_DIR/ui_browser.py" "$REG_URL" "$SHOTS" \
    "$WORK/chromium-profile" "$out" >"$WORK/browser.log" 2>&1 || rc=$?
  check "ui: the browser run finished without error" "0 null" "$rc $(jq -c '.error // null' "$out" 2>/dev/null)"
  [ -s "$out" ] || { tail -20 "$WORK/browser.log"; return 1; }
  check "ui: catalog lists both repositories" '["e2e/ui-app","e2e/ui-other"]' "$(jq -c .catalog "$out")"
  check "ui: catalog counts them" "2 repositories" "$(jq -r .catalog_count "$out")"
  check "ui: search finds only e2e/ui-app" '["e2e/ui-app"]' "$(jq -c .search "$out")"
  check "ui: repository page lists every tag, sorted" '["multi","old","v1"]' "$(jq -c .tags "$out")"
  check "ui: platform of v1 from its config" "linux/amd64" "$(jq -r .v1_platforms "$out")"
  check "ui: v1's link opens its manifest" "$IMG_AMD64_MANIFEST" "$(jq -r .manifest_digest "$out")"
  check "ui: the manifest page lists its layers" "$IMG_AMD64_LAYERS" "$(jq -r '.layers | join(" ")' "$out")"
  check "ui: the pull command names the tag" "docker pull $REG/e2e/ui-app:v1" "$(jq -r .pull_command "$out")"
  check "ui: the copy button put it on the clipboard" "docker pull $REG/e2e/ui-app:v1" "$(jq -r .clipboard "$out")"
  check "ui: the confirmation names the tag" "Delete tag e2e/ui-app:old?" "$(jq -r .confirm_title "$out")"
  check "ui: after the delete, back on the repository" "$REG_URL/ui/r/e2e/ui-app" "$(jq -r .after_delete_url "$out")"
  check "ui: the page no longer lists the tag" '["multi","v1"]' "$(jq -c .after_delete_tags "$out")"
  check "ui: /v2 tags list agrees" '["multi","v1"]' "$(tags_of e2e/ui-app)"
  check "ui: the other repository is untouched" '["v1"]' "$(tags_of e2e/ui-other)"
  check "ui: v1 still pulls" 200 "$(http_status GET "$REG_URL/v2/e2e/ui-app/manifests/v1")"
  local n
  n=$(find "$SHOTS" -name '*.png' -size +1k | wc -l)
  check "ui: a screenshot of each of the 7 steps" 7 "$n"
}

start_registry "$KIND" "$WORK/root"
make_test_images "$WORK/img"
run_test test_browser

e2e_done
