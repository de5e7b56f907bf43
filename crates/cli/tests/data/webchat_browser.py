"""Drives the web chat of `codeact serve --agent` in headless Chromium (Debian's, through
Playwright): a plot request shows the code, its output and the figure; an uploaded CSV is read
by the code, and a file it writes in a folder downloads; a reload still shows the conversation. Usage: webchat_browser.py BASE_URL CSV PNG
(the screenshot is written to PNG). Prints one line per check; exits non-zero on a failure."""

import sys

from playwright.sync_api import expect, sync_playwright

base, csv_path, screenshot = sys.argv[1], sys.argv[2], sys.argv[3]
PLOT = "Plot y=x^2 for x in 0..10 with matplotlib"

with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
    )
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    page.fill("#input", PLOT)
    page.keyboard.press("Enter")
    cell = page.locator("details.cell").first
    expect(cell.locator("pre").first).to_contain_text("plt.plot", timeout=60_000)
    expect(cell).to_contain_text("plotted 11 points", timeout=60_000)
    expect(cell.locator("img")).to_be_visible(timeout=60_000)
    expect(page.locator("#send")).to_be_visible(timeout=60_000)
    print("plot: code, output and figure shown")
    expect(page.locator(".msg.assistant .body strong")).to_contain_text("11 points")
    expect(page.locator(".msg.assistant math").first).to_be_attached()
    print("reply: Markdown and LaTeX rendered")

    page.set_input_files("#upload", csv_path)
    expect(page.locator("#files")).to_contain_text("data.csv", timeout=30_000)
    page.fill("#input", "Read data.csv")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.assistant").last).to_contain_text("total 6", timeout=60_000)
    expect(page.locator("#send")).to_be_visible(timeout=60_000)
    print("upload: the code read the CSV")
    link = page.locator('#files a[data-file="out/summary.txt"]')
    expect(link).to_be_visible(timeout=30_000)
    with page.expect_download() as download:
        link.click()
    with open(download.value.path()) as f:
        assert f.read() == "total 6\n", "the downloaded file differs"
    print("download: a file the code wrote in a folder is listed and downloads")
    page.screenshot(path=screenshot, full_page=False)

    page.reload()
    expect(page.locator(".msg.user").first).to_contain_text(PLOT, timeout=30_000)
    expect(page.locator("details.cell img").first).to_be_visible()
    expect(page.locator("#list li")).to_have_count(1)
    expect(page.locator("#list li").first).to_contain_text("Plot y=x^2")
    print("reload: the conversation is still there")

    page.set_viewport_size({"width": 390, "height": 800})
    expect(page.locator("#menu")).to_be_visible()
    print("phone width: the list folds behind the menu button")
    assert not errors, errors
    browser.close()
print("web chat: all checks passed")
