#!/usr/bin/python3
"""Drives headless Chromium (Debian's chromium + chromedriver, python3-selenium) through
berth's web UI: browse, search, open a repository and an image, copy a pull command,
delete a tag through its confirmation page. Screenshots of each step go to SHOTS.

usage: ui_browser.py BASE_URL SHOTS_DIR PROFILE_DIR OUT_JSON
  BASE_URL   http://127.0.0.1:PORT of a berth holding e2e/ui-app (tags old, v1) and
             e2e/ui-other
Writes what it saw to OUT_JSON for ui.sh to check; exits non-zero when a step fails.
"""

import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE, SHOTS, PROFILE, OUT = sys.argv[1:5]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    f"--user-data-dir={PROFILE}",
]


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main():
    seen = {}
    driver = browser()
    wait = WebDriverWait(driver, 20)
    step = 0

    def shot(name):
        nonlocal step
        step += 1
        driver.save_screenshot(f"{SHOTS}/{step:02d}-{name}.png")

    def links():
        return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "ul.repos a")]

    try:
        driver.get(f"{BASE}/ui/")
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "ul.repos")))
        seen["catalog"] = links()
        seen["catalog_count"] = driver.find_element(By.CSS_SELECTOR, "p.count").text
        shot("catalog")

        box = driver.find_element(By.NAME, "q")
        box.send_keys("ui-app")
        box.submit()
        wait.until(EC.url_contains("q=ui-app"))
        seen["search"] = links()
        shot("search")

        driver.find_element(By.LINK_TEXT, "e2e/ui-app").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "table.tags")))
        seen["tags"] = [r.get_attribute("data-tag") for r in driver.find_elements(By.CSS_SELECTOR, "tr.tag")]
        seen["storage"] = driver.find_element(By.CSS_SELECTOR, ".storage").get_attribute("data-bytes")
        shot("repository")

        row = driver.find_element(By.CSS_SELECTOR, 'tr.tag[data-tag="v1"]')
        seen["v1_platforms"] = row.find_element(By.CSS_SELECTOR, "td.platforms").text
        row.find_element(By.CSS_SELECTOR, "a.digest").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "code.digest")))
        seen["manifest_digest"] = driver.find_element(By.CSS_SELECTOR, "code.digest").text
        seen["layers"] = [c.get_attribute("title") for c in driver.find_elements(By.CSS_SELECTOR, "table.layers code")]
        shot("manifest")

        # The copy button exists only when the script ran; the clipboard needs the permission
        # a user would give.
        driver.execute_cdp_cmd(
            "Browser.grantPermissions",
            {"origin": BASE, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
        )
        button = driver.find_element(By.CSS_SELECTOR, "div.pull button.copy")
        seen["pull_command"] = driver.find_element(By.CSS_SELECTOR, "div.pull code.command").text
        button.click()
        wait.until(lambda d: button.text == "Copied")
        seen["clipboard"] = driver.execute_async_script(
            "const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('error: ' + e));"
        )
        shot("copied")

        driver.get(f"{BASE}/ui/r/e2e/ui-app")
        row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, 'tr.tag[data-tag="old"]')))
        row.find_element(By.LINK_TEXT, "Delete…").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "form.confirm")))
        seen["confirm_title"] = driver.find_element(By.TAG_NAME, "h1").text
        shot("confirm")
        driver.find_element(By.CSS_SELECTOR, "form.confirm button.danger").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "table.tags")))
        seen["after_delete_url"] = driver.current_url
        seen["after_delete_tags"] = [
            r.get_attribute("data-tag") for r in driver.find_elements(By.CSS_SELECTOR, "tr.tag")
        ]
        shot("deleted")
    except Exception as e:  # noqa: BLE001 - record where it stopped, with a screenshot
        seen["error"] = f"{type(e).__name__}: {e}"
        shot("error")
    finally:
        driver.quit()
        with open(OUT, "w") as f:
            json.dump(seen, f, indent=1)
    return 1 if "error" in seen else 0


sys.exit(main())
