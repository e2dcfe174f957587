#!/usr/bin/env python3
"""Real-browser check of `mgllava serve`'s web page (a development script; the product never runs it).

Starts `mgllava serve` with the tiny fixture model on a free port (`--port 0`), opens its page (GET /) in Debian's
headless Chromium through selenium, and checks that:

1. uploading Tests/Fixtures/preprocess/photo0.jpg through #file and asking "What is in the picture?" (max_tokens 32,
   temperature 0) streams an answer equal to the `text` of `mgllava chat … --json --prompt … --max-new-tokens 32`
   with the same model, with the timings and "no boxes (the dummy box)" shown; a screenshot goes to docs/serve.png;
2. after drawing a box on the image, a follow-up ("And the colours?") is answered in the same conversation and the
   page reports "boxes: given (1)";
3. after New chat, a 3000-word question (past the tiny model's 512-token context) shows the server's 400 message,
   which mentions the context, in #error.

Setup (Debian): apt-get install -y chromium chromium-driver && pip install selenium
Run: swift build --product mgllava && python3 scripts/serve_browser_check.py [--mgllava .build/debug/mgllava]
Exits non-zero with a message saying what differed.
"""

import argparse
import json
import selectors
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    sys.exit("serve_browser_check: needs selenium (pip install selenium)")

ROOT = Path(__file__).resolve().parent.parent
MODEL_FLAGS = (
    "--llm Tests/Fixtures/models/vicuna-tiny --visual-encoder Tests/Fixtures/models/clip-vit-tiny "
    "--visual-encoder-aux Tests/Fixtures/models/convnext-tiny --pth Tests/Fixtures/models/mgllava-tiny/sft.pth "
    "--tokenizer Tests/Fixtures/tokenizers/vicuna-tiny --image-size-aux 128"
).split()  # paths relative to the repository root
IMAGE = ROOT / "Tests/Fixtures/preprocess/photo0.jpg"
QUESTION = "What is in the picture?"
MAX_TOKENS = 32


class CheckFailed(Exception):
    """A check that did not hold: its message says what differed."""


def expected_answer(mgllava):
    """The CLI's greedy answer to QUESTION about IMAGE."""
    command = [mgllava, "chat", *MODEL_FLAGS, "--image", str(IMAGE), "--json", "--prompt", QUESTION,
               "--max-new-tokens", str(MAX_TOKENS)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise CheckFailed(f"mgllava chat exited with {run.returncode}:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])["text"].strip()


def start_server(mgllava, log):
    """Starts `mgllava serve --port 0`; returns the process and its base URL once /health says 200."""
    server = subprocess.Popen([mgllava, "serve", *MODEL_FLAGS, "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=log, text=True)
    selector = selectors.DefaultSelector()
    selector.register(server.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=120):
        raise CheckFailed("mgllava serve printed nothing within 120 s")
    line = server.stdout.readline().strip()
    prefix = "listening on "
    if not line.startswith(prefix):
        raise CheckFailed(f"mgllava serve's first line is {line!r}, expected '{prefix}http://…'")
    base = line[len(prefix):]
    deadline = time.monotonic() + 300
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as response:
                if response.status == 200:
                    return server, base
        except urllib.error.HTTPError as error:
            if error.code != 503:
                raise CheckFailed(f"GET /health: {error.code} {error.read().decode(errors='replace')}")
        if server.poll() is not None or time.monotonic() > deadline:
            raise CheckFailed("the server exited or its model did not load within 300 s")
        time.sleep(0.5)


def open_browser(args):
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(args.chromedriver))


def wait(driver, what, condition, seconds=120):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda d: condition(d))
    except TimeoutException as error:
        error_text = driver.find_element(By.ID, "error").text
        raise CheckFailed(f"timed out waiting for {what} (#error: {error_text!r})") from error


def set_field(driver, element_id, value):
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def ask(driver, question):
    """Sends a question through the page; returns the finished answer's text (as the DOM holds it)."""
    done = 'document.querySelectorAll("#answer .assistant[data-done=\\"true\\"]").length'
    before = driver.execute_script(f"return {done}")
    driver.execute_script("document.getElementById('prompt').value = arguments[0]", question)
    driver.find_element(By.ID, "send").click()
    wait(driver, f"the answer to {question[:30]!r}", lambda d: d.execute_script(f"return {done}") > before)
    answers = driver.find_elements(By.CSS_SELECTOR, "#answer .assistant")
    if len(answers) != before + 1:
        raise CheckFailed(f"{len(answers)} assistant messages after {before} answers and one more question")
    if message := driver.find_element(By.ID, "error").text:
        raise CheckFailed(f"the page shows an error: {message}")
    return driver.execute_script("return arguments[0].textContent", answers[-1])


def check(driver, base, expected):
    driver.get(base + "/")
    wait(driver, "the page's health to read 'ready'", lambda d: d.find_element(By.ID, "health").text == "ready")
    wait(driver, "the model id", lambda d: d.find_element(By.ID, "model").text == "model: mg-llava")
    driver.find_element(By.ID, "file").send_keys(str(IMAGE))
    canvas_width = "return document.getElementById('canvas').width"
    wait(driver, "the image on the canvas", lambda d: d.execute_script(canvas_width) > 1)
    set_field(driver, "max_tokens", str(MAX_TOKENS))
    set_field(driver, "temperature", "0")

    answer = ask(driver, QUESTION)
    if answer.strip() != expected:
        raise CheckFailed(f"the page's answer differs from mgllava chat's:\n  page: {answer!r}\n  chat: {expected!r}")
    timings = driver.find_elements(By.CSS_SELECTOR, "#answer .meta")[-1].text
    if not timings.startswith("prompt ") or " t/s" not in timings:
        raise CheckFailed(f"no timings under the answer (got {timings!r})")
    boxinfo = driver.find_element(By.ID, "boxinfo").text
    if boxinfo != "no boxes (the dummy box)":
        raise CheckFailed(f"#boxinfo reads {boxinfo!r} after an answer without boxes")
    (ROOT / "docs").mkdir(exist_ok=True)
    driver.save_screenshot(str(ROOT / "docs/serve.png"))
    print(f"ok: first answer matches mgllava chat ({len(expected)} chars); {timings}; screenshot docs/serve.png")

    canvas = driver.find_element(By.ID, "canvas")
    w, h = canvas.size["width"], canvas.size["height"]
    ActionChains(driver).move_to_element_with_offset(canvas, -w // 4, -h // 4).click_and_hold() \
        .move_by_offset(w // 4, h // 4).move_by_offset(w // 8, h // 8).release().perform()
    drawn = driver.execute_script("return state.boxes")
    if len(drawn) != 1:
        raise CheckFailed(f"dragging on the canvas drew {drawn}, expected one box")
    follow_up = ask(driver, "And the colours?")
    if not follow_up.strip():
        raise CheckFailed("the follow-up's answer is empty")
    if len(driver.execute_script("return state.history")) != 4:
        raise CheckFailed("the conversation does not hold two questions and two answers")
    boxinfo = driver.find_element(By.ID, "boxinfo").text
    if boxinfo != "boxes: given (1)":
        raise CheckFailed(f"#boxinfo reads {boxinfo!r} after an answer with one drawn box {drawn}")
    print(f"ok: follow-up answered ({len(follow_up.strip())} chars) with box {drawn[0]}; {boxinfo}")

    driver.find_element(By.ID, "newchat").click()
    if driver.find_elements(By.CSS_SELECTOR, "#answer .msg"):
        raise CheckFailed("New chat left messages on the page")
    long_question = " ".join(["word"] * 3000)
    driver.execute_script("document.getElementById('prompt').value = arguments[0]", long_question)
    driver.find_element(By.ID, "send").click()
    message = wait(driver, "an error for a 3000-word question", lambda d: d.find_element(By.ID, "error").text)
    if "context" not in message.lower():
        raise CheckFailed(f"the error for a too-long question does not mention the context: {message!r}")
    if driver.find_element(By.ID, "prompt").get_attribute("value") != long_question:
        raise CheckFailed("the refused question was not put back in #prompt")
    print(f"ok: too-long question refused: {message}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mgllava", default=str(ROOT / ".build/debug/mgllava"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    for path in (args.mgllava, args.chromium, args.chromedriver):
        if not Path(path).exists():
            sys.exit(f"serve_browser_check: no {path} (swift build --product mgllava; apt-get install chromium-driver)")
    server = driver = None
    with tempfile.TemporaryFile("w+") as log:
        try:
            expected = expected_answer(args.mgllava)
            server, base = start_server(args.mgllava, log)
            print(f"server at {base}; expecting {expected!r}")
            driver = open_browser(args)
            check(driver, base, expected)
        except CheckFailed as error:
            log.seek(0)
            sys.exit(f"serve_browser_check: FAILED: {error}\n--- server log ---\n{log.read()[-4000:]}")
        finally:
            if driver:
                driver.quit()
            if server:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
    print("serve_browser_check: all checks passed")


if __name__ == "__main__":
    main()
